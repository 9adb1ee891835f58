// Real models against llama.cpp's recorded behaviour (scripts/make-golden.py): SmolLM2-135M-Instruct
// Q4_1 (Llama architecture) and Gemma 3 270M Q4_K_M (Gemma 3 architecture; Q5_0, Q8_0, Q4_K and
// Q6_K matrices, sliding-window layers), both fetched by scripts/fetch-models.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "apps/common.h"
#include "engine/generate.h"
#include "engine/perplexity.h"
#include "fast_vs_scalar.h"
#include "fixture_compare.h"
#include "kernels/cpu_features.h"
#include "../models_dir.h"

namespace ts {
namespace {

// Bounds: |PPL / llama.cpp's - 1|, mean KL, same top token, greedy prompts equal (of 8).
struct Bounds {
  double ppl_rel, kl, same_top;
  int greedy;
};

struct RealModel {
  const char* name;
  const char* file;         // in the model cache
  const char* fixture_dir;  // under tests/fixtures
  Bounds bounds;            // with the AVX2 kernels, which sum in the fixture's llama.cpp order
  Bounds scalar_bounds;     // on a CPU without AVX2 (the scalar twins sum blocks in another order)

  const Bounds& active() const { return active_features().avx2 ? bounds : scalar_bounds; }
};

std::ostream& operator<<(std::ostream& os, const RealModel& m) { return os << m.file; }

class RealModelGolden : public ::testing::TestWithParam<RealModel> {
 protected:
  std::string model_path() const { return test::models_dir() + "/" + GetParam().file; }
  nlohmann::json fixture(const std::string& name) const {
    std::ifstream in(std::string(TS_FIXTURES_DIR) + "/" + GetParam().fixture_dir + "/" + name);
    return nlohmann::json::parse(in);
  }
};

TEST_P(RealModelGolden, GreedyFirst16TokensMatchLlamaCpp) {
  LoadedModel m = load_everything(model_path(), 2, 64);
  const auto cases = fixture("greedy.json")["cases"];
  ASSERT_EQ(cases.size(), 8u);
  int identical = 0;
  for (const auto& c : cases) {
    const auto ids = m.tokenizer->encode(c["prompt"].get<std::string>(), true, true);
    EXPECT_EQ(ids, c["prompt_tokens"].get<std::vector<int32_t>>()) << "tokenization of " << c["prompt"];
    KvCache kv(m.model->config(), 128);
    GenerateOptions opt;
    opt.max_tokens = 16;
    opt.sampling.temperature = 0.0f;
    opt.ignore_eos = true;
    const auto r = generate(*m.model, *m.tokenizer, kv, ids, opt, nullptr);
    const auto want = c["tokens"].get<std::vector<int32_t>>();
    const bool same = std::equal(r.tokens.begin(), r.tokens.end(), want.begin(), want.begin() + 16);
    identical += same ? 1 : 0;
    if (!same) std::printf("differs: %s\n", c["prompt"].get<std::string>().c_str());
  }
  std::printf("identical greedy first 16 tokens: %d of 8\n", identical);
  EXPECT_GE(identical, GetParam().active().greedy);
}

TEST_P(RealModelGolden, PerplexityAndDistributionsMatchLlamaCpp) {
  const auto ref = fixture("ppl.json");
  LoadedModel m = load_everything(model_path(), 2, ref["ctx"].get<int64_t>());
  const test::FixtureComparison r = test::compare_with_fixture(m, ref);
  // With AVX2 the engine reproduces llama.cpp's arithmetic bit for bit (PPL equal, KL 0), except
  // SmolLM2's Q8_0 output table on CPUs without VNNI, which sums its blocks exactly there
  // (BlockOrder::kFastest: last-bit differences, same PPL and KL to 4 digits). Gemma 3 keeps
  // llama.cpp's order (its default). The bounds are the issue's; see the instances for the scalar path's.
  const Bounds& b = GetParam().active();
  EXPECT_LT(std::fabs(r.ppl / r.ref_ppl - 1.0), b.ppl_rel);
  EXPECT_LE(r.mean_kl, b.kl);
  EXPECT_GE(r.same_top, b.same_top);

  // The perplexity command's own computation agrees with the direct one.
  PerplexityOptions opt;
  opt.n_ctx = ref["ctx"].get<int64_t>();
  const PerplexityResult pr = compute_perplexity(*m.model, *m.tokenizer, test::fixture_text(), opt, nullptr);
  EXPECT_NEAR(pr.ppl, r.ppl, 1e-3 * r.ppl);
  std::printf("PPL %.4f (llama.cpp %.4f), mean KL %.6f, same top %.4f\n", r.ppl, r.ref_ppl, r.mean_kl, r.same_top);
}

// The Q8_0 KV cache option costs a little accuracy: against the same llama.cpp fixture (f16 cache)
// SmolLM2 measured PPL -0.08%, mean KL 0.0072 over the fixture's top 16 (0.011 over the whole
// vocabulary, `perplexity --kl-divergence`), same top 94.3%. llama.cpp's own q8_0 cache against its
// f16 one on this model and text: KL 0.009, same top 93.8%. Named bounds with some room:
constexpr double kQ8KvPplRel = 0.02, kQ8KvKl = 0.025, kQ8KvSameTop = 0.90;

TEST(RealModelQ8Kv, SmolLM2WithQ8_0CacheStaysCloseToLlamaCpp) {
  std::ifstream in(std::string(TS_FIXTURES_DIR) + "/smollm2_q4_1/ppl.json");
  const auto ref = nlohmann::json::parse(in);
  LoadedModel m = load_everything(test::models_dir() + "/SmolLM2-135M-Instruct.Q4_1.gguf", 2, ref["ctx"].get<int64_t>());
  const test::FixtureComparison r = test::compare_with_fixture(m, ref, KvType::kQ8_0);
  std::printf("q8_0 KV: PPL %.4f (llama.cpp, f16 KV: %.4f), mean KL %.6f, same top %.4f\n", r.ppl, r.ref_ppl, r.mean_kl,
              r.same_top);
  EXPECT_LT(std::fabs(r.ppl / r.ref_ppl - 1.0), kQ8KvPplRel);
  EXPECT_LE(r.mean_kl, kQ8KvKl);
  EXPECT_GE(r.same_top, kQ8KvSameTop);
  EXPECT_GT(r.mean_kl, 0.0);  // the Q8_0 path is really taken
}

// The default (fast) kernels against the scalar reference kernels, end to end on the real model
// (fast_vs_scalar.h). Measured on Zen 3 with AVX2: mean KL -0.000001 (rounding), max 0.000042,
// same top 100%.
TEST(FastVsScalar, SmolLM2) {
  const test::FastVsScalar r = test::fast_against_scalar(test::models_dir() + "/SmolLM2-135M-Instruct.Q4_1.gguf", 256, 2);
  EXPECT_LE(r.mean_kl, test::kFastVsScalarMaxMeanKl);
}

// The online softmax (--attention online; always with an f32 cache) keeps queries and weights in
// f32 where llama.cpp's default attention rounds both to f16: against the same fixtures it differs
// by rounding only. Measured: SmolLM2 (f16 cache) PPL 23.9750 vs 24.1419 (-0.7%), mean KL 0.0047,
// same top 95.1%; Gemma 3 (f32 cache) PPL 8.1286 vs 8.2133 (-1.0%), KL 0.030, same top 93.2%.
// llama.cpp's own flash attention (flash_attn=True, same files, text and comparison) against
// these fixtures: SmolLM2 PPL 23.9572, KL 0.0052, same top 94.6%; Gemma PPL 8.1568, KL 0.029,
// same top 92.5%. Bounds with some room:
struct OnlineCase {
  const char* file;
  const char* fixture_dir;
  KvType kv;
  double ppl_rel, kl, same_top;
};

std::ostream& operator<<(std::ostream& os, const OnlineCase& c) { return os << c.file << ", " << kv_type_name(c.kv) << " KV"; }

class RealModelOnlineAttention : public ::testing::TestWithParam<OnlineCase> {};

TEST_P(RealModelOnlineAttention, StaysCloseToLlamaCpp) {
  const OnlineCase& oc = GetParam();
  std::ifstream in(std::string(TS_FIXTURES_DIR) + "/" + oc.fixture_dir + "/ppl.json");
  const auto ref = nlohmann::json::parse(in);
  LoadedModel m = load_everything(test::models_dir() + "/" + oc.file, 2, ref["ctx"].get<int64_t>());
  m.model->set_attention_mode(AttentionMode::kOnline);
  const test::FixtureComparison r = test::compare_with_fixture(m, ref, oc.kv);
  std::printf("online attention, %s KV: PPL %.4f (llama.cpp %.4f), mean KL %.6f, same top %.4f\n",
              std::string(kv_type_name(oc.kv)).c_str(), r.ppl, r.ref_ppl, r.mean_kl, r.same_top);
  EXPECT_LT(std::fabs(r.ppl / r.ref_ppl - 1.0), oc.ppl_rel);
  EXPECT_LE(r.mean_kl, oc.kl);
  EXPECT_GE(r.same_top, oc.same_top);
  EXPECT_GT(r.mean_kl, 0.0);  // not the exact path's bits
}

INSTANTIATE_TEST_SUITE_P(Models, RealModelOnlineAttention,
                         ::testing::Values(OnlineCase{"SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2_q4_1", KvType::kF16, 0.015, 0.01, 0.92},
                                           OnlineCase{"gemma-3-270m-q4_k_m.gguf", "gemma3_270m_q4_k_m", KvType::kF32, 0.02, 0.05, 0.90}),
                         [](const ::testing::TestParamInfo<OnlineCase>& p) {
                           return std::string(p.param.fixture_dir[0] == 's' ? "SmolLM2" : "Gemma3") + "_" +
                                  std::string(kv_type_name(p.param.kv));
                         });

INSTANTIATE_TEST_SUITE_P(Models, RealModelGolden,
                         ::testing::Values(
                             // The targets, on both paths.
                             RealModel{"SmolLM2", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2_q4_1", {0.01, 0.01, 0.95, 7},
                                       {0.01, 0.01, 0.95, 7}},
                             // The targets with AVX2, where the engine reproduces the fixture's
                             // llama.cpp build bit for bit here too, K-quant summation orders included
                             // (kernels/dtype_table.h). Gemma's large post-norm weights grow last-bit
                             // differences into visible ones: the scalar path (other Q5_0/Q8_0 block
                             // orders) measured PPL 0.11%, KL 0.0265, same top 93.4%, 4 of 8, about
                             // what llama.cpp's own flash-attention switch costs (KL 0.022, 93.8%).
                             RealModel{"Gemma3", "gemma-3-270m-q4_k_m.gguf", "gemma3_270m_q4_k_m", {0.01, 0.01, 0.95, 7},
                                       {0.01, 0.035, 0.92, 3}}),
                         [](const ::testing::TestParamInfo<RealModel>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace ts
