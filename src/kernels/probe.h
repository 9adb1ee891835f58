#pragma once
// Micro-loops that measure this machine's limits (bench roofline): streaming read bandwidth,
// int8 dot-product and f32 FMA throughput. Each runs on the calling thread; callers run one
// per core at once.
#include <cstddef>
#include <cstdint>

namespace ts {

// Reads bytes [0, n) of p (n a multiple of 256) with the widest loads available; returns a
// value that depends on every byte so the reads cannot be elided.
float probe_read(const uint8_t* p, size_t n);

// Runs `iters` rounds of the int8 multiply-accumulate instruction sequence the quantized
// kernels use (AVX2: VPMADDUBSW + VPADDW; VNNI: VPDPBUSD) on independent accumulators.
// Returns the multiply-adds performed (int8 x int8 products); the sum result is folded into sink.
uint64_t probe_int8_macs(uint64_t iters, int32_t* sink);

// Same for f32 FMAs; returns the multiply-adds performed.
uint64_t probe_f32_fmas(uint64_t iters, float* sink);

namespace avx2 {
float probe_read(const uint8_t* p, size_t n);
uint64_t probe_int8_macs(uint64_t iters, int32_t* sink);
uint64_t probe_f32_fmas(uint64_t iters, float* sink);
}  // namespace avx2

namespace avx512 {
uint64_t probe_int8_macs(uint64_t iters, int32_t* sink);
}  // namespace avx512

}  // namespace ts
