#include "tokenizer/vocab.h"

#include <algorithm>

#include "base/error.h"
#include "formats/gguf/gguf_reader.h"

namespace ts {

Vocab Vocab::from_gguf(const gguf::GgufFile& f) {
  Vocab v;
  v.model_name = f.get_string("tokenizer.ggml.model");
  if (v.model_name == "llama") {
    v.kind = VocabKind::kSentencePiece;
  } else if (v.model_name == "gpt2") {
    v.kind = VocabKind::kBytePairEncoding;
  } else {
    fail("{}: tokenizer.ggml.model '{}' is not supported (supported: llama, gpt2)", f.path(), v.model_name);
  }
  v.tokens = f.get_string_array("tokenizer.ggml.tokens");
  const size_t n = v.tokens.size();
  if (n == 0) fail("{}: tokenizer.ggml.tokens is empty", f.path());
  if (n > static_cast<size_t>(INT32_MAX)) fail("{}: tokenizer.ggml.tokens has {} entries", f.path(), n);

  v.scores.assign(n, 0.0f);
  if (f.find("tokenizer.ggml.scores")) {
    const auto& s = f.get_float_array("tokenizer.ggml.scores");
    if (s.size() != n) fail("{}: tokenizer.ggml.scores has {} entries for {} tokens", f.path(), s.size(), n);
    for (size_t i = 0; i < n; ++i) v.scores[i] = static_cast<float>(s[i]);
  }
  v.types.assign(n, TokenType::kNormal);
  if (f.find("tokenizer.ggml.token_type")) {
    const auto& t = f.get_int_array("tokenizer.ggml.token_type");
    if (t.size() != n) fail("{}: tokenizer.ggml.token_type has {} entries for {} tokens", f.path(), t.size(), n);
    for (size_t i = 0; i < n; ++i) {
      if (t[i] < 0 || t[i] > 6) fail("{}: tokenizer.ggml.token_type[{}] = {} is not a token type", f.path(), i, t[i]);
      v.types[i] = static_cast<TokenType>(t[i]);
    }
  }
  v.token_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) v.token_to_id.emplace(v.tokens[i], static_cast<int32_t>(i));  // first wins

  if (v.kind == VocabKind::kBytePairEncoding) {
    v.pre = f.get_string("tokenizer.ggml.pre", "default");
    const auto& merges = f.get_string_array("tokenizer.ggml.merges");
    v.merge_rank.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      const size_t space = merges[i].find(' ', 1);
      if (space == std::string::npos) fail("{}: tokenizer.ggml.merges[{}] = '{}' has no space", f.path(), i, merges[i]);
      v.merge_rank.emplace(merges[i], static_cast<int32_t>(i));
    }
  }

  auto read_id = [&](const char* key, int32_t fallback) -> int32_t {
    if (!f.find(key)) return fallback;
    const int64_t id = f.get_int(key);
    if (!v.valid_id(id)) fail("{}: {} = {} is outside the vocabulary of {} tokens", f.path(), key, id, n);
    return static_cast<int32_t>(id);
  };
  const bool spm = v.kind == VocabKind::kSentencePiece;
  v.bos = read_id("tokenizer.ggml.bos_token_id", spm && n > 1 ? 1 : -1);
  v.eos = read_id("tokenizer.ggml.eos_token_id", spm && n > 2 ? 2 : -1);
  v.unk = read_id("tokenizer.ggml.unknown_token_id", spm ? 0 : -1);
  v.eot = read_id("tokenizer.ggml.eot_token_id", -1);
  v.eom = read_id("tokenizer.ggml.eom_token_id", -1);
  v.pad = read_id("tokenizer.ggml.padding_token_id", -1);
  v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token", spm);
  v.add_eos = f.get_bool("tokenizer.ggml.add_eos_token", false);
  v.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix", spm);
  if (v.add_bos && v.bos < 0) fail("{}: tokenizer.ggml.add_bos_token is set but there is no BOS token", f.path());
  v.chat_template = f.get_string("tokenizer.chat_template", "");

  v.collect_end_of_generation();
  return v;
}

void Vocab::collect_end_of_generation() {
  // The declared ids plus the end-of-turn markers chat models use.
  end_of_generation.clear();
  for (int32_t id : {eos, eot, eom}) {
    if (id >= 0) end_of_generation.push_back(id);
  }
  for (const char* text : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
                           "<|end_of_text|>", "<|return|>"}) {
    auto it = token_to_id.find(text);
    if (it != token_to_id.end() && type(it->second) == TokenType::kControl &&
        std::find(end_of_generation.begin(), end_of_generation.end(), it->second) == end_of_generation.end()) {
      end_of_generation.push_back(it->second);
    }
  }
}

}  // namespace ts
