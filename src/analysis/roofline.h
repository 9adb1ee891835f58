#pragma once
// This machine's measured limits and what they imply for a model: the decode ceiling is read
// bandwidth / bytes read per token, the prefill ceiling is int8 throughput / operations per
// token.
#include <cstdint>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "formats/gguf/gguf_reader.h"

namespace ts {

struct MachineLimits {
  int threads = 0;
  double read_gb_s = 0.0;        // best of several full passes over a buffer far larger than the caches
  double read_gb_s_median = 0.0;
  double int8_gop_s = 0.0;       // 2 operations per int8 multiply-add
  double f32_gflop_s = 0.0;      // 2 operations per FMA
  std::string isa;
};

// The read bandwidth test: best of kReadPasses streaming reads of a kReadBufferMib buffer split
// over the threads (larger than the caches and than the weights of the models decode is held to).
constexpr int64_t kReadBufferMib = 1024;
constexpr int kReadPasses = 7;

// Measures with every thread of pool (about a second in all); buffer_mib sizes the read test.
MachineLimits measure_machine(ThreadPool& pool, int64_t buffer_mib = kReadBufferMib);

// The read bandwidth test on a buffer_mib buffer split over pool's threads, allocated and first
// touched once, so that it can be repeated cheaply (around each benchmark repetition).
class ReadProbe {
 public:
  explicit ReadProbe(ThreadPool& pool, int64_t buffer_mib = kReadBufferMib);
  ~ReadProbe();
  ReadProbe(const ReadProbe&) = delete;
  ReadProbe& operator=(const ReadProbe&) = delete;
  // GB/s of each of `passes` full reads, every thread reading its own slice at once.
  std::vector<double> passes_gb_s(int passes);
  // The best of them: with the defaults, measure_machine's read bandwidth alone.
  double best_gb_s(int passes = kReadPasses);

 private:
  ThreadPool& pool_;
  size_t slice_ = 0;        // bytes per thread
  uint8_t* buf_ = nullptr;  // [threads, slice_]
};

struct ModelCost {
  std::string name;
  uint64_t weight_bytes_per_token = 0;  // matrices a decode step reads (embedding: one row)
  double matmul_flop_per_token = 0.0;   // 2 x multiply-adds of the matrices
  double attn_flop_per_token = 0.0;     // QK and PV at the given context
  int64_t context = 0;
};

// Costs of one token of the model in file at `context` tokens of attention.
ModelCost model_cost(const gguf::GgufFile& file, int64_t context);

struct Ceilings {
  double decode_tok_s = 0.0;   // read_gb_s / bytes per token
  double prefill_tok_s = 0.0;  // int8_gop_s / flop per token
};

Ceilings ceilings(const MachineLimits& m, const ModelCost& c);

std::string roofline_markdown(const MachineLimits& m, const ModelCost* cost);

}  // namespace ts
