// Every case of the shared vocabulary test data must tokenize byte-exact (no BOS, no special
// parsing), and every vocabulary token must survive text -> ids -> text.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "formats/gguf/gguf_reader.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "vocab_cases.h"

namespace ts {
namespace {

class VocabConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabConformance, AllCasesMatch) {
  const std::string base = test::kVocabDir + "/ggml-vocab-" + GetParam() + ".gguf";
  auto file = gguf::GgufFile::open(base);
  Tokenizer tok(Vocab::from_gguf(*file));
  const auto cases = test::split_cases(test::read_all(base + ".inp"));
  const auto expected = test::read_expected(base + ".out");
  ASSERT_EQ(cases.size(), expected.size());
  ASSERT_GT(cases.size(), 10u);
  const int failures = test::count_case_failures(tok, cases, expected, GetParam(), 1000);
  EXPECT_EQ(failures, 0);
}

TEST_P(VocabConformance, EveryTokenRoundTrips) {
  const std::string base = test::kVocabDir + "/ggml-vocab-" + GetParam() + ".gguf";
  auto file = gguf::GgufFile::open(base);
  Tokenizer tok(Vocab::from_gguf(*file));
  int checked = 0, failures = 0;
  for (int32_t id = 0; id < tok.size(); ++id) {
    const TokenType type = tok.vocab().type(id);
    if (type == TokenType::kControl || type == TokenType::kUnknown || type == TokenType::kUnused) continue;
    // Byte tokens give lone bytes (invalid UTF-8 on their own); they must come back byte for byte too.
    const std::string piece = tok.token_to_piece(id);
    if (piece.empty()) continue;
    const std::string text = tok.decode(tok.encode(piece, false, false));
    const std::string& want = piece;
    ++checked;
    if (text != want) {
      if (++failures < 10) ADD_FAILURE() << GetParam() << " token " << id << " '" << piece << "' -> '" << text << "'";
    }
  }
  EXPECT_GT(checked, 100);
  EXPECT_EQ(failures, 0);
}

INSTANTIATE_TEST_SUITE_P(SharedVocab, VocabConformance,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "starcoder", "refact", "mpt", "falcon",
                                           "deepseek-coder", "deepseek-llm"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (auto& c : n) c = (c == '-') ? '_' : c;
                           return n;
                         });

}  // namespace
}  // namespace ts
