#pragma once
// Text <-> token ids for SentencePiece-style and byte-level BPE vocabularies, following the
// conventions of llama.cpp's tokenizer so that ids can be compared one for one.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab.h"

namespace ts {

class Tokenizer {
 public:
  explicit Tokenizer(Vocab vocab);

  // add_special: prepend BOS / append EOS as the vocabulary asks. parse_special: control tokens
  // written in the text (e.g. "<|im_start|>") become their ids; otherwise they are plain text.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes a token stands for (may be part of a UTF-8 sequence). Control tokens give "" unless
  // render_special.
  std::string token_to_piece(int32_t id, bool render_special = false) const;
  // Concatenated pieces; drops the space a SentencePiece vocabulary prefixes to the text.
  std::string decode(const std::vector<int32_t>& ids, bool render_special = false) const;

  bool is_end_of_generation(int32_t id) const;
  const Vocab& vocab() const { return vocab_; }
  int32_t size() const { return vocab_.size(); }

 private:
  void encode_spm(const std::string& text, std::vector<int32_t>& out) const;
  void encode_bpe(std::string_view text, std::vector<int32_t>& out) const;
  int32_t byte_token(uint8_t byte) const;

  Vocab vocab_;
  std::unique_ptr<PreTokenizer> pre_;
  std::vector<int32_t> special_ids_;  // longest text first, for splitting text around them
};

// Streams decoded text: holds back an incomplete UTF-8 sequence until its last byte arrives.
class Utf8Stream {
 public:
  // Returns the text that is complete after appending piece.
  std::string push(std::string_view piece);
  // Whatever is held back at the end (invalid UTF-8 would otherwise be lost).
  std::string flush();

 private:
  std::string pending_;
};

}  // namespace ts
