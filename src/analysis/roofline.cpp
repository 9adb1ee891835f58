#include "analysis/roofline.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "analysis/model_summary.h"
#include "base/error.h"
#include "base/stream_alloc.h"
#include "base/timer.h"
#include "fmt/format.h"
#include "kernels/cpu_features.h"
#include "kernels/probe.h"
#include "model/config.h"

namespace ts {

namespace {

// Runs probe(thread) on every thread at once; returns the wall time in seconds.
template <typename F>
double timed_on_all(ThreadPool& pool, F&& probe) {
  const double t0 = now_ms();
  pool.parallel_for(static_cast<size_t>(pool.num_threads()), [&](size_t begin, size_t end, int) {
    for (size_t t = begin; t < end; ++t) probe(t);
  });
  return (now_ms() - t0) / 1000.0;
}

// GB/s of `passes` full reads of a buffer split over the threads; each thread reads its own
// slice, first touched by itself (so pages are local to it). The buffer is allocated as the
// packed weights are (huge pages): with 4 KiB pages the probe read ~4% less on Zen 5, and the
// limit decode is held to must be the best the weights' own kind of memory allows.
void read_passes(ThreadPool& pool, int64_t buffer_mib, int passes, std::vector<double>& gbs) {
  const auto T = static_cast<size_t>(pool.num_threads());
  const size_t slice = static_cast<size_t>(buffer_mib) * 1024 * 1024 / T / 256 * 256;
  auto* buf = static_cast<uint8_t*>(alloc_streamed(slice * T));
  if (buf == nullptr) fail("roofline: cannot allocate {} MiB", buffer_mib);
  timed_on_all(pool, [&](size_t t) { std::memset(buf + t * slice, 1, slice); });
  std::vector<float> sink(T);
  for (int rep = 0; rep < passes; ++rep) {
    const double s = timed_on_all(pool, [&](size_t t) { sink[t] += probe_read(buf + t * slice, slice); });
    gbs.push_back(static_cast<double>(slice * T) / s / 1e9);
  }
  std::free(buf);
  if (sink[0] == 12345.0f) std::fputc(' ', stderr);  // keeps the reads observable
}

}  // namespace

double measure_read_gb_s(ThreadPool& pool, int64_t buffer_mib, int passes) {
  std::vector<double> gbs;
  read_passes(pool, buffer_mib, std::max(passes, 1), gbs);
  return *std::max_element(gbs.begin(), gbs.end());
}

MachineLimits measure_machine(ThreadPool& pool, int64_t buffer_mib) {
  MachineLimits m;
  m.threads = pool.num_threads();
  m.isa = isa_name();
  const auto T = static_cast<size_t>(m.threads);
  std::vector<double> gbs;
  read_passes(pool, buffer_mib, kReadPasses, gbs);
  std::sort(gbs.begin(), gbs.end());
  m.read_gb_s = gbs.back();
  m.read_gb_s_median = gbs[gbs.size() / 2];

  // Compute probes: size the iteration count to ~0.2 s on one thread, then run all at once.
  auto calibrate = [](auto&& run) {
    uint64_t iters = 1 << 16;
    for (;;) {
      const double t0 = now_ms();
      run(iters, 0);
      if (now_ms() - t0 > 50.0 || iters > (1ull << 40)) return iters * 4;
      iters *= 2;
    }
  };
  // Best of 3 runs on all threads at once; 2 operations per multiply-add.
  std::vector<uint64_t> macs(T);
  auto peak = [&](auto&& probe, uint64_t iters) {
    double best = 0.0;
    for (int rep = 0; rep < 3; ++rep) {
      const double s = timed_on_all(pool, [&](size_t t) { macs[t] = probe(iters, t); });
      uint64_t total = 0;
      for (uint64_t x : macs) total += x;
      best = std::max(best, 2.0 * static_cast<double>(total) / s / 1e9);
    }
    return best;
  };
  // One result slot per thread: the probes' results must stay observable, and unshared.
  std::vector<int32_t> isinks(T);
  std::vector<float> fsinks(T);
  auto int8 = [&](uint64_t n, size_t t) { return probe_int8_macs(n, &isinks[t]); };
  auto f32 = [&](uint64_t n, size_t t) { return probe_f32_fmas(n, &fsinks[t]); };
  m.int8_gop_s = peak(int8, calibrate(int8));
  m.f32_gflop_s = peak(f32, calibrate(f32));
  if (isinks[0] == 12345 && fsinks[0] == 1.0f) std::fputc(' ', stderr);  // keeps the probes' results alive
  return m;
}

ModelCost model_cost(const gguf::GgufFile& file, int64_t context) {
  ModelCost c;
  c.name = summarize_model(file).name;
  c.context = context;
  const ModelConfig cfg = ModelConfig::from_gguf(file);
  const bool tied = file.find_tensor("output.weight") == nullptr;
  for (const auto& t : file.tensors()) {
    if (t.n_dims < 2) {
      c.weight_bytes_per_token += t.n_bytes;  // norms
      continue;
    }
    const bool embedding = t.name == "token_embd.weight";
    if (embedding && !tied) {
      c.weight_bytes_per_token += t.n_bytes / static_cast<uint64_t>(std::max<int64_t>(t.rows(), 1));
      continue;
    }
    c.weight_bytes_per_token += t.n_bytes;
    c.matmul_flop_per_token += 2.0 * static_cast<double>(t.n_elements);
  }
  // Per layer: scores q·k over `context` keys and the weighted sum of as many values.
  c.attn_flop_per_token = 4.0 * static_cast<double>(cfg.n_layer * cfg.q_dim() * context);
  return c;
}

Ceilings ceilings(const MachineLimits& m, const ModelCost& c) {
  Ceilings x;
  if (c.weight_bytes_per_token > 0) x.decode_tok_s = m.read_gb_s * 1e9 / static_cast<double>(c.weight_bytes_per_token);
  const double flop = c.matmul_flop_per_token + c.attn_flop_per_token;
  if (flop > 0) x.prefill_tok_s = m.int8_gop_s * 1e9 / flop;
  return x;
}

std::string roofline_markdown(const MachineLimits& m, const ModelCost* cost) {
  std::string s = fmt::format("| machine limit ({} threads, {}) | measured |\n| --- | ---: |\n", m.threads, m.isa);
  s += fmt::format("| memory read bandwidth | {:.1f} GB/s (median {:.1f}) |\n", m.read_gb_s, m.read_gb_s_median);
  s += fmt::format("| int8 multiply-add throughput | {:.0f} GOP/s |\n", m.int8_gop_s);
  s += fmt::format("| f32 FMA throughput | {:.0f} GFLOP/s |\n", m.f32_gflop_s);
  if (cost != nullptr) {
    const Ceilings x = ceilings(m, *cost);
    s += fmt::format("\n| {} | per token | ceiling |\n| --- | ---: | ---: |\n", cost->name);
    s += fmt::format("| decode: weight bytes read | {:.1f} MiB | {:.1f} tok/s (bandwidth) |\n",
                     static_cast<double>(cost->weight_bytes_per_token) / (1024.0 * 1024.0), x.decode_tok_s);
    s += fmt::format("| prefill: matmul + attention (ctx {}) | {:.2f} + {:.2f} GFLOP | {:.1f} tok/s (int8 peak) |\n",
                     cost->context, cost->matmul_flop_per_token / 1e9, cost->attn_flop_per_token / 1e9, x.prefill_tok_s);
  }
  return s;
}

}  // namespace ts
