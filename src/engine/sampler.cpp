#include "engine/sampler.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace ts {

void SamplingParams::validate() const {
  if (!std::isfinite(temperature) || temperature < 0.0f) fail("temperature {} must be >= 0", temperature);
  if (!(top_p > 0.0f && top_p <= 1.0f)) fail("top_p {} must be in (0, 1]", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) fail("min_p {} must be in [0, 1]", min_p);
  if (top_k < 0) fail("top_k {} must be >= 0", top_k);
  if (!(repeat_penalty > 0.0f) || !std::isfinite(repeat_penalty)) fail("repeat_penalty {} must be > 0", repeat_penalty);
  if (!std::isfinite(presence_penalty) || presence_penalty < -2.0f || presence_penalty > 2.0f) {
    fail("presence_penalty {} must be in [-2, 2]", presence_penalty);
  }
  if (!std::isfinite(frequency_penalty) || frequency_penalty < -2.0f || frequency_penalty > 2.0f) {
    fail("frequency_penalty {} must be in [-2, 2]", frequency_penalty);
  }
  if (penalty_last_n < 0) fail("penalty_last_n {} must be >= 0", penalty_last_n);
}

Sampler::Sampler(const SamplingParams& params, int64_t n_vocab)
    : params_(params), n_vocab_(n_vocab), rng_(params.seed),
      candidates_(static_cast<size_t>(n_vocab)), adjusted_(static_cast<size_t>(n_vocab)),
      counts_(static_cast<size_t>(n_vocab), 0), probs_(static_cast<size_t>(n_vocab)) {
  params_.validate();
}

int32_t Sampler::sample(const float* logits, const std::vector<int32_t>& history) {
  std::copy_n(logits, n_vocab_, adjusted_.begin());

  const bool penalize = params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                        params_.frequency_penalty != 0.0f;
  if (penalize && params_.penalty_last_n > 0) {
    const size_t n_hist = std::min(history.size(), static_cast<size_t>(params_.penalty_last_n));
    const auto window = history.end() - static_cast<std::ptrdiff_t>(n_hist);
    for (auto it = window; it != history.end(); ++it) {
      if (*it >= 0 && *it < n_vocab_) ++counts_[static_cast<size_t>(*it)];
    }
    for (auto it = window; it != history.end(); ++it) {
      if (*it < 0 || *it >= n_vocab_) continue;
      int32_t& count = counts_[static_cast<size_t>(*it)];
      if (count == 0) continue;  // already applied for this token
      float& l = adjusted_[static_cast<size_t>(*it)];
      l = l > 0.0f ? l / params_.repeat_penalty : l * params_.repeat_penalty;
      l -= static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty;
      count = 0;
    }
  }

  if (params_.temperature <= 0.0f) {
    return static_cast<int32_t>(std::max_element(adjusted_.begin(), adjusted_.end()) - adjusted_.begin());
  }

  for (int64_t i = 0; i < n_vocab_; ++i) candidates_[static_cast<size_t>(i)] = {static_cast<int32_t>(i), adjusted_[static_cast<size_t>(i)]};
  auto by_logit = [](const Candidate& a, const Candidate& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };
  size_t n = static_cast<size_t>(n_vocab_);
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
    n = static_cast<size_t>(params_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(n), candidates_.end(), by_logit);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }

  auto softmax = [&](size_t count, float temperature) {
    const double max = static_cast<double>(candidates_[0].logit);
    double sum = 0.0;
    for (size_t i = 0; i < count; ++i) {
      probs_[i] = std::exp((static_cast<double>(candidates_[i].logit) - max) / static_cast<double>(temperature));
      sum += probs_[i];
    }
    for (size_t i = 0; i < count; ++i) probs_[i] /= sum;
  };

  if (params_.top_p < 1.0f) {
    softmax(n, 1.0f);
    double cum = 0.0;
    for (size_t i = 0; i < n; ++i) {
      cum += probs_[i];
      if (cum >= static_cast<double>(params_.top_p)) {
        n = i + 1;
        break;
      }
    }
  }
  if (params_.min_p > 0.0f) {
    softmax(n, 1.0f);
    const double floor = probs_[0] * static_cast<double>(params_.min_p);
    size_t keep = 1;
    while (keep < n && probs_[keep] >= floor) ++keep;
    n = keep;
  }
  softmax(n, params_.temperature);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const double r = uniform(rng_);
  double cum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cum += probs_[i];
    if (r < cum) return candidates_[i].id;
  }
  return candidates_[n - 1].id;
}

}  // namespace ts
