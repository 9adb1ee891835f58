#include <gtest/gtest.h>

#include "formats/gguf/gguf_reader.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace ts {
namespace {

const std::string kVocabDir = std::string(TS_SHARED_DIR) + "/testdata/vocab";

Tokenizer load(const std::string& name) {
  auto f = gguf::GgufFile::open(kVocabDir + "/ggml-vocab-" + name + ".gguf");
  return Tokenizer(Vocab::from_gguf(*f));
}

TEST(Tokenizer, SpmAddsBosAndParsesSpecialOnlyWhenAsked) {
  Tokenizer tok = load("llama-spm");
  const auto with = tok.encode("Hello</s>", true, true);
  ASSERT_GE(with.size(), 3u);
  EXPECT_EQ(with.front(), tok.vocab().bos);
  EXPECT_EQ(with.back(), tok.vocab().eos);
  const auto without = tok.encode("Hello</s>", true, false);
  EXPECT_NE(without.back(), tok.vocab().eos);
  EXPECT_EQ(tok.decode(without), "Hello</s>");
}

TEST(Tokenizer, EmptyTextGivesNoTokens) {
  Tokenizer tok = load("llama-spm");
  EXPECT_TRUE(tok.encode("", false, false).empty());
  EXPECT_EQ(tok.encode("", true, false), std::vector<int32_t>{tok.vocab().bos});
}

TEST(Tokenizer, InvalidUtf8IsKeptAsBytes) {
  for (const char* name : {"llama-spm", "gpt-2"}) {
    Tokenizer tok = load(name);
    const std::string bad = "a\xff\xfe b\xc3";
    EXPECT_EQ(tok.decode(tok.encode(bad, false, false)), bad) << name;
  }
}

TEST(Tokenizer, RejectsOutOfRangeIds) {
  Tokenizer tok = load("gpt-2");
  EXPECT_THROW(tok.token_to_piece(-1), std::exception);
  EXPECT_THROW(tok.token_to_piece(tok.size()), std::exception);
}

TEST(Utf8Stream, HoldsBackIncompleteSequences) {
  Utf8Stream s;
  EXPECT_EQ(s.push("a\xe2\x82"), "a");  // first two bytes of the euro sign
  EXPECT_EQ(s.push("\xac!"), "\xe2\x82\xac!");
  EXPECT_EQ(s.push("\xf0\x9f"), "");
  EXPECT_EQ(s.flush(), "\xf0\x9f");
}

TEST(ChatTemplate, DetectsFamiliesAndFormats) {
  EXPECT_EQ(ChatTemplate::detect("{% for m in messages %}<|im_start|>...").family, ChatFamily::kChatML);
  EXPECT_EQ(ChatTemplate::detect("<|user|>\n{{ m }}</s>").family, ChatFamily::kZephyr);
  EXPECT_EQ(ChatTemplate::detect("[INST] {{ m }} [/INST]").family, ChatFamily::kLlama2);
  EXPECT_EQ(ChatTemplate::detect("<start_of_turn>user").family, ChatFamily::kGemma);
  ChatTemplate chatml = ChatTemplate::detect("<|im_start|>");
  EXPECT_EQ(chatml.apply({{"user", "Hi"}}, true), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  ChatTemplate gemma = ChatTemplate::detect("<start_of_turn>");
  EXPECT_EQ(gemma.apply({{"system", "S"}, {"user", "Hi"}}, true),
            "<start_of_turn>user\nS\n\nHi<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_THROW(chatml.apply({{"robot", "x"}}, true), std::exception);
}

}  // namespace
}  // namespace ts
