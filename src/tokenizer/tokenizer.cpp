#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cmath>
#include <queue>

#include "base/error.h"
#include "tokenizer/unicode.h"

namespace ts {

namespace {

const std::string kSpaceMarker = "\xe2\x96\x81";  // U+2581, SentencePiece's visible space

struct Symbol {
  int prev;
  int next;
  size_t start;  // byte offset into the word
  size_t len;
};

// A fragment of the input: raw text, or a special token already resolved to its id.
struct Fragment {
  int32_t token;  // -1 for text
  std::string_view text;
};

}  // namespace

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
  if (vocab_.kind == VocabKind::kBytePairEncoding) {
    pre_ = vocab_.explicit_pre ? std::make_unique<PreTokenizer>(vocab_.pre, vocab_.pre_patterns)
                               : std::make_unique<PreTokenizer>(vocab_.pre);
  }
  for (int32_t id = 0; id < vocab_.size(); ++id) {
    const TokenType t = vocab_.type(id);
    if ((t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown) &&
        !vocab_.tokens[static_cast<size_t>(id)].empty()) {
      special_ids_.push_back(id);
    }
  }
  std::stable_sort(special_ids_.begin(), special_ids_.end(), [this](int32_t a, int32_t b) {
    return vocab_.tokens[static_cast<size_t>(a)].size() > vocab_.tokens[static_cast<size_t>(b)].size();
  });
}

bool Tokenizer::is_end_of_generation(int32_t id) const {
  return std::find(vocab_.end_of_generation.begin(), vocab_.end_of_generation.end(), id) !=
         vocab_.end_of_generation.end();
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({-1, text});
  // User-defined tokens are always matched as units; control tokens only when asked.
  for (int32_t id : special_ids_) {
    if (!parse_special && vocab_.type(id) != TokenType::kUserDefined) continue;
    const std::string& special = vocab_.tokens[static_cast<size_t>(id)];
    std::vector<Fragment> next;
    for (const Fragment& f : fragments) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t pos = 0;
      for (;;) {
        const size_t hit = f.text.find(special, pos);
        if (hit == std::string_view::npos) break;
        if (hit > pos) next.push_back({-1, f.text.substr(pos, hit - pos)});
        next.push_back({id, {}});
        pos = hit + special.size();
      }
      if (pos < f.text.size()) next.push_back({-1, f.text.substr(pos)});
    }
    fragments = std::move(next);
  }

  std::vector<int32_t> out;
  if (add_special && vocab_.add_bos) out.push_back(vocab_.bos);
  bool prev_special = true;  // SentencePiece prefixes a space to text at the start or after a special token
  for (const Fragment& f : fragments) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    if (vocab_.kind == VocabKind::kSentencePiece) {
      std::string s;
      if (vocab_.add_space_prefix && prev_special) s = " ";
      s.append(f.text);
      std::string escaped;
      for (char c : s) {
        if (c == ' ') escaped += kSpaceMarker;
        else escaped += c;
      }
      encode_spm(escaped, out);
    } else {
      encode_bpe(f.text, out);
    }
    prev_special = false;
  }
  if (add_special && vocab_.add_eos && vocab_.eos >= 0) out.push_back(vocab_.eos);
  return out;
}

int32_t Tokenizer::byte_token(uint8_t byte) const {
  char buf[8];
  std::snprintf(buf, sizeof buf, "<0x%02X>", byte);
  auto it = vocab_.token_to_id.find(buf);
  if (it != vocab_.token_to_id.end()) return it->second;
  it = vocab_.token_to_id.find(std::string(1, static_cast<char>(byte)));
  if (it != vocab_.token_to_id.end()) return it->second;
  return vocab_.unk;
}

void Tokenizer::encode_spm(const std::string& text, std::vector<int32_t>& out) const {
  // Symbols start as single UTF-8 characters; the adjacent pair whose concatenation is the
  // highest-scoring vocabulary entry merges first (leftmost on ties), until no pair is in the vocabulary.
  std::vector<Symbol> sym;
  for (size_t off = 0; off < text.size();) {
    const size_t len = std::min<size_t>(static_cast<size_t>(utf8_sequence_length(static_cast<uint8_t>(text[off]))),
                                        text.size() - off);
    const int idx = static_cast<int>(sym.size());
    sym.push_back({idx - 1, off + len == text.size() ? -1 : idx + 1, off, len});
    off += len;
  }
  struct Bigram {
    int left, right;
    float score;
    size_t size;
  };
  auto cmp = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(cmp)> queue(cmp);
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string s = text.substr(sym[static_cast<size_t>(left)].start,
                                      sym[static_cast<size_t>(left)].len + sym[static_cast<size_t>(right)].len);
    auto it = vocab_.token_to_id.find(s);
    if (it == vocab_.token_to_id.end()) return;
    const float score = vocab_.scores[static_cast<size_t>(it->second)];
    if (std::isinf(score) && score < 0) return;  // a piece no merge produces (tokenizer.json merges)
    queue.push({left, right, score, s.size()});
  };
  for (size_t i = 1; i < sym.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[static_cast<size_t>(b.left)];
    Symbol& r = sym[static_cast<size_t>(b.right)];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.size) continue;  // stale
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[static_cast<size_t>(r.next)].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  // A merged symbol is always a vocabulary entry; a single character that is not becomes its
  // byte tokens (byte fallback).
  for (int i = sym.empty() ? -1 : 0; i != -1; i = sym[static_cast<size_t>(i)].next) {
    const Symbol& s = sym[static_cast<size_t>(i)];
    if (s.len == 0) continue;
    const std::string piece = text.substr(s.start, s.len);
    auto it = vocab_.token_to_id.find(piece);
    if (it != vocab_.token_to_id.end()) {
      out.push_back(it->second);
    } else {
      for (char c : piece) out.push_back(byte_token(static_cast<uint8_t>(c)));
    }
  }
}

void Tokenizer::encode_bpe(std::string_view text, std::vector<int32_t>& out) const {
  for (const std::string& raw_word : pre_->split(text)) {
    const std::string word = bytes_to_unicode_text(raw_word);
    std::vector<Symbol> sym;
    for (size_t off = 0; off < word.size();) {
      const size_t len = std::min<size_t>(
          static_cast<size_t>(utf8_sequence_length(static_cast<uint8_t>(word[off]))), word.size() - off);
      const int idx = static_cast<int>(sym.size());
      sym.push_back({idx - 1, off + len == word.size() ? -1 : idx + 1, off, len});
      off += len;
    }
    struct Bigram {
      int left, right;
      int32_t rank;
      std::string text;
    };
    auto cmp = [](const Bigram& a, const Bigram& b) {
      return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    };
    std::priority_queue<Bigram, std::vector<Bigram>, decltype(cmp)> queue(cmp);
    auto piece = [&](int i) {
      return word.substr(sym[static_cast<size_t>(i)].start, sym[static_cast<size_t>(i)].len);
    };
    auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      const std::string a = piece(left), b = piece(right);
      auto it = vocab_.merge_rank.find(a + " " + b);
      if (it == vocab_.merge_rank.end()) return;
      queue.push({left, right, it->second, a + b});
    };
    for (size_t i = 1; i < sym.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
    while (!queue.empty()) {
      const Bigram b = queue.top();
      queue.pop();
      Symbol& l = sym[static_cast<size_t>(b.left)];
      Symbol& r = sym[static_cast<size_t>(b.right)];
      if (l.len == 0 || r.len == 0) continue;
      if (piece(b.left) + piece(b.right) != b.text) continue;  // stale
      l.len += r.len;
      r.len = 0;
      l.next = r.next;
      if (r.next >= 0) sym[static_cast<size_t>(r.next)].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (const Symbol& s : sym) {
      if (s.len == 0) continue;
      const std::string p = word.substr(s.start, s.len);
      auto it = vocab_.token_to_id.find(p);
      if (it != vocab_.token_to_id.end()) {
        out.push_back(it->second);
        continue;
      }
      // Not in the vocabulary: fall back to single-byte entries where they exist.
      for (char c : p) {
        auto bt = vocab_.token_to_id.find(std::string(1, c));
        if (bt != vocab_.token_to_id.end()) out.push_back(bt->second);
      }
    }
  }
}

std::string Tokenizer::token_to_piece(int32_t id, bool render_special) const {
  if (!vocab_.valid_id(id)) fail("token id {} is outside the vocabulary of {} tokens", id, vocab_.size());
  const std::string& text = vocab_.tokens[static_cast<size_t>(id)];
  switch (vocab_.type(id)) {
    case TokenType::kControl:
      return render_special ? text : std::string();
    case TokenType::kUserDefined:
      return text;
    case TokenType::kUnknown:
      return vocab_.kind == VocabKind::kSentencePiece ? std::string("\xe2\x96\x85") : text;
    case TokenType::kByte:
      if (vocab_.kind == VocabKind::kSentencePiece && text.size() == 6 && text.rfind("<0x", 0) == 0) {
        return std::string(1, static_cast<char>(std::stoi(text.substr(3, 2), nullptr, 16)));
      }
      break;
    default:
      break;
  }
  if (vocab_.kind == VocabKind::kSentencePiece) {
    std::string out;
    for (size_t pos = 0; pos < text.size();) {
      if (text.compare(pos, kSpaceMarker.size(), kSpaceMarker) == 0) {
        out += ' ';
        pos += kSpaceMarker.size();
      } else {
        out += text[pos++];
      }
    }
    return out;
  }
  std::string out;
  for (uint32_t cp : utf8_to_codepoints(text)) {
    const int b = unicode_to_byte(cp);
    if (b >= 0) out.push_back(static_cast<char>(b));
    else append_utf8(out, cp);
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool render_special) const {
  std::string out;
  for (int32_t id : ids) out += token_to_piece(id, render_special);
  if (vocab_.kind == VocabKind::kSentencePiece && vocab_.add_space_prefix && !out.empty() && out[0] == ' ') {
    out.erase(0, 1);
  }
  return out;
}

std::string Utf8Stream::push(std::string_view piece) {
  pending_.append(piece);
  const size_t hold = incomplete_utf8_suffix(pending_);
  std::string ready = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return ready;
}

std::string Utf8Stream::flush() { return std::exchange(pending_, std::string()); }

}  // namespace ts
