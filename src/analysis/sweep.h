#pragma once
// Context sweep: how TTFT, prefill speed, per-token decode latency, peak memory and KV size
// grow with context. One CSV row per context length (fixed columns), one PNG plot per metric
// (gnuplot), and a Markdown report with an automatic summary.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/model.h"

namespace ts {

struct SweepRow {
  std::string model;
  int threads = 0;
  int64_t ctx = 0;
  int64_t prompt_tokens = 0;
  int64_t gen_tokens = 0;
  double ttft_ms = 0;          // prefill of the prompt + sampling the first token
  double prefill_tok_s = 0;
  double decode_ms = 0;        // gen_tokens single-token steps, sampling included
  double decode_ms_per_tok = 0;
  double decode_tok_s = 0;
  double peak_rss_gb = 0;      // process peak so far (getrusage), so it never decreases
  double kv_est_mb = 0;        // 2 x layers x ctx x kv_dim x bytes per element, from the config
  double kv_measured_mb = 0;   // what the cache allocated
};

// The CSV header: model,threads,ctx,prompt_tokens,gen_tokens,ttft_ms,... (fixed order).
extern const char* const kSweepCsvHeader;
std::string sweep_csv(const std::vector<SweepRow>& rows);

struct SweepOptions {
  std::vector<int64_t> contexts;
  int64_t gen_tokens = 64;
  uint64_t seed = 1;
};

// progress(done, total, ctx) is called before each context and once at the end.
std::vector<SweepRow> run_sweep(Model& model, const std::string& model_name, int threads, const SweepOptions& o,
                                const std::function<void(size_t, size_t, int64_t)>& progress);

// "decode per-token latency grows 1.3x from 512 to 4096 while TTFT grows 9.8x; ..."
std::string sweep_summary(const std::vector<SweepRow>& rows);

// Writes sweep.csv, one PNG per metric (when gnuplot is on PATH) and report.md into dir.
// Returns the files written; notes why plots were skipped in the report.
std::vector<std::string> write_sweep_report(const std::vector<SweepRow>& rows, const std::string& dir, bool plots);

}  // namespace ts
