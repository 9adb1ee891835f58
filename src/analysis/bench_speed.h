#pragma once
// llama-bench-style throughput: prompt processing (pp: one forward over P tokens in a fresh
// context) and text generation (tg: N single-token forwards from a fresh context), each
// repeated and reported as mean and standard deviation of tokens per second.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kv/kv_store.h"
#include "model/model.h"

namespace ts {

// n token ids drawn uniformly from the vocabulary: speed does not depend on their values.
std::vector<int32_t> random_tokens(int64_t n, int64_t n_vocab, uint64_t seed);

struct SpeedOptions {
  int64_t prompt_tokens = 512;  // 0 skips the pp test
  int64_t gen_tokens = 128;     // 0 skips the tg test
  int repetitions = 5;
  uint64_t seed = 1;            // token ids are random: speed does not depend on their values
  KvType kv_type = KvType::kF16;
  // Called before every timed repetition with the test name ("pp512", "tg128"): lets the caller
  // measure this machine's limits right next to each repetition (shared machines drift).
  std::function<void(const std::string&)> before_rep;
  // Called after every timed repetition, likewise (a limit measured on both sides of a
  // repetition brackets it).
  std::function<void(const std::string&)> after_rep;
};

struct SpeedSample {
  std::string test;            // "pp512", "tg128"
  int64_t tokens = 0;
  std::vector<double> tok_s;   // one per repetition
  double mean() const;
  double stddev() const;       // sample standard deviation (0 for one repetition)
  double median() const;
};

// Runs the tests on model (whose max_batch must cover prompt_tokens); one untimed warm-up run
// of each test comes first, as llama-bench does.
std::vector<SpeedSample> bench_speed(Model& model, const SpeedOptions& options);

struct ModelSummary {
  std::string name;     // "llama 1.1B Q4_0"
  uint64_t bytes = 0;   // tensor data
  uint64_t params = 0;
};

std::string speed_markdown(const ModelSummary& model, const std::string& backend, int threads,
                           const std::vector<SpeedSample>& samples);

}  // namespace ts
