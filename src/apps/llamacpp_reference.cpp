#include "apps/llamacpp_reference.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "base/error.h"

namespace ts {

namespace {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

nlohmann::json run_llamacpp_reference(const std::string& model, const std::string& script_args) {
  if (!std::filesystem::is_regular_file(model)) {
    fail("--vs-llamacpp needs a GGUF file (llama.cpp reads no Hugging Face checkpoints): {}", model);
  }
  const std::string out =
      (std::filesystem::temp_directory_path() / fmt::format("tinyserve-llamacpp-{}.json", ::getpid())).string();
  const std::string cmd = fmt::format("python3 {} -m {} {} --llamacpp-only --json {} >&2", shell_quote(TS_COMPARE_SCRIPT),
                                      shell_quote(model), script_args, shell_quote(out));
  std::fprintf(stderr, "running llama.cpp: %s\n", cmd.c_str());
  if (std::system(cmd.c_str()) != 0) {
    std::filesystem::remove(out);
    fail("--vs-llamacpp: the llama.cpp run failed (it needs llama-cpp-python: scripts/setup --tooling)");
  }
  std::ifstream in(out);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  std::filesystem::remove(out);
  if (j.is_discarded() || !j.is_object()) fail("--vs-llamacpp: unreadable llama.cpp results");
  return j;
}

}  // namespace ts
