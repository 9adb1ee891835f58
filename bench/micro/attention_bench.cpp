// Micro-benchmarks of one decode step's attention for one KV group, per numerics twin (scalar
// reference, AVX2, AVX-512 where the CPU has them): TinyLlama-1.1B's eight query heads of 64
// dims sharing one f16 KV head, keys and values in 16-token blocks as the paged cache holds
// them, over 128 to 4096 positions. Times scores, softmax, the f16 rounding of the
// probabilities and the weighted sums of values, as Decoder::attention runs them; reports
// positions per second (each position is read by all eight heads).
//
//   build/bin/bench_attention --benchmark_filter=avx512
#include <benchmark/benchmark.h>

#include <algorithm>
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

void run(benchmark::State& state, const NumericKernels& k, int64_t n_ctx) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const int64_t n_blocks = (n_ctx + kBlockTokens - 1) / kBlockTokens;
  std::vector<uint16_t> keys(static_cast<size_t>(n_blocks * kBlockTokens * kHeadDim));    // [blocks, 16, head_dim]
  std::vector<uint16_t> values(keys.size());                                              // [blocks, 16, head_dim]
  for (auto& x : keys) x = f32_to_fp16(dist(rng));
  for (auto& x : values) x = f32_to_fp16(dist(rng));
  std::vector<int32_t> table(static_cast<size_t>(n_blocks));
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);  // blocks scattered, as a busy cache leaves them
  const PagedRows pk{keys.data(), table.data(), kBlockTokens, kBlockTokens * kHeadDim, kHeadDim};
  const PagedRows pv{values.data(), table.data(), kBlockTokens, kBlockTokens * kHeadDim, kHeadDim};
  std::vector<float> q(static_cast<size_t>(kHeads * kHeadDim));  // [heads, head_dim]
  for (auto& x : q) x = fp16_to_f32(f32_to_fp16(dist(rng) * 0.3f));
  std::vector<float> scores(static_cast<size_t>(kHeads * n_ctx));  // [heads, n_ctx]
  std::vector<float> out(static_cast<size_t>(kHeads * kHeadDim));  // [heads, head_dim]
  std::vector<int64_t> n_keys(kHeads, n_ctx), first_key(kHeads, 0);
  const float scale = 0.125f;
  for (auto _ : state) {
    k.scores_rows(q.data(), kHeadDim, kHeads, pk, first_key.data(), n_keys.data(), kHeadDim, SumOrder::kSingle, scale,
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

void register_all() {
  for (const NumericTwin& twin : numeric_kernel_twins()) {
    for (int64_t n_ctx : {128, 512, 2048, 4096}) {
      const std::string name = std::string(twin.isa) + "/decode_group/ctx" + std::to_string(n_ctx);
      const NumericKernels* k = twin.kernels;
      benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { run(st, *k, n_ctx); })
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
