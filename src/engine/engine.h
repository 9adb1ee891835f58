#pragma once
// The serving engine: requests from any thread, one loop thread that repeats
// step() = schedule -> batched forward -> sample -> stream text, over a paged KV store.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/sampler.h"
#include "engine/scheduler.h"
#include "engine/serving_stats.h"
#include "engine/text_stream.h"
#include "kv/block_pool.h"
#include "kv/kv_store.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace ts {

struct EngineConfig {
  SchedulerConfig scheduler;
  int64_t block_size = 16;         // tokens per KV block
  int64_t kv_budget_bytes = 1ll << 30;
  KvType kv_type = KvType::kF16;
};

struct RequestOptions {
  std::vector<int32_t> prompt;
  int32_t max_tokens = 16;
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool ignore_eos = false;
};

// What a request's callback receives, on the engine thread (keep the callback short).
struct RequestUpdate {
  std::string text;             // new text since the previous update (may be empty)
  bool finished = false;
  std::string finish_reason;    // "stop", "length" or "abort" once finished
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;    // prompt tokens served from the prefix cache
};
using UpdateFn = std::function<void(const RequestUpdate&)>;

class Engine {
 public:
  Engine(Model& model, const Tokenizer& tokenizer, const EngineConfig& config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs step() on a thread of its own until stop() (or destruction).
  void start();
  void stop();

  // Thread-safe. Checks that the request can ever run (throws RequestRejected naming why) and
  // queues it; returns its id. on_update is called for every new piece of text and once finished.
  int64_t submit(RequestOptions request, UpdateFn on_update);
  // Thread-safe. The request ends ("abort") and its blocks are freed at the next step.
  void abort(int64_t id);

  // One schedule -> run -> sample -> stream round; false if there was nothing to do.
  bool step();
  EngineStats stats() const;
  const EngineConfig& config() const { return config_; }
  int64_t num_kv_blocks() const { return pool_.num_blocks(); }

 private:
  struct Active {
    UpdateFn on_update;
    std::unique_ptr<Sampler> sampler;
    std::unique_ptr<StopTextStream> text;
    RequestOptions options;
    double t_submit = 0.0, t_first = 0.0;
  };
  struct Pending {
    int64_t id;
    RequestOptions options;
    UpdateFn on_update;
    double t_submit;
  };
  void drain_inbox();
  void finish(int64_t id, const std::string& reason, std::string text);
  void publish_stats();
  void loop();

  Model& model_;
  const Tokenizer& tokenizer_;
  EngineConfig config_;
  KvStore store_;
  BlockPool pool_;
  Scheduler scheduler_;
  std::unordered_map<int64_t, Active> active_;

  // Per-step buffers, sized once.
  std::vector<SeqChunk> chunks_;    // [max_num_seqs]
  std::vector<int32_t> sampled_;    // [max_num_seqs]
  std::vector<float> logits_;       // [max_num_seqs, n_vocab]

  mutable std::mutex inbox_mutex_;
  std::condition_variable inbox_cv_;
  std::vector<Pending> inbox_;
  std::vector<int64_t> aborts_;
  int64_t next_id_ = 1;

  mutable std::mutex stats_mutex_;
  EngineStats stats_;   // the engine thread's running totals
  EngineStats shared_;  // copy published after each step

  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// KV blocks a byte budget buys for this model.
int64_t kv_blocks_for_budget(const ModelConfig& c, int64_t block_size, int64_t budget_bytes, KvType type = KvType::kF16);

}  // namespace ts
