#pragma once
// The core issue's end-to-end check of the fast kernels: the default path's next-token
// distributions against the scalar reference path's (TINYSERVE_ISA=scalar). The kernel table is
// chosen once per process, so each path runs as its own `perplexity` process over the same
// tokens: the scalar one writes the base log-probabilities, the default one compares with them.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>

#include "../run_binary.h"

namespace ts::test {

// The issue's bound on the mean KL divergence between the two paths.
constexpr double kFastVsScalarMaxMeanKl = 0.002;

// NaN where a run failed or its output could not be read, so that every bound on it fails. (A
// mean KL may print slightly below zero: each position's estimate carries rounding.)
struct FastVsScalar {
  double mean_kl = std::nan("");   // the default path against the scalar one
  double max_kl = std::nan("");
  double same_top = std::nan("");  // fraction of positions with the same most likely token
};

inline double printed_number(const std::string& output, const char* pattern) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex(pattern))) {
    ADD_FAILURE() << "no match for '" << pattern << "' in:\n" << output;
    return std::nan("");
  }
  return std::stod(m[1].str());
}

// Both paths over `chunks` chunks of `ctx` tokens of the fixture text, 2 threads.
inline FastVsScalar fast_against_scalar(const std::string& model, int ctx, int chunks) {
  const std::string base = (std::filesystem::temp_directory_path() /
                            ("ts_fast_vs_scalar_" + std::to_string(getpid()) + ".kld")).string();
  const std::string args = "perplexity -m " + model + " -f " + std::string(TS_FIXTURES_DIR) +
                           "/public_domain_text.txt -c " + std::to_string(ctx) + " --chunks " +
                           std::to_string(chunks) + " -t 2 --kl-divergence-base " + base;
  FastVsScalar r;
  const RunResult scalar = run_binary(args, "TINYSERVE_ISA=scalar");
  EXPECT_EQ(scalar.status, 0) << scalar.output;
  if (scalar.status == 0) {
    const RunResult fast = run_binary(args + " --kl-divergence");
    EXPECT_EQ(fast.status, 0) << fast.output;
    r.mean_kl = printed_number(fast.output, R"(Mean\s+KLD:\s+([0-9.eE+-]+))");
    r.max_kl = printed_number(fast.output, R"(Maximum KLD:\s+([0-9.eE+-]+))");
    r.same_top = printed_number(fast.output, R"(Same top p:\s+([0-9.]+))") / 100.0;
    std::printf("fast against scalar, %s: mean KL %.6f, max KL %.6f, same top %.4f\n", model.c_str(), r.mean_kl,
                r.max_kl, r.same_top);
  }
  std::filesystem::remove(base);
  return r;
}

}  // namespace ts::test
