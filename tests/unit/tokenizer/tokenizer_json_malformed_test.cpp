// tokenizer.json reading on small hand-written files: two valid shapes tokenize as expected, and
// every defect or unsupported feature is refused with a message naming the file and the field.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace ts {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json byte_level() {
  // "Ġ" is the byte-level stand-in for a space.
  return {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}, {"\xc4\xa0", 3}, {"\xc4\xa0" "ab", 4}}},
                     {"merges", {"a b", "\xc4\xa0 ab"}}}},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
          {"added_tokens", {{{"id", 5}, {"content", "<|end|>"}, {"special", true}}}}};
}

json spm_style() {
  return {{"model", {{"type", "BPE"}, {"byte_fallback", true}, {"unk_token", "<unk>"},
                     {"vocab", {{"<unk>", 0}, {"<s>", 1}, {"\xe2\x96\x81", 2}, {"a", 3}, {"b", 4}, {"ab", 5},
                                {"\xe2\x96\x81" "ab", 6}, {"<0x21>", 7}}},
                     {"merges", json::array({json::array({"a", "b"}), json::array({"\xe2\x96\x81", "ab"})})}}},
          {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "Prepend"}, {"prepend", "\xe2\x96\x81"}},
                                                                {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xe2\x96\x81"}}}}}},
          {"post_processor", {{"type", "TemplateProcessing"},
                              {"single", json::array({json::object({{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}),
                                                      json::object({{"Sequence", {{"id", "A"}, {"type_id", 0}}}})})}}},
          {"added_tokens", {{{"id", 1}, {"content", "<s>"}, {"special", true}}}}};
}

class TokenizerJsonFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ts_tokjson_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write_text(const std::string& text) {
    std::ofstream(dir_ / "tokenizer.json") << text;
    return (dir_ / "tokenizer.json").string();
  }
  std::string write(const json& j) { return write_text(j.dump()); }
  // The error reading (and building a tokenizer from) the file gives, or "ok".
  std::string error(const json& j) { return error_of(write(j)); }
  std::string error_of(const std::string& path) {
    try {
      Tokenizer tok(Vocab::from_tokenizer_json(path));
    } catch (const std::exception& e) {
      const std::string msg = e.what();
      EXPECT_TRUE(msg.find(dir_.string()) != std::string::npos || msg.find("pre-tokenizer") != std::string::npos) << msg;
      return msg;
    }
    return "ok";
  }
  fs::path dir_;
};

TEST_F(TokenizerJsonFile, ByteLevelBpe) {
  const Tokenizer tok(Vocab::from_tokenizer_json(write(byte_level())));
  EXPECT_EQ(tok.vocab().kind, VocabKind::kBytePairEncoding);
  EXPECT_EQ(tok.encode("ab ab", false, false), (std::vector<int32_t>{2, 4}));
  EXPECT_EQ(tok.encode("ab<|end|>", false, true), (std::vector<int32_t>{2, 5}));
  EXPECT_EQ(tok.decode({2, 4}), "ab ab");
  EXPECT_TRUE(tok.is_end_of_generation(5));
}

TEST_F(TokenizerJsonFile, ByteLevelWithoutRegexSplitsNothing) {
  json j = byte_level();
  j["pre_tokenizer"]["use_regex"] = false;
  const Tokenizer tok(Vocab::from_tokenizer_json(write(j)));
  // One word: "ab" + "Ġab" merge across what the regex would have split.
  EXPECT_EQ(tok.encode("ab ab", false, false), (std::vector<int32_t>{2, 4}));
}

TEST_F(TokenizerJsonFile, SentencePieceStyleBpe) {
  std::ofstream(dir_ / "tokenizer_config.json") << R"({"eos_token": {"content": "<unk>"}, "chat_template": "{{ x }}"})";
  const Tokenizer tok(Vocab::from_tokenizer_json(write(spm_style())));
  EXPECT_EQ(tok.vocab().kind, VocabKind::kSentencePiece);
  EXPECT_TRUE(tok.vocab().add_bos);
  EXPECT_EQ(tok.vocab().bos, 1);
  EXPECT_EQ(tok.vocab().eos, 0);
  EXPECT_EQ(tok.vocab().chat_template, "{{ x }}");
  // " ab" with the prepended marker, then "!" through byte fallback.
  EXPECT_EQ(tok.encode("ab!", true, false), (std::vector<int32_t>{1, 6, 7}));
  EXPECT_EQ(tok.decode({6, 7}), "ab!");
}

TEST_F(TokenizerJsonFile, DefectsAreNamed) {
  EXPECT_NE(error_of(write_text("{\"model\": ")).find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of(write_text("[1]")).find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of((dir_ / "missing.json").string()).find("cannot read"), std::string::npos);
  EXPECT_NE(error(json{{"x", 1}}).find("no model object"), std::string::npos);
  auto with_model = [](const char* key, json value) {
    json j = byte_level();
    j["model"][key] = std::move(value);
    return j;
  };
  EXPECT_NE(error(with_model("type", "WordPiece")).find("model type 'WordPiece'"), std::string::npos);
  EXPECT_NE(error(with_model("vocab", json::array())).find("model.vocab is not an object"), std::string::npos);
  EXPECT_NE(error(with_model("vocab", {{"a", -1}})).find("not a token id"), std::string::npos);
  EXPECT_NE(error(with_model("vocab", {{"a", "0"}})).find("not a token id"), std::string::npos);
  EXPECT_NE(error(with_model("vocab", {{"a", 4000000000u}})).find("not a token id"), std::string::npos);
  EXPECT_NE(error(with_model("vocab", {{"a", 0}, {"b", 900}})).find("ids reach 900"), std::string::npos);
  {
    json j = with_model("vocab", {{"a", 0}, {"b", 0}, {"c", 1}});
    j.erase("added_tokens");
    EXPECT_NE(error(j).find("given to two tokens"), std::string::npos);
  }
  EXPECT_NE(error(with_model("merges", "a b")).find("model.merges is not an array"), std::string::npos);
  EXPECT_NE(error(with_model("merges", {"ab"})).find("merges[0] = 'ab' has no space"), std::string::npos);
  EXPECT_NE(error(with_model("merges", {json::array({"a"})})).find("merges[0] is neither"), std::string::npos);
  {
    json j = byte_level();
    j["added_tokens"] = {{{"id", 0}, {"content", "zz"}}};
    EXPECT_NE(error(j).find("added token id 0 is 'a'"), std::string::npos);
    j["added_tokens"] = {{{"id", 6}}};
    EXPECT_NE(error(j).find("lacks id or content"), std::string::npos);
    j["added_tokens"] = 7;
    EXPECT_NE(error(j).find("added_tokens is not an array"), std::string::npos);
  }
  auto with = [](json base, const char* key, json value) {
    base[key] = std::move(value);
    return base;
  };
  EXPECT_NE(error(with(byte_level(), "normalizer", {{"type", "NFC"}})).find("normalizer 'NFC'"), std::string::npos);
  EXPECT_NE(error(with(byte_level(), "pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Whitespace"}}, {{"type", "ByteLevel"}}}}}))
                .find("pre-tokenizer 'Whitespace'"), std::string::npos);
  EXPECT_NE(error(with(byte_level(), "pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", true}})).find("add_prefix_space"),
            std::string::npos);
  const json split_removed = {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Removed"}};
  EXPECT_NE(error(with(byte_level(), "pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {split_removed, {{"type", "ByteLevel"}}}}}))
                .find("behavior 'Removed'"), std::string::npos);
  const json split_no_pattern = {{"type", "Split"}, {"behavior", "Isolated"}};
  EXPECT_NE(error(with(byte_level(), "pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {split_no_pattern, {{"type", "ByteLevel"}}}}}))
                .find("no Regex or String"), std::string::npos);
  const json split_bad_regex = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  EXPECT_NE(error(with(byte_level(), "pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {split_bad_regex, {{"type", "ByteLevel"}}}}}))
                .find("does not compile"), std::string::npos);
  EXPECT_NE(error(with(spm_style(), "normalizer", nullptr)).find("neither a byte-level BPE nor SentencePiece-style"), std::string::npos);
  EXPECT_NE(error(with(spm_style(), "normalizer", {{"type", "Lowercase"}})).find("normalizer 'Lowercase'"), std::string::npos);
  EXPECT_NE(error(with(spm_style(), "pre_tokenizer", {{"type", "Metaspace"}, {"split", true}})).find("Metaspace with split"),
            std::string::npos);
  {
    json j = spm_style();
    j["model"]["merges"] = {"a \xe2\x96\x81"};
    EXPECT_NE(error(j).find("not in the vocabulary"), std::string::npos);
    j = spm_style();
    j["post_processor"]["single"][0]["SpecialToken"]["id"] = "<bos>";
    EXPECT_NE(error(j).find("post_processor token '<bos>'"), std::string::npos);
  }
  std::ofstream(dir_ / "tokenizer_config.json") << R"({"eos_token": 5})";
  EXPECT_NE(error(spm_style()).find("eos_token is not a string"), std::string::npos);
  std::ofstream(dir_ / "tokenizer_config.json") << R"({"eos_token": "</s>"})";
  EXPECT_NE(error(spm_style()).find("eos_token '</s>' is not in the vocabulary"), std::string::npos);
}

// Random damage to valid tokenizer.json texts: each variant loads and tokenizes, or is refused
// with an error; nothing crashes (run under the sanitizers too).
TEST_F(TokenizerJsonFile, RandomlyDamagedFilesNeverCrash) {
  std::mt19937 rng(9);
  const std::string texts[] = {byte_level().dump(), spm_style().dump()};
  int loaded = 0, refused = 0;
  for (int trial = 0; trial < 600; ++trial) {
    std::string t = texts[trial % 2];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % t.size();
      switch (rng() % 3) {
        case 0: t[at] = static_cast<char>(rng() % 128); break;
        case 1: t.erase(at, 1 + rng() % 8); break;
        default: t.insert(at, 1, "0123456789\"[]{},:-"[rng() % 19]); break;
      }
    }
    try {
      const Tokenizer tok(Vocab::from_tokenizer_json(write_text(t)));
      (void)tok.encode("ab ab<|end|>!", true, true);
      (void)tok.decode({0, 1});
      ++loaded;
    } catch (const std::exception&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 100);
  std::printf("damaged tokenizer.json: %d loaded, %d refused\n", loaded, refused);
}

}  // namespace
}  // namespace ts
