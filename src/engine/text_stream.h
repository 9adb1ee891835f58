#pragma once
// Turns generated tokens into text that is safe to stream: complete UTF-8 only, and nothing that
// might be the start of a stop string until it is known not to be one. Shared by single-sequence
// generation and the serving engine so both stream identical text.
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ts {

class StopTextStream {
 public:
  StopTextStream(const Tokenizer& tokenizer, std::vector<std::string> stop);

  // Adds a token's text; returns the text that may be emitted now. Once a stop string appears,
  // the text is cut before it and stopped() turns true.
  std::string push(int32_t id);
  // Everything still held back (call when generation ends for any reason but a stop string).
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  const Tokenizer& tokenizer_;
  std::vector<std::string> stop_;
  Utf8Stream utf8_;
  std::string pending_;  // decoded text not yet emitted (may hold the start of a stop string)
  bool stopped_ = false;
};

// Length of the longest suffix of text that is a proper prefix of some stop string (text that
// must be held back while streaming because a stop string may be starting).
size_t stop_prefix_holdback(const std::string& text, const std::vector<std::string>& stop);

}  // namespace ts
