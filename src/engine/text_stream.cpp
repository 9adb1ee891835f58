#include "engine/text_stream.h"

#include <algorithm>

#include "base/error.h"

namespace ts {

size_t stop_prefix_holdback(const std::string& text, const std::vector<std::string>& stop) {
  size_t hold = 0;
  for (const std::string& s : stop) {
    for (size_t len = std::min(s.size() - 1, text.size()); len > hold; --len) {
      if (text.compare(text.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  return hold;
}

StopTextStream::StopTextStream(const Tokenizer& tokenizer, std::vector<std::string> stop)
    : tokenizer_(tokenizer), stop_(std::move(stop)) {
  for (const auto& s : stop_) {
    if (s.empty()) fail("stop strings must not be empty");
  }
}

std::string StopTextStream::push(int32_t id) {
  if (stopped_) return {};
  pending_ += utf8_.push(tokenizer_.token_to_piece(id));
  size_t cut = std::string::npos;
  for (const auto& s : stop_) cut = std::min(cut, pending_.find(s));
  if (cut != std::string::npos) {
    pending_.resize(cut);
    stopped_ = true;
    return std::exchange(pending_, {});
  }
  const size_t hold = stop_prefix_holdback(pending_, stop_);
  std::string ready = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return ready;
}

std::string StopTextStream::flush() {
  if (stopped_) return {};
  pending_ += utf8_.flush();
  return std::exchange(pending_, {});
}

}  // namespace ts
