// Micro-benchmarks of one decode step's attention for one KV group, per numerics twin (scalar
// reference, AVX2, AVX-512 where the CPU has them): TinyLlama-1.1B's eight query heads of 64
// dims sharing one f16 KV head, keys and values in 16-token blocks as the paged cache holds
// them, over 128 to 4096 positions. Times scores, softmax, the f16 rounding of the
// probabilities and the weighted sums of values, as Decoder::attention runs them; and, as
// `decode_group_online`, the online softmax (--attention online): each run of 64 keys and values
// widened to f32 once, then online_attention for the eight heads.
// Reports positions per second (each position is read by all eight heads).
//
//   build/bin/bench_attention --benchmark_filter=avx512
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "base/fp16.h"
#include "kernels/numerics.h"

namespace ts {
namespace {

constexpr int64_t kHeads = 8;       // query heads per KV head
constexpr int64_t kHeadDim = 64;
constexpr int64_t kBlockTokens = 16;

// One KV head's keys and values, f16, in scattered 16-token blocks as a busy paged cache leaves
// them, and eight query heads.
struct DecodeGroup {
  int64_t n_ctx;
  std::vector<uint16_t> keys, values;  // [blocks, 16, head_dim]
  std::vector<int32_t> table;          // [blocks]
  std::vector<float> q;                // [heads, head_dim]
  explicit DecodeGroup(int64_t n) : n_ctx(n) {
    std::mt19937 rng(3);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    const int64_t n_blocks = (n_ctx + kBlockTokens - 1) / kBlockTokens;
    keys.resize(static_cast<size_t>(n_blocks * kBlockTokens * kHeadDim));
    values.resize(keys.size());
    for (auto& x : keys) x = f32_to_fp16(dist(rng));
    for (auto& x : values) x = f32_to_fp16(dist(rng));
    table.resize(static_cast<size_t>(n_blocks));
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), rng);
    q.resize(static_cast<size_t>(kHeads * kHeadDim));
    for (auto& x : q) x = fp16_to_f32(f32_to_fp16(dist(rng) * 0.3f));
  }
  PagedRows paged(const std::vector<uint16_t>& v) const { return {v.data(), table.data(), kBlockTokens, kBlockTokens * kHeadDim, kHeadDim}; }
};

void run(benchmark::State& state, const NumericKernels& k, int64_t n_ctx) {
  const DecodeGroup g(n_ctx);
  const PagedRows pk = g.paged(g.keys), pv = g.paged(g.values);
  std::vector<float> scores(static_cast<size_t>(kHeads * n_ctx));  // [heads, n_ctx]
  std::vector<float> out(static_cast<size_t>(kHeads * kHeadDim));  // [heads, head_dim]
  std::vector<int64_t> n_keys(kHeads, n_ctx), first_key(kHeads, 0);
  const float scale = 0.125f;
  for (auto _ : state) {
    k.scores_rows(g.q.data(), kHeadDim, kHeads, pk, first_key.data(), n_keys.data(), kHeadDim, SumOrder::kSingle, scale,
                  scores.data(), n_ctx);
    for (int64_t h = 0; h < kHeads; ++h) {
      float* row = scores.data() + h * n_ctx;
      k.softmax(row, n_ctx);
      k.round_f16(row, n_ctx, row);
    }
    k.weighted_sums(scores.data(), n_ctx, n_keys.data(), kHeads, pv, kHeadDim, out.data(), kHeadDim, SumOrder::kSingle);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["positions/s"] = benchmark::Counter(static_cast<double>(state.iterations() * n_ctx), benchmark::Counter::kIsRate);
}

void run_online(benchmark::State& state, const NumericKernels& k, int64_t n_ctx) {
  const DecodeGroup g(n_ctx);
  const PagedRows pk = g.paged(g.keys), pv = g.paged(g.values);
  constexpr int64_t kRun = 64;
  std::vector<float> k_run(static_cast<size_t>(kRun * kHeadDim)), v_run(k_run.size());  // [64, head_dim]
  std::vector<float> acc(static_cast<size_t>(kHeads * kHeadDim));                       // [heads, head_dim]
  std::vector<float> m(kHeads), l(kHeads);
  std::vector<int64_t> lo(kHeads, 0), hi(kHeads);
  const float scale = 0.125f;
  for (auto _ : state) {
    std::fill(m.begin(), m.end(), -INFINITY);
    std::fill(l.begin(), l.end(), 0.0f);
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t p0 = 0; p0 < n_ctx; p0 += kRun) {
      const int64_t n = std::min(kRun, n_ctx - p0);
      for (int64_t p = p0; p < p0 + n; ++p) {  // rows gathered across blocks, as Decoder::attention_online does
        k.from_f16(pk.row(p), kHeadDim, k_run.data() + (p - p0) * kHeadDim);
        k.from_f16(pv.row(p), kHeadDim, v_run.data() + (p - p0) * kHeadDim);
      }
      std::fill(hi.begin(), hi.end(), n);
      k.online_attention(g.q.data(), kHeadDim, kHeads, k_run.data(), v_run.data(), kHeadDim, lo.data(), hi.data(), kHeadDim,
                         scale, m.data(), l.data(), acc.data(), kHeadDim);
    }
    for (int64_t h = 0; h < kHeads; ++h) {
      for (int64_t d = 0; d < kHeadDim; ++d) acc[static_cast<size_t>(h * kHeadDim + d)] /= l[static_cast<size_t>(h)];
    }
    benchmark::DoNotOptimize(acc.data());
  }
  state.counters["positions/s"] = benchmark::Counter(static_cast<double>(state.iterations() * n_ctx), benchmark::Counter::kIsRate);
}

void register_all() {
  for (const NumericTwin& twin : numeric_kernel_twins()) {
    for (int64_t n_ctx : {128, 512, 2048, 4096}) {
      const std::string name = std::string(twin.isa) + "/decode_group/ctx" + std::to_string(n_ctx);
      const NumericKernels* k = twin.kernels;
      benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { run(st, *k, n_ctx); })
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(0.2);
      benchmark::RegisterBenchmark((name + "_online").c_str(), [=](benchmark::State& st) { run_online(st, *k, n_ctx); })
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(0.2);
    }
  }
}

}  // namespace
}  // namespace ts

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  ts::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
