// Compiled with the AVX-512 VL + VNNI flags; only called after run-time detection.
#include <immintrin.h>

#include "kernels/probe.h"

namespace ts::avx512 {

uint64_t probe_int8_macs(uint64_t iters, int32_t* sink) {
  // VPDPBUSD on 256-bit registers, as the packed tiles use it; 12 chains cover its latency at
  // two per cycle.
  constexpr int kChains = 12;
  __m256i acc[kChains];
  __m256i x[kChains];
  for (int c = 0; c < kChains; ++c) {
    acc[c] = _mm256_set1_epi32(c);
    x[c] = _mm256_set1_epi8(static_cast<char>(c + 1));
  }
  __m256i y = _mm256_set1_epi8(-2);
  for (uint64_t i = 0; i < iters; ++i) {
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_dpbusd_epi32(acc[c], x[c], y);
    __asm__ volatile("" : "+x"(y));  // keeps the products inside the loop
  }
  __m256i s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm256_add_epi32(s, acc[c]);
  *sink = _mm256_extract_epi32(s, 0);
  return iters * kChains * 32;
}

}  // namespace ts::avx512
