#pragma once
// Perplexity as llama.cpp's perplexity tool computes it: non-overlapping chunks of n_ctx tokens
// (the first token of each replaced by BOS when the vocabulary adds one), scoring the second half
// of each chunk. Optionally writes or compares against a KL-divergence base file in that tool's
// format, so either implementation can be checked against the other's logits.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kv/kv_store.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace ts {

struct PerplexityOptions {
  int64_t n_ctx = 512;
  int64_t max_chunks = -1;          // -1: all
  std::string kl_base_out;          // write a base file here
  std::string kl_base_in;           // compare against this base file (tokens come from it)
  KvType kv_type = KvType::kF16;
};

struct KlStats {
  int64_t count = 0;
  double mean = 0.0;
  double mean_err = 0.0;
  double median = 0.0, p90 = 0.0, p95 = 0.0, p99 = 0.0, max = 0.0, min = 0.0;
  double same_top = 0.0;          // share of positions whose most likely token agrees
  double base_ppl = 0.0;
};

struct PerplexityResult {
  double ppl = 0.0;
  double ppl_err = 0.0;
  int64_t n_chunks = 0;
  int64_t n_scored = 0;
  std::vector<double> chunk_ppl;  // running estimate after each chunk
  bool has_kl = false;
  KlStats kl;
};

// text is tokenized unless options.kl_base_in supplies the tokens. progress(chunk, running_ppl)
// is called after each chunk.
PerplexityResult compute_perplexity(Model& model, const Tokenizer& tokenizer, const std::string& text,
                                    const PerplexityOptions& options,
                                    const std::function<void(int64_t, double)>& progress);

}  // namespace ts
