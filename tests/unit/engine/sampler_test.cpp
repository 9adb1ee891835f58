#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "engine/generate.h"
#include "engine/text_stream.h"
#include "engine/sampler.h"

namespace ts {
namespace {

TEST(Sampler, GreedyTakesTheMaximum) {
  SamplingParams p;
  p.temperature = 0.0f;
  Sampler s(p, 5);
  const float logits[5] = {0.1f, 3.0f, 2.9f, -1.0f, 0.0f};
  EXPECT_EQ(s.sample(logits, {}), 1);
}

TEST(Sampler, SameSeedSameSequence) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 99;
  std::vector<float> logits(100);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(i % 7) * 0.3f;
  Sampler a(p, 100), b(p, 100);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(a.sample(logits.data(), {}), b.sample(logits.data(), {}));
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplingParams p;
  p.temperature = 5.0f;
  p.top_k = 1;
  Sampler s(p, 4);
  const float logits[4] = {1.0f, 0.0f, 4.0f, 3.9f};
  for (int i = 0; i < 20; ++i) EXPECT_EQ(s.sample(logits, {}), 2);
}

TEST(Sampler, TopPAndMinPCutTheTail) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 0.5f;  // the first token alone holds > 50%
  p.min_p = 0.0f;
  Sampler s(p, 3);
  const float logits[3] = {5.0f, 1.0f, 1.0f};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(logits, {}), 0);
  SamplingParams q = p;
  q.top_p = 1.0f;
  q.min_p = 0.5f;  // tokens below half the top probability are dropped
  Sampler t(q, 3);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(t.sample(logits, {}), 0);
}

TEST(Sampler, PenaltiesDemoteSeenTokens) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.presence_penalty = 1.0f;
  Sampler s(p, 3);
  const float logits[3] = {2.0f, 1.5f, 0.0f};
  EXPECT_EQ(s.sample(logits, {0}), 1);
  SamplingParams r;
  r.temperature = 0.0f;
  r.repeat_penalty = 2.0f;
  Sampler t(r, 3);
  EXPECT_EQ(t.sample(logits, {0}), 1);  // 2.0 / 2 = 1.0 < 1.5
  SamplingParams f;
  f.temperature = 0.0f;
  f.frequency_penalty = 0.3f;
  Sampler u(f, 3);
  EXPECT_EQ(u.sample(logits, {0}), 0);     // 2.0 - 0.3 > 1.5
  EXPECT_EQ(u.sample(logits, {0, 0}), 1);  // 2.0 - 0.6 < 1.5
}

// Sampling parameters: temperature, top-k, top-p, min-p (and seed).
SamplingParams params(float temperature, int32_t top_k, float top_p, float min_p, uint64_t seed = 0) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.min_p = min_p;
  p.seed = seed;
  return p;
}

// Draws n tokens; returns how often each id came up.
std::map<int32_t, int> draw_counts(Sampler& s, const std::vector<float>& logits, int n) {
  std::map<int32_t, int> counts;
  for (int i = 0; i < n; ++i) ++counts[s.sample(logits.data(), {})];
  return counts;
}

std::vector<int32_t> ids_of(const std::map<int32_t, int>& counts) {
  std::vector<int32_t> ids;
  for (const auto& [id, count] : counts) ids.push_back(id);
  return ids;
}

std::vector<float> random_logits(int64_t n, float sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// Ids by logit, best first, ties to the lower id: the order the cuts are defined in.
std::vector<int32_t> by_logit(const std::vector<float>& logits) {
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)]; });
  return ids;
}

TEST(Sampler, GreedySkipsNaNAndSurvivesNonFiniteLogits) {
  SamplingParams p;
  p.temperature = 0.0f;
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  Sampler s(p, 4);
  const float a[4] = {nan, 1.0f, 3.0f, 2.0f};
  EXPECT_EQ(s.sample(a, {}), 2);
  const float b[4] = {nan, nan, nan, nan};
  EXPECT_EQ(s.sample(b, {}), 0);
  const float c[4] = {-inf, -inf, 5.0f, 5.0f};  // the first of equal maxima
  EXPECT_EQ(s.sample(c, {}), 2);
  // Drawing with every logit -inf or NaN: the first index, no crash.
  SamplingParams q;
  q.temperature = 1.0f;
  Sampler t(q, 4);
  const float d[4] = {-inf, nan, -inf, -inf};
  EXPECT_EQ(t.sample(d, {}), 0);
}

TEST(Sampler, NonFiniteLogitsAreNeverDrawn) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> logits = {nan, 0.5f, -inf, 0.0f, nan, 0.2f, -inf, 0.1f};
  for (int cuts = 0; cuts < 2; ++cuts) {  // the whole-vocabulary draw, then top-k, top-p and min-p
    const SamplingParams p = params(2.0f, cuts ? 6 : 0, cuts ? 0.99f : 1.0f, cuts ? 0.01f : 0.0f, 7);
    Sampler s(p, static_cast<int64_t>(logits.size()));
    const auto counts = draw_counts(s, logits, 2000);
    EXPECT_EQ(ids_of(counts), (std::vector<int32_t>{1, 3, 5, 7})) << "cuts " << cuts;
  }
}

TEST(Sampler, WholeVocabularyDrawsFollowTheSoftmax) {
  const int64_t n = 20;
  std::vector<float> logits(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) logits[static_cast<size_t>(i)] = 0.15f * static_cast<float>((i * 7) % n);
  const SamplingParams p = params(0.7f, 0, 1.0f, 0.0f, 11);
  Sampler s(p, n);
  const int draws = 40000;
  const auto counts = draw_counts(s, logits, draws);
  double z = 0.0;
  for (float l : logits) z += std::exp(static_cast<double>(l) / 0.7);
  for (int64_t i = 0; i < n; ++i) {
    const double expected = std::exp(static_cast<double>(logits[static_cast<size_t>(i)]) / 0.7) / z;
    const auto it = counts.find(static_cast<int32_t>(i));
    const double seen = it == counts.end() ? 0.0 : static_cast<double>(it->second) / draws;
    EXPECT_NEAR(seen, expected, 0.01) << "token " << i;  // 4 standard deviations of the count
  }
}

// The nucleus is selected without a full sort: its set must be exactly the full sort's prefix.
// At a temperature of 1000 every kept token is about equally likely, so 4000 draws show them all.
TEST(Sampler, TopPKeepsExactlyTheFullSortsPrefix) {
  int checked = 0;
  for (uint32_t seed = 1; seed <= 40 && checked < 12; ++seed) {
    const float sigma = 1.0f + static_cast<float>(seed % 4);
    const std::vector<float> logits = random_logits(3000, sigma, seed);
    const float top_p = 0.2f + 0.05f * static_cast<float>(seed % 12);
    const std::vector<int32_t> order = by_logit(logits);
    double z = 0.0;
    for (float l : logits) z += std::exp(static_cast<double>(l - logits[static_cast<size_t>(order[0])]));
    double cum = 0.0;
    size_t keep = 0;
    bool close_call = false;
    while (keep < order.size()) {
      cum += std::exp(static_cast<double>(logits[static_cast<size_t>(order[keep])] - logits[static_cast<size_t>(order[0])])) / z;
      ++keep;
      if (std::abs(cum - static_cast<double>(top_p)) < 1e-4) close_call = true;  // float rounding could go either way
      if (cum >= static_cast<double>(top_p)) break;
    }
    if (close_call || keep > 60) continue;
    const SamplingParams p = params(1000.0f, 0, top_p, 0.0f, seed);
    Sampler s(p, static_cast<int64_t>(logits.size()));
    std::vector<int32_t> want(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep));
    std::sort(want.begin(), want.end());
    EXPECT_EQ(ids_of(draw_counts(s, logits, 4000)), want) << "seed " << seed << ", top_p " << top_p;
    ++checked;
  }
  EXPECT_GE(checked, 8);
}

TEST(Sampler, MinPAndTopKKeepExactlyTheirSets) {
  const std::vector<float> logits = random_logits(500, 2.0f, 5);
  const std::vector<int32_t> order = by_logit(logits);
  const float best = logits[static_cast<size_t>(order[0])];
  {  // min_p: probability at least min_p times the best one's
    const SamplingParams p = params(1000.0f, 0, 1.0f, 0.1f);
    Sampler s(p, static_cast<int64_t>(logits.size()));
    std::vector<int32_t> want;
    for (size_t i = 0; i < logits.size(); ++i) {
      if (std::exp(static_cast<double>(logits[i] - best)) >= 0.1) want.push_back(static_cast<int32_t>(i));
    }
    ASSERT_LE(want.size(), 60u);
    EXPECT_EQ(ids_of(draw_counts(s, logits, 4000)), want);
  }
  for (int32_t k : {3, 40}) {  // a heap of k (k <= n / 16), then a selection
    const SamplingParams p = params(1000.0f, k, 1.0f, 0.0f);
    Sampler s(p, static_cast<int64_t>(logits.size()));
    std::vector<int32_t> want(order.begin(), order.begin() + k);
    std::sort(want.begin(), want.end());
    EXPECT_EQ(ids_of(draw_counts(s, logits, 4000)), want) << "k " << k;
  }
  {  // ties go to the lower ids
    SamplingParams p;
    p.temperature = 1.0f;
    p.top_k = 3;
    Sampler s(p, 10);
    const std::vector<float> flat(10, 1.0f);
    EXPECT_EQ(ids_of(draw_counts(s, flat, 500)), (std::vector<int32_t>{0, 1, 2}));
  }
}

TEST(Sampler, RejectsInvalidParameters) {
  SamplingParams p;
  p.top_p = 0.0f;
  EXPECT_THROW(Sampler(p, 3), std::exception);
  p = SamplingParams{};
  p.temperature = -1.0f;
  EXPECT_THROW(Sampler(p, 3), std::exception);
  p = SamplingParams{};
  p.presence_penalty = 5.0f;
  EXPECT_THROW(Sampler(p, 3), std::exception);
}

TEST(StopStrings, HoldBackOnlyPossiblePrefixes) {
  EXPECT_EQ(stop_prefix_holdback("Hello wor", {"world"}), 3u);
  EXPECT_EQ(stop_prefix_holdback("Hello", {"world"}), 0u);
  EXPECT_EQ(stop_prefix_holdback("abc<", {"<|end|>", "xyz"}), 1u);
}

}  // namespace
}  // namespace ts
