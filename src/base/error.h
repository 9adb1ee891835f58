#pragma once
// Errors: every failure is an exception whose message names what was wrong (file, field, value).
#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace ts {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace ts
