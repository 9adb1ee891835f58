#pragma once
// Compares our next-token distributions over a text with a fixture of llama.cpp's top-k
// log-probabilities (scripts/make-golden.py), chunked the way llama.cpp's perplexity tool does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/common.h"

namespace ts::test {

struct FixtureComparison {
  double ppl = 0.0, ref_ppl = 0.0, mean_kl = 0.0, same_top = 0.0;
  int64_t positions = 0;
};

inline nlohmann::json read_fixture(const std::string& relative) {
  std::ifstream in(std::string(TS_FIXTURES_DIR) + "/" + relative);
  if (!in) ADD_FAILURE() << "missing fixture " << relative;
  return nlohmann::json::parse(in);
}

inline std::string fixture_text() {
  std::ifstream in(std::string(TS_FIXTURES_DIR) + "/public_domain_text.txt");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline FixtureComparison compare_with_fixture(LoadedModel& m, const nlohmann::json& ref, KvType kv_type = KvType::kF16) {
  const int64_t n_ctx = ref["ctx"].get<int64_t>(), n_vocab = m.model->config().n_vocab, first = n_ctx / 2;
  const int64_t n_chunk = ref["chunks"].get<int64_t>();
  const Vocab& vocab = m.tokenizer->vocab();
  const auto tokens = m.tokenizer->encode(fixture_text(), vocab.add_bos, false);
  EXPECT_GE(static_cast<int64_t>(tokens.size()) / n_ctx, n_chunk);
  const auto& positions = ref["positions"];
  KvCache kv(m.model->config(), n_ctx, kv_type);
  std::vector<float> logits(static_cast<size_t>(n_ctx * n_vocab));  // [n_ctx, n_vocab]
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  double kl_sum = 0.0, nll = 0.0;
  int64_t same_top = 0, count = 0;
  for (int64_t c = 0; c < n_chunk; ++c) {
    std::copy_n(tokens.begin() + c * n_ctx, n_ctx, chunk.begin());
    if (vocab.add_bos) chunk[0] = vocab.bos;  // as llama.cpp's perplexity tool does
    m.model->forward(chunk.data(), n_ctx, 0, kv, logits.data(), true);
    for (int64_t j = first; j < n_ctx - 1; ++j, ++count) {
      const float* lg = logits.data() + j * n_vocab;
      const double mx = static_cast<double>(*std::max_element(lg, lg + n_vocab));
      double se = 0.0;
      for (int64_t i = 0; i < n_vocab; ++i) se += std::exp(static_cast<double>(lg[i]) - mx);
      const double lse = mx + std::log(se);
      const auto& p = positions[static_cast<size_t>(count)];
      EXPECT_EQ(p["t"].get<int32_t>(), tokens[static_cast<size_t>(c * n_ctx + j + 1)]);
      nll -= static_cast<double>(lg[p["t"].get<int32_t>()]) - lse;
      // KL(reference || ours) over the reference's top-k plus one bucket for the rest: a lower
      // bound of the full KL that is tight when the top-k hold most of the mass.
      double kl = 0.0, p_rest = 1.0, q_rest = 1.0;
      const auto ids = p["ids"].get<std::vector<int32_t>>();
      const auto lps = p["lp"].get<std::vector<double>>();
      for (size_t k = 0; k < ids.size(); ++k) {
        const double q = static_cast<double>(lg[ids[k]]) - lse;
        kl += std::exp(lps[k]) * (lps[k] - q);
        p_rest -= std::exp(lps[k]);
        q_rest -= std::exp(q);
      }
      if (p_rest > 1e-9 && q_rest > 1e-9) kl += p_rest * std::log(p_rest / q_rest);
      kl_sum += kl;
      same_top += (std::max_element(lg, lg + n_vocab) - lg) == ids[0] ? 1 : 0;
    }
  }
  FixtureComparison r;
  r.positions = count;
  r.ppl = std::exp(nll / static_cast<double>(count));
  r.ref_ppl = ref["ppl"].get<double>();
  r.mean_kl = kl_sum / static_cast<double>(count);
  r.same_top = static_cast<double>(same_top) / static_cast<double>(count);
  std::printf("PPL ours %.4f llama.cpp %.4f (%.3f%%); mean KL %.3g; same top %.2f%% over %lld positions\n", r.ppl,
              r.ref_ppl, 100.0 * std::fabs(r.ppl / r.ref_ppl - 1.0), r.mean_kl, 100.0 * r.same_top,
              static_cast<long long>(count));
  return r;
}

}  // namespace ts::test
