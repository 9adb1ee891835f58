#include "engine/scheduler.h"

#include <algorithm>

#include "base/checked_math.h"
#include "base/error.h"

namespace ts {

Scheduler::Scheduler(const SchedulerConfig& config, BlockPool& pool) : config_(config), pool_(pool) {
  if (config.max_num_seqs <= 0) fail("scheduler: max sequences {} must be positive", config.max_num_seqs);
  if (config.max_batched_tokens <= 0) fail("scheduler: max batched tokens {} must be positive", config.max_batched_tokens);
  if (config.max_model_len <= 0) fail("scheduler: max model length {} must be positive", config.max_model_len);
}

int64_t Scheduler::blocks_for(int64_t n_tokens) const { return ceil_div(n_tokens, pool_.block_size()); }

void Scheduler::check_admission(int64_t num_tokens, int64_t max_new_tokens) const {
  if (num_tokens <= 0) throw RequestRejected("the prompt is empty");
  if (max_new_tokens <= 0) throw RequestRejected(fmt::format("max_tokens {} must be positive", max_new_tokens));
  if (num_tokens > config_.max_model_len || max_new_tokens > config_.max_model_len - num_tokens) {
    throw RequestRejected(fmt::format("the prompt ({} tokens) plus max_tokens ({}) exceeds the context length of {}",
                                      num_tokens, max_new_tokens, config_.max_model_len));
  }
  const int64_t need = blocks_for(num_tokens + max_new_tokens);
  if (need > pool_.num_blocks()) {
    throw RequestRejected(fmt::format("the request needs {} KV blocks of {} tokens but the whole pool has {}", need,
                                      pool_.block_size(), pool_.num_blocks()));
  }
}

void Scheduler::add(std::unique_ptr<Sequence> seq) {
  check_admission(seq->num_tokens(), seq->max_new_tokens);
  if (seqs_.count(seq->id) != 0) fail("scheduler: sequence id {} is already queued", seq->id);
  seq->num_prompt = seq->num_tokens();
  seq->state = SeqState::kWaiting;
  waiting_.push_back(seq.get());
  seqs_.emplace(seq->id, std::move(seq));
}

Sequence* Scheduler::find(int64_t id) const {
  const auto it = seqs_.find(id);
  return it == seqs_.end() ? nullptr : it->second.get();
}

std::unique_ptr<Sequence> Scheduler::finish(int64_t id) {
  const auto it = seqs_.find(id);
  if (it == seqs_.end()) return nullptr;
  std::unique_ptr<Sequence> s = std::move(it->second);
  seqs_.erase(it);
  release_blocks(*s);
  std::erase(running_, s.get());
  std::erase(waiting_, s.get());
  return s;
}

void Scheduler::release_blocks(Sequence& s) {
  // Last blocks first: they reach the free list's front sooner, so a shared prefix outlives its tail.
  for (auto b = s.blocks.rbegin(); b != s.blocks.rend(); ++b) pool_.release(*b);
  s.blocks.clear();
  s.hashes.clear();
  s.num_computed = 0;
}

void Scheduler::preempt(Sequence& s) {
  release_blocks(s);
  std::erase(running_, &s);
  s.state = SeqState::kWaiting;
  ++s.num_preemptions;
  ++num_preemptions_;
  waiting_.push_front(&s);
}

bool Scheduler::grow(Sequence& s, int64_t n_tokens) {
  const int64_t need = blocks_for(n_tokens) - static_cast<int64_t>(s.blocks.size());
  if (need <= 0) return true;
  if (!pool_.can_allocate(need)) return false;
  for (int64_t i = 0; i < need; ++i) s.blocks.push_back(pool_.allocate());
  return true;
}

void Scheduler::take_cached_prefix(Sequence& s) {
  // Whole blocks only, and never the last token: its logits are what the step must produce.
  const int64_t bs = pool_.block_size();
  const int64_t max_blocks = (s.num_tokens() - 1) / bs;
  uint64_t parent = 0;
  for (int64_t j = 0; j < max_blocks; ++j) {
    const int32_t* toks = s.tokens.data() + j * bs;
    const int32_t b = pool_.acquire_cached(parent, toks);
    if (b < 0) break;
    s.blocks.push_back(b);
    parent = BlockPool::chain_hash(parent, toks, bs);
    s.hashes.push_back(parent);
  }
  s.num_computed = static_cast<int64_t>(s.blocks.size()) * bs;
  s.num_cached_prompt = s.num_computed;
}

StepPlan Scheduler::schedule() {
  StepPlan plan;
  int64_t budget = config_.max_batched_tokens;
  // Running sequences first, oldest first: a decode token each, or the next chunk of a prompt.
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Sequence& s = *running_[i];
    const int64_t n = std::min(s.num_tokens() - s.num_computed, budget);
    bool fits = true;
    while (!grow(s, s.num_computed + n)) {
      Sequence& victim = *running_.back();
      preempt(victim);
      plan.preempted.push_back(victim.id);
      if (&victim == &s) {
        fits = false;
        break;
      }
    }
    if (!fits) break;
    plan.chunks.push_back({&s, s.num_computed, n, s.num_computed + n == s.num_tokens()});
    budget -= n;
    ++i;
  }
  // Then waiting prompts in arrival order, unless this step had to preempt (the pool is short).
  while (plan.preempted.empty() && !waiting_.empty() && budget > 0 &&
         static_cast<int64_t>(running_.size()) < config_.max_num_seqs) {
    Sequence& s = *waiting_.front();
    if (s.blocks.empty()) take_cached_prefix(s);
    const int64_t n = std::min(s.num_tokens() - s.num_computed, budget);
    if (!grow(s, s.num_computed + n)) {
      release_blocks(s);  // wait without holding anything
      break;
    }
    waiting_.pop_front();
    s.state = SeqState::kRunning;
    running_.push_back(&s);
    plan.chunks.push_back({&s, s.num_computed, n, s.num_computed + n == s.num_tokens()});
    budget -= n;
  }
  plan.num_tokens = config_.max_batched_tokens - budget;
  return plan;
}

void Scheduler::commit(const StepPlan& plan, std::span<const int32_t> sampled) {
  const int64_t bs = pool_.block_size();
  size_t next = 0;
  for (const ScheduledChunk& c : plan.chunks) {
    Sequence& s = *c.seq;
    s.num_computed = c.pos0 + c.n_tokens;
    // Blocks that just became full are offered to the prefix cache.
    while (static_cast<int64_t>(s.hashes.size() + 1) * bs <= s.num_computed) {
      const size_t j = s.hashes.size();
      const uint64_t parent = j == 0 ? 0 : s.hashes[j - 1];
      const int32_t* toks = s.tokens.data() + static_cast<int64_t>(j) * bs;
      pool_.cache_full(s.blocks[j], parent, toks);
      s.hashes.push_back(BlockPool::chain_hash(parent, toks, bs));
    }
    if (c.samples) {
      if (next >= sampled.size()) fail("scheduler: {} sampled tokens for a plan that samples more", sampled.size());
      s.tokens.push_back(sampled[next++]);
    }
  }
}

}  // namespace ts
