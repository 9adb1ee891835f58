// Compiled with -mavx2 -mfma -mf16c; only called after run-time detection.
#include <immintrin.h>

#include "kernels/probe.h"

namespace ts::avx2 {

float probe_read(const uint8_t* p, size_t n) {
  // Integer adds keep the loop load-bound: four independent chains, 128 bytes per iteration.
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += 128) {
    a0 = _mm256_add_epi32(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_add_epi32(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    a2 = _mm256_add_epi32(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    a3 = _mm256_add_epi32(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i s = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
  return static_cast<float>(_mm256_extract_epi32(s, 0) ^ _mm256_extract_epi32(s, 7));
}

uint64_t probe_int8_macs(uint64_t iters, int32_t* sink) {
  constexpr int kChains = 8;
  __m256i acc[kChains];
  __m256i x[kChains];
  for (int c = 0; c < kChains; ++c) {
    acc[c] = _mm256_set1_epi16(static_cast<short>(c));
    x[c] = _mm256_set1_epi8(static_cast<char>(c + 1));
  }
  __m256i y = _mm256_set1_epi8(-2);
  for (uint64_t i = 0; i < iters; ++i) {
    // A different unsigned operand per chain: with one shared pair the compiler computes a
    // single product per iteration and the loop measures additions instead of multiplies.
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_add_epi16(acc[c], _mm256_maddubs_epi16(x[c], y));
    // An opaque dependency keeps the compiler from hoisting the products out of the loop.
    __asm__ volatile("" : "+x"(y));
  }
  __m256i s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm256_add_epi16(s, acc[c]);
  *sink = _mm256_extract_epi32(s, 0);
  return iters * kChains * 32;
}

uint64_t probe_f32_fmas(uint64_t iters, float* sink) {
  constexpr int kChains = 10;  // covers FMA latency x throughput on current cores
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(static_cast<float>(c));
  __m256 x = _mm256_set1_ps(0.999f);
  const __m256 y = _mm256_set1_ps(1e-3f);
  for (uint64_t i = 0; i < iters; ++i) {
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], x, y);
    __asm__ volatile("" : "+x"(x));
  }
  __m256 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm256_add_ps(s, acc[c]);
  *sink = _mm256_cvtss_f32(s);
  return iters * kChains * 8;
}

}  // namespace ts::avx2
