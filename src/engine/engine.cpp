#include "engine/engine.h"

#include <algorithm>

#include "base/error.h"
#include "base/perf.h"
#include "base/timer.h"

namespace ts {

int64_t kv_blocks_for_budget(const ModelConfig& c, int64_t block_size, int64_t budget_bytes, KvType type) {
  if (block_size <= 0) fail("KV block size {} must be positive", block_size);
  return budget_bytes / KvStore::bytes_per_block(c.n_layer, c.kv_dim(), block_size, type, c.head_dim);
}

namespace {
int64_t checked_blocks(const ModelConfig& c, const EngineConfig& config) {
  const int64_t n = kv_blocks_for_budget(c, config.block_size, config.kv_budget_bytes, config.kv_type);
  if (n < 1) {
    fail("KV budget of {} bytes is less than one block of {} tokens ({} bytes)", config.kv_budget_bytes, config.block_size,
         KvStore::bytes_per_block(c.n_layer, c.kv_dim(), config.block_size, config.kv_type, c.head_dim));
  }
  return n;
}
}  // namespace

Engine::Engine(Model& model, const Tokenizer& tokenizer, const EngineConfig& config)
    : model_(model),
      tokenizer_(tokenizer),
      config_(config),
      store_(model.config().n_layer, model.config().kv_dim(), config.block_size, checked_blocks(model.config(), config),
             config.kv_type, model.config().head_dim),
      pool_(store_.num_blocks(), config.block_size),
      scheduler_(config.scheduler, pool_) {
  const SchedulerConfig& s = config.scheduler;
  if (s.max_batched_tokens > model.max_batch()) {
    fail("max batched tokens {} exceeds the model's batch buffers ({})", s.max_batched_tokens, model.max_batch());
  }
  const auto n_seqs = static_cast<size_t>(s.max_num_seqs);
  chunks_.reserve(n_seqs);
  sampled_.reserve(n_seqs);
  logits_.assign(n_seqs * static_cast<size_t>(model.config().n_vocab), 0.0f);
  stats_.kv_blocks_total = pool_.num_blocks();
  stats_.kv_block_size = pool_.block_size();
  shared_ = stats_;
}

Engine::~Engine() { stop(); }

void Engine::start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { loop(); });
}

void Engine::stop() {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    stop_ = true;
  }
  inbox_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Engine::loop() {
  while (!stop_) {
    if (step()) continue;
    std::unique_lock<std::mutex> lock(inbox_mutex_);
    inbox_cv_.wait(lock, [&] { return stop_ || !inbox_.empty() || !aborts_.empty(); });
  }
}

int64_t Engine::submit(RequestOptions request, UpdateFn on_update) {
  try {
    request.sampling.validate();
  } catch (const Error& e) {
    throw RequestRejected(e.what());
  }
  for (const auto& s : request.stop) {
    if (s.empty()) throw RequestRejected("stop strings must not be empty");
  }
  for (int32_t id : request.prompt) {
    if (id < 0 || id >= model_.config().n_vocab) {
      throw RequestRejected(fmt::format("prompt token id {} is outside the vocabulary of {}", id, model_.config().n_vocab));
    }
  }
  scheduler_.check_admission(static_cast<int64_t>(request.prompt.size()), request.max_tokens);
  int64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    id = next_id_++;
    inbox_.push_back({id, std::move(request), std::move(on_update), now_ms()});
  }
  inbox_cv_.notify_all();
  return id;
}

void Engine::abort(int64_t id) {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    aborts_.push_back(id);
  }
  inbox_cv_.notify_all();
}

void Engine::drain_inbox() {
  std::vector<Pending> added;
  std::vector<int64_t> aborted;
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    added.swap(inbox_);
    aborted.swap(aborts_);
  }
  for (Pending& p : added) {
    auto seq = std::make_unique<Sequence>();
    seq->id = p.id;
    seq->tokens = p.options.prompt;
    seq->max_new_tokens = p.options.max_tokens;
    Active a;
    a.on_update = std::move(p.on_update);
    a.sampler = std::make_unique<Sampler>(p.options.sampling, model_.config().n_vocab);
    a.text = std::make_unique<StopTextStream>(tokenizer_, p.options.stop);
    a.t_submit = p.t_submit;
    stats_.prompt_tokens += static_cast<int64_t>(p.options.prompt.size());
    a.options = std::move(p.options);
    scheduler_.add(std::move(seq));  // admissible: submit checked the same fixed limits
    active_.emplace(p.id, std::move(a));
  }
  for (int64_t id : aborted) {
    if (active_.count(id) != 0) finish(id, "abort", {});
  }
}

void Engine::finish(int64_t id, const std::string& reason, std::string text) {
  const auto it = active_.find(id);
  Active& a = it->second;
  std::unique_ptr<Sequence> seq = scheduler_.finish(id);
  RequestUpdate u;
  u.text = std::move(text);
  u.finished = true;
  u.finish_reason = reason;
  u.prompt_tokens = static_cast<int64_t>(a.options.prompt.size());
  u.completion_tokens = seq ? seq->num_generated() : 0;
  if (reason == "stop" && seq && !a.options.ignore_eos && u.completion_tokens > 0 &&
      tokenizer_.is_end_of_generation(seq->tokens.back())) {
    --u.completion_tokens;  // the end-of-generation token is not part of the reply
  }
  u.cached_tokens = seq ? seq->num_cached_prompt : 0;
  const double t_end = now_ms();
  if (reason == "abort") {
    ++stats_.finished_abort;
  } else {
    ++(reason == "stop" ? stats_.finished_stop : stats_.finished_length);
    stats_.e2e.observe((t_end - a.t_submit) / 1e3);
    if (u.completion_tokens > 1 && a.t_first > 0.0) {
      stats_.tpot.observe((t_end - a.t_first) / 1e3 / static_cast<double>(u.completion_tokens - 1));
    }
  }
  if (a.on_update) a.on_update(u);
  active_.erase(it);
}

bool Engine::step() {
  drain_inbox();
  if (!scheduler_.has_work()) {
    publish_stats();
    return false;
  }
  perf::Zone zone("engine_step");
  const StepPlan plan = scheduler_.schedule();
  chunks_.clear();
  for (const ScheduledChunk& c : plan.chunks) {
    const Sequence& s = *c.seq;
    // A one-token prompt runs like a decoded token, as it does in single-sequence generation.
    chunks_.push_back({s.tokens.data() + c.pos0, c.n_tokens, c.pos0, s.blocks.data(), static_cast<int64_t>(s.blocks.size()),
                       c.samples ? LogitRows::kLast : LogitRows::kNone, s.num_prompt > 1 ? s.num_prompt : 0});
  }
  model_.forward_batch(chunks_, store_, logits_.data());
  stats_.computed_tokens += plan.num_tokens;
  sampled_.clear();
  const int64_t n_vocab = model_.config().n_vocab;
  {
    perf::Zone sampling_zone("sampling");
    for (const ScheduledChunk& c : plan.chunks) {
      if (!c.samples) continue;
      Active& a = active_.at(c.seq->id);
      const float* row = logits_.data() + static_cast<int64_t>(sampled_.size()) * n_vocab;
      sampled_.push_back(a.sampler->sample(row, c.seq->tokens));
    }
  }
  scheduler_.commit(plan, sampled_);

  const double t = now_ms();
  perf::Zone text_zone("detokenize");  // token -> text, stop strings, callbacks
  for (const ScheduledChunk& c : plan.chunks) {
    if (!c.samples) continue;
    const int64_t id = c.seq->id;
    Active& a = active_.at(id);
    const Sequence& s = *c.seq;
    const int32_t token = s.tokens.back();
    ++stats_.generation_tokens;
    if (a.t_first == 0.0) {
      a.t_first = t;
      stats_.ttft.observe((t - a.t_submit) / 1e3);
    }
    if (!a.options.ignore_eos && tokenizer_.is_end_of_generation(token)) {
      finish(id, "stop", a.text->flush());
      continue;
    }
    std::string text = a.text->push(token);
    if (a.text->stopped()) {
      finish(id, "stop", std::move(text));
    } else if (s.num_generated() >= a.options.max_tokens) {
      text += a.text->flush();
      finish(id, "length", std::move(text));
    } else if (!text.empty() && a.on_update) {
      RequestUpdate u;
      u.text = std::move(text);
      u.completion_tokens = s.num_generated();
      a.on_update(u);
    }
  }
  ++stats_.steps;
  publish_stats();
  return true;
}

void Engine::publish_stats() {
  stats_.running = scheduler_.num_running();
  stats_.waiting = scheduler_.num_waiting();
  stats_.kv_blocks_used = pool_.num_used();
  stats_.preemptions = scheduler_.num_preemptions();
  stats_.prefix_queries = pool_.prefix_queries();
  stats_.prefix_hits = pool_.prefix_hits();
  std::lock_guard<std::mutex> lock(stats_mutex_);
  shared_ = stats_;
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return shared_;
}

}  // namespace ts
