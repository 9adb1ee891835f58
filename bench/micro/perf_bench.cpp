// Cost of a perf zone when tracing is off (the state every forward pass runs in by default),
// against one attached to a recorder. A TinyLlama decode step opens ~330 zones and takes
// ~25 ms, so the off cost per token is ~330 x (ns per zone): 4 ns per zone is ~0.005%.
#include <benchmark/benchmark.h>

#include "base/perf.h"

namespace {

struct Sink : ts::perf::Recorder {
  double total = 0.0;
  void on_event(const ts::perf::Event& e) override { total += e.dur_us; }
};

void zone_loop(benchmark::State& state) {
  for (auto _ : state) {
    ts::perf::Zone z("linear", 3, 1, 2048, 5632, "q4_0", 1.0);
    benchmark::ClobberMemory();
  }
}

void BM_ZoneOff(benchmark::State& state) {
  ts::perf::set_level(ts::perf::Level::kOff);
  ts::perf::set_recorder(nullptr);
  zone_loop(state);
}

void BM_ZoneRecorded(benchmark::State& state) {
  Sink sink;
  ts::perf::set_recorder(&sink);
  zone_loop(state);
  ts::perf::set_recorder(nullptr);
  benchmark::DoNotOptimize(sink.total);
}

BENCHMARK(BM_ZoneOff);
BENCHMARK(BM_ZoneRecorded);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("zones_per_decode_token", "330 (TinyLlama: 22 layers x 15 + 5)");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
