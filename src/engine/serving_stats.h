#pragma once
// Counters, gauges and latency histograms of the serving engine (what /metrics exports).
#include <cstdint>
#include <vector>

namespace ts {

// Prometheus-style histogram: counts[i] observations <= bounds[i] (not cumulative here), the last
// count for everything above the largest bound.
struct Histogram {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;  // [bounds.size() + 1]
  double sum = 0.0;
  uint64_t count = 0;

  explicit Histogram(std::vector<double> upper_bounds = {})
      : bounds(std::move(upper_bounds)), counts(bounds.size() + 1, 0) {}
  void observe(double v) {
    size_t i = 0;
    while (i < bounds.size() && v > bounds[i]) ++i;
    ++counts[i];
    sum += v;
    ++count;
  }
};

struct EngineStats {
  // Requests by how they ended.
  int64_t finished_stop = 0, finished_length = 0, finished_abort = 0;
  int64_t prompt_tokens = 0;       // admitted prompt tokens
  int64_t generation_tokens = 0;   // sampled tokens
  int64_t computed_tokens = 0;     // tokens run through the model (prompts, recomputes, decodes)
  int64_t steps = 0;
  int64_t running = 0, waiting = 0;
  int64_t kv_blocks_total = 0, kv_blocks_used = 0, kv_block_size = 0;
  int64_t preemptions = 0;
  int64_t prefix_queries = 0, prefix_hits = 0;  // blocks looked up / found in the prefix cache
  // Seconds: time to first token, time per output token after the first, whole request.
  Histogram ttft{{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
  Histogram tpot{{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};
  Histogram e2e{{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}};
};

}  // namespace ts
