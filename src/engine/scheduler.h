#pragma once
// Continuous batching as pure logic over counters: each step takes the next token of every
// running sequence plus chunks of waiting prompts, within a token budget and a cap on running
// sequences; KV blocks come from the block pool (sharing cached prompt prefixes), and when they
// run out the most recently admitted sequence is preempted and later recomputed. No model here:
// the engine runs the plan and reports the sampled tokens back (tests use a fake runner).
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "kv/block_pool.h"

namespace ts {

struct SchedulerConfig {
  int64_t max_num_seqs = 32;           // sequences running at once
  int64_t max_batched_tokens = 512;    // tokens per step (decode tokens plus prompt chunks)
  int64_t max_model_len = 2048;        // prompt + new tokens of one sequence
};

enum class SeqState { kWaiting, kRunning };

struct Sequence {
  int64_t id = 0;
  std::vector<int32_t> tokens;   // prompt, then generated tokens
  int64_t num_prompt = 0;
  int64_t max_new_tokens = 0;
  int64_t num_computed = 0;      // leading tokens whose K and V are stored
  std::vector<int32_t> blocks;   // block table: blocks[i] holds positions [i, i + 1) x block_size
  std::vector<uint64_t> hashes;  // chain hashes of the leading full blocks (prefix cache keys)
  SeqState state = SeqState::kWaiting;
  int64_t num_cached_prompt = 0; // tokens found in the prefix cache at the last admission
  int64_t num_preemptions = 0;

  int64_t num_tokens() const { return static_cast<int64_t>(tokens.size()); }
  int64_t num_generated() const { return num_tokens() - num_prompt; }
};

// A request that can never run (too long for the context or for the whole KV pool).
class RequestRejected : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ScheduledChunk {
  Sequence* seq = nullptr;
  int64_t pos0 = 0;      // first position computed this step
  int64_t n_tokens = 0;
  bool samples = false;  // reaches the sequence's last token: its logits give the next token
};

struct StepPlan {
  std::vector<ScheduledChunk> chunks;
  int64_t num_tokens = 0;
  std::vector<int64_t> preempted;  // ids moved back to waiting this step
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, BlockPool& pool);

  const SchedulerConfig& config() const { return config_; }
  // Throws RequestRejected naming the limit a request of this size can never fit. Reads only
  // fixed sizes, so any thread may ask.
  void check_admission(int64_t num_tokens, int64_t max_new_tokens) const;
  // Queues a sequence (FCFS) after check_admission.
  void add(std::unique_ptr<Sequence> seq);
  // Drops a sequence (finished or aborted), releasing its blocks now. Unknown ids are ignored.
  std::unique_ptr<Sequence> finish(int64_t id);
  Sequence* find(int64_t id) const;

  StepPlan schedule();
  // The plan has run: its tokens are computed, newly full blocks join the prefix cache, and
  // sampled (one token per chunk that samples, in plan order) is appended.
  void commit(const StepPlan& plan, std::span<const int32_t> sampled);

  bool has_work() const { return !running_.empty() || !waiting_.empty(); }
  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  int64_t num_preemptions() const { return num_preemptions_; }
  const BlockPool& pool() const { return pool_; }

 private:
  int64_t blocks_for(int64_t n_tokens) const;
  bool grow(Sequence& s, int64_t n_tokens);  // blocks for n_tokens stored; false if the pool is short
  void take_cached_prefix(Sequence& s);
  void release_blocks(Sequence& s);
  void preempt(Sequence& s);

  SchedulerConfig config_;
  BlockPool& pool_;
  std::unordered_map<int64_t, std::unique_ptr<Sequence>> seqs_;
  std::vector<Sequence*> running_;  // admission order (the back is preempted first)
  std::deque<Sequence*> waiting_;   // FCFS; preempted sequences go back to the front
  int64_t num_preemptions_ = 0;
};

}  // namespace ts
