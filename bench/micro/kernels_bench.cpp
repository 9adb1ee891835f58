// Micro-benchmarks of the matmul kernels at TinyLlama-1.1B and SmolLM2-135M shapes, per weight
// type and path (packed fast kernels, row-major SIMD, scalar reference), reporting weight GB/s
// and GOP/s (2 operations per multiply-add). Decode shapes are M = 1, batched decode of 16 sequences M = 16, prefill M = 512.
// Packed types also run in BlockOrder::kFastest ("packed_fastest") where it differs on this CPU.
//
//   build/bin/bench_kernels --benchmark_filter=q4_0   (threads: TINYSERVE_BENCH_THREADS, default 1)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/fp16.h"
#include "base/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/packed.h"
#include "quant/quantize.h"
#include "quant/repack.h"

namespace ts {
namespace {

int bench_threads() {
  const char* v = std::getenv("TINYSERVE_BENCH_THREADS");
  return v != nullptr ? std::max(1, std::atoi(v)) : 1;
}

ThreadPool& pool() {
  static ThreadPool p(bench_threads());
  return p;
}

struct Fixture {
  std::vector<uint8_t> plain;   // [n, row_bytes]
  WeightMatrix w;               // row-major or packed view
  PackedWeights store;
  std::vector<float> x, y;      // [m, k], [m, n]
  std::vector<uint8_t> scratch;
};

void run(benchmark::State& state, DType type, int64_t n, int64_t k, int64_t m, bool packed, BlockOrder order) {
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  Fixture f;
  std::vector<float> wf(static_cast<size_t>(n * k));
  for (auto& v : wf) v = dist(rng);
  const size_t rb = row_bytes(type, static_cast<uint64_t>(k));
  f.plain.resize(rb * static_cast<size_t>(n));
  if (type == DType::Q4_K || type == DType::Q6_K) {
    // No K-quant quantizer is needed at run time: random bytes with sane f16 scales are valid blocks.
    for (auto& b : f.plain) b = static_cast<uint8_t>(rng());
    const size_t block = row_bytes(type, 256);
    for (size_t off = 0; off < f.plain.size(); off += block) {
      const uint16_t d = f32_to_fp16(0.01f);
      std::memcpy(f.plain.data() + off + (type == DType::Q4_K ? 0 : block - 2), &d, sizeof(d));
    }
  } else {
    for (int64_t r = 0; r < n; ++r) quantize_row(type, wf.data() + r * k, f.plain.data() + static_cast<size_t>(r) * rb, k);
  }
  f.w = WeightMatrix{type, n, k, f.plain.data(), false};
  if (packed) {
    f.w = f.store.pack(f.w, pool());
    if (!f.w.packed) {
      state.SkipWithError("no packed layout for this type");
      return;
    }
    f.w.order = order;
  }
  f.x.resize(static_cast<size_t>(m * k));
  for (auto& v : f.x) v = dist(rng) * 50.0f;
  f.y.resize(static_cast<size_t>(m * n));
  f.scratch.resize(matmul_scratch_bytes(f.w, m));
  for (auto _ : state) {
    matmul(f.w, f.x.data(), m, f.y.data(), pool(), f.scratch.data(), f.scratch.size());
    benchmark::DoNotOptimize(f.y.data());
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["GB/s"] = benchmark::Counter(iters * static_cast<double>(f.plain.size()), benchmark::Counter::kIsRate,
                                              benchmark::Counter::kIs1000);
  state.counters["GOP/s"] = benchmark::Counter(iters * 2.0 * static_cast<double>(n * k * m) / 1e9,
                                               benchmark::Counter::kIsRate);
}

struct Shape {
  const char* name;
  int64_t n, k;
};

// TinyLlama-1.1B: q/o 2048x2048, k/v 256x2048, gate/up 5632x2048, down 2048x5632, output 32000x2048.
// SmolLM2-135M: gate/up 1536x576, down 576x1536, output (tied) 49152x576.
constexpr Shape kShapes[] = {{"tinyllama_qo", 2048, 2048},   {"tinyllama_kv", 256, 2048},
                             {"tinyllama_up", 5632, 2048},   {"tinyllama_down", 2048, 5632},
                             {"tinyllama_out", 32000, 2048}, {"smollm2_up", 1536, 576},
                             {"smollm2_down", 576, 1536},    {"smollm2_out", 49152, 576}};

void register_all() {
  for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16, DType::F32}) {
    for (const Shape& s : kShapes) {
      for (int64_t m : {1, 16, 512}) {
        if (m == 512 && std::string(s.name).find("_out") != std::string::npos) continue;  // prefill keeps one logits row
        if (m == 16 && !packable(type)) continue;  // batched decode of 16 sequences: packed types only
        for (bool packed : {true, false}) {
          if (packed && !packable(type)) continue;
          if (type != DType::Q4_0 && type != DType::Q8_0 && type != DType::Q4_1 && m > 1) continue;
          // Packed: in llama.cpp's block order, and in the fastest where that differs on this CPU.
          for (BlockOrder order : {BlockOrder::kLlamaCpp, BlockOrder::kFastest}) {
            if (order == BlockOrder::kFastest && !(packed && fastest_differs(type, order))) continue;
            const std::string name = std::string(dtype_name(type)) + "/" + s.name + "/M" + std::to_string(m) +
                                     (packed ? "/packed" : "/rowmajor") + (order == BlockOrder::kFastest ? "_fastest" : "");
            benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { run(st, type, s.n, s.k, m, packed, order); })
                ->Unit(benchmark::kMillisecond)
                ->MinTime(0.2);
          }
        }
      }
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
