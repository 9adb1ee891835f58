#pragma once
// Token sampling: penalties -> top-k -> top-p -> min-p -> temperature -> draw (or argmax when
// temperature <= 0). All buffers are sized once, so sampling does not allocate per token, and
// no step sorts more of the vocabulary than it keeps (see sampler.cpp).
#include <cstdint>
#include <random>
#include <vector>

namespace ts {

struct SamplingParams {
  float temperature = 0.8f;   // <= 0: greedy
  int32_t top_k = 40;         // <= 0: off
  float top_p = 0.95f;        // >= 1: off
  float min_p = 0.05f;        // <= 0: off
  float repeat_penalty = 1.0f;     // 1: off; divides positive logits, multiplies negative ones
  float presence_penalty = 0.0f;   // subtracted once from every token seen
  float frequency_penalty = 0.0f;  // subtracted per occurrence
  int32_t penalty_last_n = 64;     // how much history the penalties look at
  uint64_t seed = 0;

  // Throws naming the first parameter outside its valid range.
  void validate() const;
};

class Sampler {
 public:
  Sampler(const SamplingParams& params, int64_t n_vocab);

  // history: tokens so far (prompt and generated); logits: [n_vocab], left unchanged.
  int32_t sample(const float* logits, const std::vector<int32_t>& history);

 private:
  struct Candidate {
    int32_t id;
    float logit;
    float p;  // probability under the last set_probs
  };
  // candidates_[i].p = softmax(logit / temperature) over the first n candidates, which hold
  // the largest logit, max_logit.
  void set_probs(size_t n, float max_logit, float temperature);
  // Puts the candidates of [0, n) that top_p keeps first, in logit order; returns their count.
  size_t nucleus(size_t n, float max_logit);

  SamplingParams params_;
  int64_t n_vocab_;
  std::mt19937_64 rng_;
  std::vector<Candidate> candidates_;  // [n_vocab]
  std::vector<float> adjusted_;        // [n_vocab] logits after penalties
  std::vector<int32_t> counts_;        // [n_vocab] occurrences in the penalty window
  std::vector<float> probs_;           // [n_vocab] scratch of set_probs
};

}  // namespace ts
