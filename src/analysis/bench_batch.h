#pragma once
// Batched decoding through the serving engine (no HTTP): N sequences with P-token prompts each
// generate G tokens; reports the aggregate decode throughput once every prompt is in, as
// llama.cpp's batched-bench measures it, so the two can be compared one for one.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kv/kv_store.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace ts {

struct BatchBenchOptions {
  std::vector<int64_t> seqs = {1, 4, 8, 16};
  int64_t prompt = 128;
  int64_t gen = 64;
  int64_t max_batched_tokens = 512;
  int reps = 3;  // the median of reps runs is reported
  KvType kv_type = KvType::kF16;
};

struct BatchPoint {
  int64_t seqs = 0;
  double prefill_tok_s = 0;   // prompt tokens / time until every sequence has its first token
  double decode_tok_s = 0;    // tokens generated after that / the time they took (all sequences)
  double per_seq_tok_s = 0;   // decode_tok_s / seqs
  double total_s = 0;
  int64_t steps = 0;
};

std::vector<BatchPoint> run_batch_bench(Model& model, const Tokenizer& tokenizer, const BatchBenchOptions& options);
std::string batch_markdown(const std::vector<BatchPoint>& points, const std::string& model_name, int threads);
nlohmann::json batch_json(const std::vector<BatchPoint>& points);

}  // namespace ts
