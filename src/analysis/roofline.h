#pragma once
// This machine's measured limits and what they imply for a model: the decode ceiling is read
// bandwidth / bytes read per token, the prefill ceiling is int8 throughput / operations per
// token.
#include <cstdint>
#include <string>

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

// Best of `passes` streaming reads of a buffer_mib buffer on every thread, in GB/s: with the
// defaults, measure_machine's read bandwidth alone (to pair with one benchmark repetition).
double measure_read_gb_s(ThreadPool& pool, int64_t buffer_mib = kReadBufferMib, int passes = kReadPasses);

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
