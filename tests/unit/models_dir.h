#pragma once
// Where scripts/fetch-models and scripts/make-checkpoints.py put models: TINYSERVE_MODELS, else
// ~/.cache/tinyserve (as the Makefile's MODELS).
#include <cstdlib>
#include <string>

namespace ts::test {

inline std::string models_dir() {
  if (const char* env = std::getenv("TINYSERVE_MODELS")) return env;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.cache/tinyserve";
}

}  // namespace ts::test
