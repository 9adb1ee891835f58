// Micro-benchmarks of the small steps between a decode step's products, per ISA twin, at the
// widths TinyLlama-1.1B and SmolLM2-135M give them: the activation quantization the packed
// products read (quantize_q8s; with RMSNorm's scaling fused, quantize_q8s_scaled) and SwiGLU
// over one thread's half of the FFN columns. A decoded token runs each of them once or twice
// per layer; they are what a step spends outside its weight stream besides attention.
// Reports values per second.
//
//   build/bin/bench_ops --benchmark_filter=quantize
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/numerics.h"
#include "kernels/packed.h"

namespace ts {
namespace {

std::vector<float> random_row(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

using QuantizeFn = void (*)(const float*, BlockQ8S*, int64_t);
using QuantizeScaledFn = void (*)(const float*, float, const float*, BlockQ8S*, int64_t);

void count_values(benchmark::State& state, int64_t n) {
  state.counters["values/s"] = benchmark::Counter(static_cast<double>(state.iterations() * n), benchmark::Counter::kIsRate);
}

void run_quantize(benchmark::State& state, QuantizeFn fn, int64_t n) {
  const auto x = random_row(n, 1);
  std::vector<BlockQ8S> q(static_cast<size_t>(n / kQK));  // [n / 32]
  for (auto _ : state) {
    fn(x.data(), q.data(), n);
    benchmark::DoNotOptimize(q.data());
  }
  count_values(state, n);
}

void run_quantize_scaled(benchmark::State& state, QuantizeScaledFn fn, int64_t n) {
  const auto x = random_row(n, 1), weight = random_row(n, 2);
  std::vector<BlockQ8S> q(static_cast<size_t>(n / kQK));  // [n / 32]
  for (auto _ : state) {
    fn(x.data(), 0.37f, weight.data(), q.data(), n);
    benchmark::DoNotOptimize(q.data());
  }
  count_values(state, n);
}

void run_swiglu(benchmark::State& state, const NumericKernels& k, int64_t n) {
  // Gating works in place: each of kRows copies of the row is gated once, then all are
  // refilled outside the timing (gating one row over and over would shrink it to denormals).
  constexpr int64_t kRows = 64;
  const auto gate0 = random_row(n, 3), up = random_row(n, 4);
  std::vector<float> gate(static_cast<size_t>(kRows * n));  // [kRows, n]
  auto refill = [&] {
    for (int64_t r = 0; r < kRows; ++r) std::copy(gate0.begin(), gate0.end(), gate.begin() + r * n);
  };
  refill();
  int64_t row = 0;
  for (auto _ : state) {
    k.swiglu(gate.data() + row * n, up.data(), n);
    benchmark::DoNotOptimize(gate.data());
    if (++row == kRows) {
      state.PauseTiming();
      refill();
      row = 0;
      state.ResumeTiming();
    }
  }
  count_values(state, n);
}

template <typename F>
void add(const std::string& name, F&& f) {
  benchmark::RegisterBenchmark(name.c_str(), std::forward<F>(f))->Unit(benchmark::kNanosecond)->MinTime(0.2);
}

void register_all() {
  struct QuantTwin {
    const char* isa;
    QuantizeFn plain;
    QuantizeScaledFn scaled;
  };
  std::vector<QuantTwin> quant{{"scalar", quantize_row_q8s, ref::quantize_q8s_scaled}};
  if (cpu_features().avx2) quant.push_back({"avx2", avx2::quantize_q8s, avx2::quantize_q8s_scaled});
  if (cpu_features().avx512_vnni) quant.push_back({"avx512", avx512::quantize_q8s, avx512::quantize_q8s_scaled});
  // n_embd (TinyLlama 2048, SmolLM2 576) and half of n_ff on two threads (2816, 768).
  for (const QuantTwin& t : quant) {
    for (int64_t n : {576, 2048, 2816}) {
      const std::string suffix = "/n" + std::to_string(n);
      add(std::string(t.isa) + "/quantize_q8s" + suffix, [=](benchmark::State& st) { run_quantize(st, t.plain, n); });
      add(std::string(t.isa) + "/quantize_q8s_scaled" + suffix,
          [=](benchmark::State& st) { run_quantize_scaled(st, t.scaled, n); });
    }
  }
  for (const NumericTwin& twin : numeric_kernel_twins()) {
    for (int64_t n : {768, 2816}) {
      const NumericKernels* k = twin.kernels;
      add(std::string(twin.isa) + "/swiglu/n" + std::to_string(n), [=](benchmark::State& st) { run_swiglu(st, *k, n); });
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
