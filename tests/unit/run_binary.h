#pragma once
// Runs the tinyserve binary (TS_BINARY, set by tests/CMakeLists.txt) with arguments through the
// shell and collects its exit status and its output, stdout and stderr together.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace ts::test {

struct RunResult {
  int status;
  std::string output;
};

// env: assignments put before the command ("TINYSERVE_ISA=scalar"), or empty.
inline RunResult run_binary(const std::string& args, const std::string& env = "") {
  const std::string cmd = (env.empty() ? "" : env + " ") + std::string(TS_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, "popen failed: " + cmd};
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace ts::test
