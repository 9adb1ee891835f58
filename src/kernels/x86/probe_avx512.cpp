// Compiled with the AVX-512 VL + VNNI flags; only called after run-time detection.
#include <immintrin.h>

#include <cstdint>

#include "kernels/probe.h"

// GCC 12 reports the undefined pass-through operand inside its own 512-bit intrinsics as
// (maybe-)uninitialized; nothing here reads an uninitialised value.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace ts::avx512 {

uint64_t probe_int8_macs(uint64_t iters, int32_t* sink) {
  // VPDPBUSD on 512-bit registers, as the Q4_0 pair tiles use it (the widest this CPU does); 12
  // chains cover its latency at two per cycle.
  constexpr int kChains = 12;
  __m512i acc[kChains];
  __m512i x[kChains];
  for (int c = 0; c < kChains; ++c) {
    acc[c] = _mm512_set1_epi32(c);
    x[c] = _mm512_set1_epi8(static_cast<char>(c + 1));
  }
  __m512i y = _mm512_set1_epi8(-2);
  for (uint64_t i = 0; i < iters; ++i) {
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_dpbusd_epi32(acc[c], x[c], y);
    __asm__ volatile("" : "+v"(y));  // keeps the products inside the loop
  }
  __m512i s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm512_add_epi32(s, acc[c]);
  // The chains wrap around (VPDPBUSD adds modulo 2^32); fold the lanes as unsigned, since
  // _mm512_reduce_add_epi32 adds them as int and a wrapped sum would be undefined behaviour.
  alignas(64) uint32_t lanes[16];
  _mm512_store_si512(lanes, s);
  uint32_t folded = 0;
  for (uint32_t v : lanes) folded += v;
  *sink = static_cast<int32_t>(folded & 0x7FFFFFFF);
  return iters * kChains * 64;
}

}  // namespace ts::avx512
