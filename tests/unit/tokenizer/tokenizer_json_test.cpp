// tokenizer.json against PyPI `tokenizers` (the oracle) on 1000 random strings per tokenizer
// (tests/fixtures/tokenizer_json, scripts/make-golden.py --what tokenizers). The tokenizer.json
// files are built from real vocabularies by scripts/make-checkpoints.py (`make checkpoints`).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"
#include "../models_dir.h"
#include "vocab_cases.h"

namespace ts {
namespace {

using test::models_dir;

struct Source {
  const char* fixture;
  const char* dir;  // under the model cache
};

void PrintTo(const Source& s, std::ostream* os) { *os << s.fixture; }

class TokenizerJson : public ::testing::TestWithParam<Source> {};

TEST_P(TokenizerJson, MatchesHuggingFaceTokenizersOnRandomStrings) {
  const Source src = GetParam();
  const std::string path = models_dir() + "/" + src.dir + "/tokenizer.json";
  ASSERT_TRUE(std::filesystem::exists(path)) << "missing " << path << ": run scripts/make-checkpoints.py";
  std::ifstream in(std::string(TS_FIXTURES_DIR) + "/tokenizer_json/" + src.fixture + ".json");
  ASSERT_TRUE(in.good());
  const auto fixture = nlohmann::json::parse(in);
  const Tokenizer tok(Vocab::from_tokenizer_json(path));
  int mismatches = 0, round_trip_failures = 0, n = 0;
  size_t tokens = 0;
  for (const auto& c : fixture["cases"]) {
    const std::string text = c["text"].get<std::string>();
    const auto expected = c["ids"].get<std::vector<int32_t>>();
    const auto ids = tok.encode(text, /*add_special=*/false, /*parse_special=*/true);
    ++n;
    tokens += expected.size();
    if (ids != expected) {
      if (++mismatches <= 5) {
        std::string a, b;
        for (int32_t id : expected) a += std::to_string(id) + " ";
        for (int32_t id : ids) b += std::to_string(id) + " ";
        ADD_FAILURE() << src.fixture << ": '" << text << "'\n  tokenizers: " << a << "\n  ours:       " << b;
      }
      continue;
    }
    // Tokens decode back to the text (byte-level and byte-fallback vocabularies are lossless),
    // except that a SentencePiece-style vocabulary prefixes a space to the text after a special
    // token, as the reference does too, and turns a literal U+2581 in the text into a space.
    const bool lossy_spm = text.find("\xe2\x96\x81") != std::string::npos;
    const bool has_special = std::any_of(ids.begin(), ids.end(), [&](int32_t id) { return tok.vocab().type(id) == TokenType::kControl; });
    if (!has_special && !lossy_spm && tok.decode(ids, true) != text && ++round_trip_failures <= 3) {
      ADD_FAILURE() << src.fixture << ": '" << text << "' decodes to '" << tok.decode(ids, true) << "'";
    }
  }
  std::printf("%s: %d strings, %zu tokens, %d differ from tokenizers\n", src.fixture, n, tokens, mismatches);
  EXPECT_GE(n, 1000);
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(round_trip_failures, 0);
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, TokenizerJson,
                         ::testing::Values(Source{"gpt2", "hf-gpt2-124m"}, Source{"smollm2", "tokenizers/smollm2"},
                                           Source{"llama_spm", "hf-tinyllama-1.1b-l4"},
                                           Source{"gemma3", "hf-gemma3-1b-l6"}),
                         [](const ::testing::TestParamInfo<Source>& p) { return std::string(p.param.fixture); });

// The shared vocabulary cases (made by llama.cpp from the original tokenizers) through the
// tokenizer.json built from the same vocabulary.
TEST(TokenizerJsonSharedCases, Gpt2AndLlamaSpm) {
  for (const auto& [vocab, dir] : {std::pair{"gpt-2", "hf-gpt2-124m"}, std::pair{"llama-spm", "hf-tinyllama-1.1b-l4"}}) {
    const std::string path = models_dir() + "/" + dir + "/tokenizer.json";
    ASSERT_TRUE(std::filesystem::exists(path)) << "missing " << path;
    const Tokenizer tok(Vocab::from_tokenizer_json(path));
    const std::string base = test::kVocabDir + "/ggml-vocab-" + vocab + ".gguf";
    const auto cases = test::split_cases(test::read_all(base + ".inp"));
    const auto expected = test::read_expected(base + ".out");
    ASSERT_EQ(cases.size(), expected.size());
    ASSERT_GT(cases.size(), 10u);
    const int failures = test::count_case_failures(tok, cases, expected, vocab);
    std::printf("%s: %zu shared cases, %d differ\n", vocab, cases.size(), failures);
    EXPECT_EQ(failures, 0);
  }
}

}  // namespace
}  // namespace ts
