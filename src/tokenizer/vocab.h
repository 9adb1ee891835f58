#pragma once
// A tokenizer vocabulary as stored in GGUF metadata (tokenizer.ggml.*).
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace ts {
namespace gguf { class GgufFile; }

enum class TokenType : int32_t {
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};

enum class VocabKind { kSentencePiece, kBytePairEncoding };

struct Vocab {
  VocabKind kind = VocabKind::kSentencePiece;
  std::string model_name;                // tokenizer.ggml.model
  std::string pre;                       // tokenizer.ggml.pre (BPE only)
  // Explicit pre-tokenizer regexes (a tokenizer.json's Split/ByteLevel/Digits steps), matched
  // with full Unicode properties; when explicit_pre they replace the named list of `pre` (an
  // empty list then splits nothing).
  std::vector<std::string> pre_patterns;
  bool explicit_pre = false;
  std::vector<std::string> tokens;       // [n_vocab]
  std::vector<float> scores;             // [n_vocab], SentencePiece merge priorities; -inf: never a merge result
  std::vector<TokenType> types;          // [n_vocab]
  std::unordered_map<std::string, int32_t> token_to_id;
  std::unordered_map<std::string, int32_t> merge_rank;  // "left right" -> rank (BPE)
  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
  std::string chat_template;             // tokenizer.chat_template, may be empty
  std::vector<int32_t> end_of_generation;  // every id that ends a generation

  int32_t size() const { return static_cast<int32_t>(tokens.size()); }
  bool valid_id(int64_t id) const { return id >= 0 && id < static_cast<int64_t>(tokens.size()); }
  TokenType type(int32_t id) const { return types[static_cast<size_t>(id)]; }

  // Reads and validates the vocabulary; throws naming the key or value that is wrong.
  static Vocab from_gguf(const gguf::GgufFile& file);
  // A Hugging Face tokenizer.json (BPE model: byte-level, or with byte fallback as converted
  // from SentencePiece), with bos/eos and the chat template from tokenizer_config.json beside
  // it when present. Throws naming the file and the field that is wrong or unsupported.
  static Vocab from_tokenizer_json(const std::string& path);

  // Fills end_of_generation from eos/eot/eom and the end-of-turn tokens chat models use.
  void collect_end_of_generation();
};

}  // namespace ts
