// The scheduler as pure logic, driven by a fake model runner that "computes" tokens by checking
// the plan against what it has seen: every position is computed exactly once per residency, in
// order, into blocks the sequence holds; every request finishes; the pool ends fully free.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <set>

#include "engine/scheduler.h"

namespace ts {
namespace {

std::unique_ptr<Sequence> make_seq(int64_t id, std::vector<int32_t> prompt, int64_t max_new) {
  auto s = std::make_unique<Sequence>();
  s->id = id;
  s->tokens = std::move(prompt);
  s->max_new_tokens = max_new;
  return s;
}

std::vector<int32_t> prompt_of(int64_t len, int32_t first) {
  std::vector<int32_t> p(static_cast<size_t>(len));
  for (int64_t i = 0; i < len; ++i) p[static_cast<size_t>(i)] = first + static_cast<int32_t>(i);
  return p;
}

int32_t next_token(int32_t last, int64_t length) { return static_cast<int32_t>((last * 31 + length * 7 + 7) % 1000); }

// The fake runner: the next token is a function of the sequence's previous token and length, so a
// recomputed sequence continues exactly as it would have. It checks every plan it is given.
struct FakeRunner {
  const BlockPool& pool;
  const SchedulerConfig& cfg;
  std::map<int64_t, std::vector<int32_t>> finished;  // id -> generated tokens

  std::vector<int32_t> run(const StepPlan& plan) {
    int64_t tokens = 0;
    std::set<int64_t> ids;
    std::vector<int32_t> sampled;
    for (const ScheduledChunk& c : plan.chunks) {
      const Sequence& s = *c.seq;
      EXPECT_TRUE(ids.insert(s.id).second) << "sequence " << s.id << " twice in one step";
      EXPECT_EQ(c.pos0, s.num_computed) << "positions must continue where the cache ends";
      EXPECT_GT(c.n_tokens, 0);
      EXPECT_LE(c.pos0 + c.n_tokens, s.num_tokens());
      EXPECT_GE(static_cast<int64_t>(s.blocks.size()) * pool.block_size(), c.pos0 + c.n_tokens) << "blocks cover the chunk";
      for (int32_t b : s.blocks) EXPECT_GT(pool.ref_count(b), 0);
      tokens += c.n_tokens;
      EXPECT_EQ(c.samples, c.pos0 + c.n_tokens == s.num_tokens()) << "sample exactly at the end of the known tokens";
      if (c.samples) sampled.push_back(next_token(s.tokens.back(), s.num_tokens()));
    }
    EXPECT_LE(tokens, cfg.max_batched_tokens);
    EXPECT_EQ(tokens, plan.num_tokens);
    EXPECT_LE(static_cast<int64_t>(ids.size()), cfg.max_num_seqs);
    return sampled;
  }
};

// Steps until nothing is left; the watchdog fails the test if a step with pending work makes no
// progress (no token computed and nothing finished) or if it takes absurdly many steps.
void drive(Scheduler& sched, FakeRunner& runner, int64_t max_steps, const std::function<void(int64_t)>& on_step = {}) {
  int64_t step = 0;
  while (sched.has_work()) {
    ASSERT_LT(step, max_steps) << "watchdog: work pending after " << max_steps << " steps";
    if (on_step) on_step(step);
    if (!sched.has_work()) break;
    const StepPlan plan = sched.schedule();
    ASSERT_GT(plan.num_tokens, 0) << "watchdog: step " << step << " made no progress with work pending";
    const auto sampled = runner.run(plan);
    sched.commit(plan, sampled);
    for (const ScheduledChunk& c : plan.chunks) {
      Sequence* s = sched.find(c.seq->id);
      if (s != nullptr && c.samples && s->num_generated() >= s->max_new_tokens) {
        runner.finished[s->id] = std::vector<int32_t>(s->tokens.begin() + s->num_prompt, s->tokens.end());
        sched.finish(s->id);
      }
    }
    sched.pool().check_invariants();
    ++step;
  }
}

std::vector<int32_t> expected_output(const std::vector<int32_t>& prompt, int64_t n) {
  std::vector<int32_t> out;
  int32_t last = prompt.back();
  for (int64_t i = 0; i < n; ++i) out.push_back(last = next_token(last, static_cast<int64_t>(prompt.size()) + i));
  return out;
}

TEST(Scheduler, ManyRequestsAllFinishWithTheirOwnTokens) {
  BlockPool pool(64, 16);
  SchedulerConfig cfg{8, 64, 512};
  Scheduler sched(cfg, pool);
  FakeRunner runner{pool, cfg, {}};
  std::map<int64_t, std::vector<int32_t>> prompts;
  for (int64_t id = 0; id < 20; ++id) {
    prompts[id] = prompt_of(10 + 13 * id % 90, static_cast<int32_t>(id * 100));
    sched.add(make_seq(id, prompts[id], 5 + id % 7));
  }
  drive(sched, runner, 2000);
  ASSERT_EQ(runner.finished.size(), 20u);
  for (const auto& [id, out] : runner.finished) EXPECT_EQ(out, expected_output(prompts[id], 5 + id % 7)) << id;
  EXPECT_EQ(pool.num_free(), pool.num_blocks());
}

TEST(Scheduler, BudgetSplitsLongPromptsIntoChunks) {
  BlockPool pool(64, 16);
  SchedulerConfig cfg{4, 32, 512};
  Scheduler sched(cfg, pool);
  sched.add(make_seq(1, prompt_of(100, 1), 3));
  for (int i = 0; i < 3; ++i) {
    const StepPlan p = sched.schedule();
    ASSERT_EQ(p.chunks.size(), 1u);
    EXPECT_EQ(p.chunks[0].pos0, 32 * i);
    EXPECT_EQ(p.chunks[0].n_tokens, 32);
    EXPECT_FALSE(p.chunks[0].samples);
    sched.commit(p, {});
    if (i == 1) sched.add(make_seq(2, prompt_of(10, 500), 3));  // waits: the budget is used up
  }
  // The rest of the long prompt (4 tokens) and the whole short one share the next step.
  StepPlan p = sched.schedule();
  ASSERT_EQ(p.chunks.size(), 2u);
  EXPECT_EQ(p.chunks[0].n_tokens, 4);
  EXPECT_TRUE(p.chunks[0].samples);
  EXPECT_EQ(p.chunks[1].n_tokens, 10);
  EXPECT_TRUE(p.chunks[1].samples);
  const int32_t sampled[2] = {7, 8};
  sched.commit(p, sampled);
  // Then one decode token each.
  p = sched.schedule();
  ASSERT_EQ(p.chunks.size(), 2u);
  EXPECT_EQ(p.chunks[0].pos0, 100);
  EXPECT_EQ(p.chunks[0].n_tokens, 1);
  EXPECT_EQ(p.chunks[1].pos0, 10);
}

TEST(Scheduler, RejectsWhatCanNeverFit) {
  BlockPool pool(4, 16);  // 64 tokens of KV in all
  SchedulerConfig cfg{4, 32, 100};
  Scheduler sched(cfg, pool);
  EXPECT_THROW(sched.add(make_seq(1, {}, 3)), RequestRejected);
  EXPECT_THROW(sched.add(make_seq(2, prompt_of(10, 0), 0)), RequestRejected);
  EXPECT_THROW(sched.add(make_seq(3, prompt_of(90, 0), 20)), RequestRejected);  // context
  EXPECT_THROW(sched.add(make_seq(4, prompt_of(60, 0), 10)), RequestRejected);  // pool
  EXPECT_FALSE(sched.has_work());
  sched.add(make_seq(5, prompt_of(60, 0), 4));  // exactly the pool
  EXPECT_EQ(sched.num_waiting(), 1);
}

TEST(Scheduler, PreemptsWhenBlocksRunOutAndRecomputes) {
  // 8 blocks of 4 tokens: three sequences of 8-token prompts growing to 20 tokens cannot all stay.
  BlockPool pool(8, 4);
  SchedulerConfig cfg{8, 64, 64};
  Scheduler sched(cfg, pool);
  FakeRunner runner{pool, cfg, {}};
  std::map<int64_t, std::vector<int32_t>> prompts;
  for (int64_t id = 0; id < 3; ++id) {
    prompts[id] = prompt_of(8, static_cast<int32_t>(10 * id + 1));
    sched.add(make_seq(id, prompts[id], 12));
  }
  drive(sched, runner, 500);
  EXPECT_GT(sched.num_preemptions(), 0);
  ASSERT_EQ(runner.finished.size(), 3u);
  for (const auto& [id, out] : runner.finished) EXPECT_EQ(out, expected_output(prompts[id], 12)) << id;
  EXPECT_EQ(pool.num_free(), pool.num_blocks());
}

TEST(Scheduler, SharedPromptPrefixIsComputedOnce) {
  BlockPool pool(32, 4);
  SchedulerConfig cfg{8, 256, 256};
  Scheduler sched(cfg, pool);
  FakeRunner runner{pool, cfg, {}};
  std::vector<int32_t> system = prompt_of(20, 1);  // 5 full blocks
  auto with_suffix = [&](int32_t x) {
    auto p = system;
    p.push_back(x);
    p.push_back(x + 1);
    return p;
  };
  sched.add(make_seq(1, with_suffix(100), 2));
  drive(sched, runner, 100);
  sched.add(make_seq(2, with_suffix(200), 2));
  const StepPlan p = sched.schedule();
  ASSERT_EQ(p.chunks.size(), 1u);
  EXPECT_EQ(p.chunks[0].pos0, 20);  // the 5 blocks of the shared prefix came from the cache
  EXPECT_EQ(p.chunks[0].n_tokens, 2);
  EXPECT_EQ(sched.find(2)->num_cached_prompt, 20);
  EXPECT_EQ(pool.prefix_hits(), 5);
  // A prompt made only of cached blocks still computes its last block (its logits are needed).
  sched.commit(p, std::vector<int32_t>{5});
  sched.finish(2);
  sched.add(make_seq(3, system, 2));
  const StepPlan q = sched.schedule();
  ASSERT_EQ(q.chunks.size(), 1u);
  EXPECT_EQ(q.chunks[0].pos0, 16);
  EXPECT_EQ(q.chunks[0].n_tokens, 4);
  sched.commit(q, std::vector<int32_t>{5});
  sched.finish(3);
  pool.check_invariants();
  EXPECT_EQ(pool.num_free(), pool.num_blocks());
}

TEST(Scheduler, AbortFreesBlocksAtOnceAndOthersContinue) {
  BlockPool pool(64, 16);
  SchedulerConfig cfg{16, 128, 512};
  Scheduler sched(cfg, pool);
  FakeRunner runner{pool, cfg, {}};
  std::map<int64_t, std::vector<int32_t>> prompts;
  for (int64_t id = 0; id < 12; ++id) {
    prompts[id] = prompt_of(30, static_cast<int32_t>(id * 50));
    sched.add(make_seq(id, prompts[id], 20));
  }
  std::set<int64_t> aborted;
  drive(sched, runner, 1000, [&](int64_t step) {
    if (step == 5) {
      for (int64_t id = 0; id < 12; id += 3) {
        const int64_t before = pool.num_used();
        const bool held = sched.find(id) != nullptr && !sched.find(id)->blocks.empty();
        sched.finish(id);
        aborted.insert(id);
        if (held) {
          EXPECT_LT(pool.num_used(), before) << "abort of " << id << " must free its blocks now";
        }
      }
    }
  });
  EXPECT_EQ(runner.finished.size(), 12 - aborted.size());
  for (const auto& [id, out] : runner.finished) {
    EXPECT_EQ(aborted.count(id), 0u);
    EXPECT_EQ(out, expected_output(prompts[id], 20)) << id;
  }
  EXPECT_EQ(pool.num_free(), pool.num_blocks());
}

TEST(Scheduler, RandomWorkloadsNeverStall) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t block = 1 + rng() % 8;
    BlockPool pool(static_cast<int64_t>(4 + rng() % 40), block);
    SchedulerConfig cfg{static_cast<int64_t>(1 + rng() % 8), static_cast<int64_t>(1 + rng() % 64), 200};
    Scheduler sched(cfg, pool);
    FakeRunner runner{pool, cfg, {}};
    std::map<int64_t, std::pair<std::vector<int32_t>, int64_t>> accepted;
    for (int64_t id = 0; id < 15; ++id) {
      auto prompt = prompt_of(static_cast<int64_t>(1 + rng() % 60), static_cast<int32_t>(rng() % 500));
      const int64_t max_new = static_cast<int64_t>(1 + rng() % 30);
      try {
        sched.add(make_seq(id, prompt, max_new));
        accepted[id] = {prompt, max_new};
      } catch (const RequestRejected&) {
        EXPECT_GT((static_cast<int64_t>(prompt.size()) + max_new + block - 1) / block, pool.num_blocks());
      }
    }
    drive(sched, runner, 20000);
    EXPECT_EQ(runner.finished.size(), accepted.size()) << "trial " << trial;
    for (const auto& [id, req] : accepted) EXPECT_EQ(runner.finished[id], expected_output(req.first, req.second));
    EXPECT_EQ(pool.num_free(), pool.num_blocks());
  }
}

}  // namespace
}  // namespace ts
