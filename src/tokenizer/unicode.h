#pragma once
// UTF-8 and the Unicode facts tokenizers need.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ts {

// Length of the UTF-8 sequence introduced by lead byte c (1 for stray continuation bytes).
int utf8_sequence_length(uint8_t c);

// Decodes UTF-8; invalid bytes decode as U+FFFD, one per byte, so nothing is dropped.
std::vector<uint32_t> utf8_to_codepoints(std::string_view text);
void append_utf8(std::string& out, uint32_t cp);
std::string codepoints_to_utf8(const std::vector<uint32_t>& cps, size_t begin, size_t end);

// Number of bytes at the end of s that form an incomplete (but so far valid) UTF-8 sequence.
size_t incomplete_utf8_suffix(std::string_view s);

struct CodepointClass {
  bool letter = false;
  bool number = false;
  bool punctuation = false;
  bool whitespace = false;
};
CodepointClass classify_codepoint(uint32_t cp);

// GPT-2 byte-level BPE: every byte maps to a printable codepoint and back.
uint32_t byte_to_unicode(uint8_t b);
// -1 if cp is not the image of a byte.
int unicode_to_byte(uint32_t cp);
std::string bytes_to_unicode_text(std::string_view bytes);

}  // namespace ts
