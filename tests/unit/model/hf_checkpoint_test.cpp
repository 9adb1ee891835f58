// Random-weight checkpoints of GPT-2, TinyLlama and Gemma 3 1B shapes, written by
// scripts/make-checkpoints.py both as Hugging Face SafeTensors and as GGUF (independent writers,
// the GGUF converted the way llama.cpp's converter does). Checks: our SafeTensors import gives
// the same logits as our GGUF loader, and agrees with llama.cpp's distributions on the GGUF.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "apps/common.h"
#include "fixture_compare.h"
#include "formats/gguf/gguf_reader.h"
#include "model/hf_import.h"
#include "../models_dir.h"

namespace ts {
namespace {

using test::models_dir;

class HfCheckpoint : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    gguf_path_ = models_dir() + "/" + GetParam() + ".gguf";
    hf_dir_ = models_dir() + "/hf-" + GetParam();
    // Not a skip: the checkpoints are part of `make models` (scripts/make-checkpoints.py).
    ASSERT_TRUE(std::filesystem::exists(gguf_path_) && std::filesystem::exists(hf_dir_ + "/config.json"))
        << "missing " << hf_dir_ << " or " << gguf_path_ << ": run scripts/make-checkpoints.py";
  }

  // The HF checkpoint, with the GGUF twin's vocabulary (the checkpoints carry no tokenizer.json).
  LoadedModel load_hf(int64_t max_batch) const {
    LoadedModel m;
    m.file = import_hf_checkpoint(hf_dir_);
    m.tokenizer = std::make_unique<Tokenizer>(Vocab::from_gguf(*gguf::GgufFile::open(gguf_path_)));
    m.pool = std::make_unique<ThreadPool>(2);
    m.model = load_model(*m.file, *m.pool, ModelOptions{max_batch});
    return m;
  }

  std::string gguf_path_, hf_dir_;
};

TEST_P(HfCheckpoint, SafeTensorsAndGgufGiveTheSameLogits) {
  constexpr int64_t kPrompt = 40, kDecode = 4;
  LoadedModel a = load_everything(gguf_path_, 2, kPrompt);
  LoadedModel b = load_hf(kPrompt);
  const ModelConfig& ca = a.model->config();
  const ModelConfig& cb = b.model->config();
  ASSERT_EQ(ca.n_vocab, cb.n_vocab);
  EXPECT_EQ(ca.n_layer, cb.n_layer);
  EXPECT_EQ(ca.n_ff, cb.n_ff);
  EXPECT_EQ(ca.sliding_window, cb.sliding_window);
  auto tokens = a.tokenizer->encode(test::fixture_text(), a.tokenizer->vocab().add_bos, false);
  tokens.resize(static_cast<size_t>(kPrompt + kDecode));
  const int64_t V = ca.n_vocab;
  KvCache kv_a(ca, 64), kv_b(cb, 64);
  std::vector<float> la(static_cast<size_t>(kPrompt * V)), lb(la.size());  // [kPrompt, n_vocab]
  double max_diff = 0.0;
  auto compare = [&](int64_t rows) {
    for (int64_t i = 0; i < rows * V; ++i) max_diff = std::max(max_diff, static_cast<double>(std::fabs(la[i] - lb[i])));
  };
  a.model->forward(tokens.data(), kPrompt, 0, kv_a, la.data(), true);
  b.model->forward(tokens.data(), kPrompt, 0, kv_b, lb.data(), true);
  compare(kPrompt);
  for (int64_t t = kPrompt; t < kPrompt + kDecode; ++t) {  // decoding single tokens too
    a.model->forward(tokens.data() + t, 1, t, kv_a, la.data(), false);
    b.model->forward(tokens.data() + t, 1, t, kv_b, lb.data(), false);
    compare(1);
  }
  std::printf("%s: max |logit difference| SafeTensors vs GGUF = %g\n", GetParam(), max_diff);
  EXPECT_LE(max_diff, 1e-3);
}

TEST_P(HfCheckpoint, SafeTensorsPathAgreesWithLlamaCpp) {
  const auto ref = test::read_fixture(std::string("ckpt_") + GetParam() + "/ppl.json");
  LoadedModel m = load_hf(ref["ctx"].get<int64_t>());
  const test::FixtureComparison r = test::compare_with_fixture(m, ref);
  // The bounds for random weights, whose near-ties keep same-top below 100%.
  EXPECT_LE(r.mean_kl, 0.005);
  EXPECT_GE(r.same_top, 0.85);
}

INSTANTIATE_TEST_SUITE_P(Shapes, HfCheckpoint, ::testing::Values("gpt2-124m", "tinyllama-1.1b-l4", "gemma3-1b-l6"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           std::string s = p.param;
                           for (char& ch : s) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return s;
                         });

}  // namespace
}  // namespace ts
