#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/error.h"
#include "kernels/numerics.h"

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
  if (n_vocab < 1) fail("sampler: vocabulary of {} tokens", n_vocab);
}

namespace {

// The first index of the largest value; NaN never wins (all NaN: 0). Eight running maxima
// instead of one: std::max_element's single chain of compares took ~3 ns per value (100 µs over
// a 32000-token vocabulary, against ~10 ms per decoded token of TinyLlama).
int64_t argmax(const float* x, int64_t n) {
  constexpr int kLanes = 8;
  float lane[kLanes];
  std::fill(lane, lane + kLanes, -std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lane[l] = x[i + l] > lane[l] ? x[i + l] : lane[l];
  }
  for (; i < n; ++i) lane[0] = x[i] > lane[0] ? x[i] : lane[0];
  const float best = *std::max_element(lane, lane + kLanes);
  for (int64_t j = 0; j < n; ++j) {
    if (x[j] == best) return j;
  }
  return 0;
}

// The order the cuts are defined in: higher logit first, ties to the lower id.
constexpr auto by_logit = [](const auto& a, const auto& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };

// The first index i where p[0] + ... + p[i] > r, or -1 if the whole sum is not (rounding).
// Whole blocks are skipped on their sums (independent adds) before the walk inside one.
int64_t draw_index(const float* p, int64_t n, double r) {
  constexpr int64_t kBlock = 64;
  double cum = 0.0;
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    float lane[8] = {};
    for (int64_t j = 0; j < kBlock; j += 8) {
      for (int l = 0; l < 8; ++l) lane[l] += p[i + j + l];
    }
    double block = 0.0;
    for (float v : lane) block += static_cast<double>(v);
    if (cum + block > r) break;
    cum += block;
  }
  for (; i < n; ++i) {
    cum += static_cast<double>(p[i]);
    if (r < cum) return i;
  }
  return -1;
}

}  // namespace

void Sampler::set_probs(size_t n, float max_logit, float temperature) {
  // Logits minus the largest first: nothing overflows however small the temperature.
  for (size_t i = 0; i < n; ++i) probs_[i] = (candidates_[i].logit - max_logit) / temperature;
  numeric_kernels().softmax(probs_.data(), static_cast<int64_t>(n));
  for (size_t i = 0; i < n; ++i) candidates_[i].p = probs_[i];
}

// The nucleus: the fewest candidates, best logits first, whose probabilities reach top_p. Only
// the set matters (the draw does not depend on order), so it is selected, not sorted (sorting
// 32000 candidates took ~1.9 ms): a weighted quickselect, after a first cut at 8 below the best
// logit, which usually leaves few candidates in play. Ties in logit go to the lower id, as in a
// sort by (logit, id). Returns the count; they are then candidates_[0, count).
size_t Sampler::nucleus(size_t n, float max_logit) {
  const auto mass = [](const Candidate* first, const Candidate* last) {
    double m = 0.0;
    for (const Candidate* x = first; x != last; ++x) m += static_cast<double>(x->p);
    return m;
  };
  const auto target = static_cast<double>(params_.top_p);
  Candidate* c = candidates_.data();
  // [0, lo) hold the lo best candidates, whose mass `before` is short of top_p; the answer is
  // in (lo, hi]: [0, hi) hold the hi best (hi = n: possibly all of them).
  size_t lo = 0, hi = n;
  double before = 0.0;
  const float cut = max_logit - 8.0f;
  Candidate* mid = std::partition(c, c + n, [cut](const Candidate& x) { return x.logit >= cut; });
  const double front = mass(c, mid);
  if (front >= target) {
    hi = static_cast<size_t>(mid - c);
  } else {
    lo = static_cast<size_t>(mid - c);
    before = front;
  }
  while (hi - lo > 1) {
    // Pivot: the median of three; the candidates before it go first, then it.
    Candidate* first = c + lo;
    Candidate* last = c + hi;
    Candidate three[3] = {first[0], first[(hi - lo) / 2], last[-1]};
    std::sort(three, three + 3, by_logit);
    const Candidate pivot = three[1];
    Candidate* split = std::partition(first, last, [&](const Candidate& x) { return by_logit(x, pivot); });
    std::iter_swap(split, std::find_if(split, last, [&](const Candidate& x) { return x.id == pivot.id; }));
    const double ahead = mass(first, split);
    if (before + ahead >= target) {
      hi = static_cast<size_t>(split - c);
      continue;
    }
    before += ahead + static_cast<double>(split->p);
    if (before >= target) return static_cast<size_t>(split - c) + 1;
    lo = static_cast<size_t>(split - c) + 1;
  }
  return hi;
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

  if (params_.temperature <= 0.0f) return static_cast<int32_t>(argmax(adjusted_.data(), n_vocab_));
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const bool top_k = params_.top_k > 0 && params_.top_k < n_vocab_;
  if (!top_k && params_.top_p >= 1.0f && params_.min_p <= 0.0f) {
    // No cuts (as the API's defaults ask): the whole vocabulary at the temperature, in id order.
    const auto best = argmax(adjusted_.data(), n_vocab_);
    const float max_logit = adjusted_[static_cast<size_t>(best)];
    if (!std::isfinite(max_logit)) return static_cast<int32_t>(best);  // nothing to draw from
    for (int64_t i = 0; i < n_vocab_; ++i) {
      const float l = adjusted_[static_cast<size_t>(i)];
      probs_[static_cast<size_t>(i)] = std::isnan(l) ? -std::numeric_limits<float>::infinity() : (l - max_logit) / params_.temperature;
    }
    numeric_kernels().softmax(probs_.data(), n_vocab_);
    const int64_t i = draw_index(probs_.data(), n_vocab_, uniform(rng_));
    return static_cast<int32_t>(i >= 0 ? i : best);
  }

  // NaN logits become -inf: probability 0, and the orders below stay strict.
  Candidate* c = candidates_.data();
  for (int64_t i = 0; i < n_vocab_; ++i) {
    const float l = adjusted_[static_cast<size_t>(i)];
    c[i] = {static_cast<int32_t>(i), std::isnan(l) ? -std::numeric_limits<float>::infinity() : l, 0.0f};
  }
  size_t n = static_cast<size_t>(n_vocab_);
  if (top_k) {
    // The k best, as a sort's first k: a heap of k for a small k (most candidates fail one
    // compare with its top), a selection for a large one.
    n = static_cast<size_t>(params_.top_k);
    if (n <= static_cast<size_t>(n_vocab_) / 16) {
      std::partial_sort(c, c + n, c + n_vocab_, by_logit);
    } else {
      std::nth_element(c, c + n, c + n_vocab_, by_logit);
    }
  }
  // The best candidate (the first in the order; the first index of the largest logit).
  const Candidate top = top_k ? *std::min_element(c, c + n, by_logit) : c[argmax(adjusted_.data(), n_vocab_)];
  const float max_logit = top.logit;
  if (!std::isfinite(max_logit)) return top.id;  // every logit -inf or NaN: nothing to draw from
  if (params_.top_p < 1.0f) {
    set_probs(n, max_logit, 1.0f);
    n = nucleus(n, max_logit);
  }
  if (params_.min_p > 0.0f) {
    // Tokens below min_p times the best one's probability: p / p_best = exp(logit - max_logit)
    // whatever the normalisation, so the cut is on the logits.
    const float floor = std::log(params_.min_p);
    n = static_cast<size_t>(std::partition(c, c + n, [&](const Candidate& x) { return x.logit - max_logit >= floor; }) - c);
  }
  // The draw over what is left, at the temperature; its order does not change the odds.
  set_probs(n, max_logit, params_.temperature);
  const int64_t i = draw_index(probs_.data(), static_cast<int64_t>(n), uniform(rng_));
  return i >= 0 ? c[i].id : top.id;
}

}  // namespace ts
