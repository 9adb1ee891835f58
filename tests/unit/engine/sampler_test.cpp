#include <gtest/gtest.h>

#include <map>
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
