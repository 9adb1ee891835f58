#pragma once
// Horizontal sums and f16 loads the attention twins of every x86 ISA share, each in the exact
// order of the scalar reference. Internal (an anonymous namespace in a header), as
// packed_simd.h: each kernel file compiles its own copy under its own target flags.
#include <immintrin.h>

#include <cstdint>

namespace ts::x86 {
namespace {

// Eight f16 values (a cached key or value row) as f32: exact.
inline __m256 load_h8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

inline float reduce8_batch(__m256 a) {
  __m128 t = _mm_add_ps(_mm256_extractf128_ps(a, 1), _mm256_castps256_ps128(a));
  t = _mm_add_ps(t, _mm_movehl_ps(t, t));
  t = _mm_add_ss(t, _mm_movehdup_ps(t));
  return _mm_cvtss_f32(t);
}

// The single-row order's final sum of lane sums s: (s_i + s_i+4), then pairs, then the two pairs.
inline float reduce_lanes_single(__m256 s) {
  __m128 t = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  t = _mm_hadd_ps(t, t);
  t = _mm_hadd_ps(t, t);
  return _mm_cvtss_f32(t);
}

inline float reduce32_single(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  return reduce_lanes_single(_mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3)));
}

// For two keys' lane sums s and t: [s0+s4, s1+s5, s2+s6, s3+s7, t0+t4, ...], the first step
// of reduce32_single (low half + high half) for both at once.
inline __m256 half_sums_pair(__m256 s, __m256 t) {
  return _mm256_add_ps(_mm256_permute2f128_ps(s, t, 0x20), _mm256_permute2f128_ps(s, t, 0x31));
}

// The rest of reduce32_single for eight keys at once, from half_sums_pair of keys (0,1), (2,3),
// (4,5), (6,7): two horizontal adds form (h0+h1) and (h2+h3), then their sum, for every key
// (the same pairs as reduce32_single's two hadds); the result comes out as keys 0,2,4,6,1,3,5,7
// and is put back in order.
inline __m256 reduce8_keys_single(const __m256* halves) {
  const __m256 r = _mm256_hadd_ps(_mm256_hadd_ps(halves[0], halves[1]), _mm256_hadd_ps(halves[2], halves[3]));
  return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// reduce8_batch for eight keys at once: lanes (l, l+4) for key pairs by 128-bit permutes, then
// (0+2) and (1+3), then their sum, by shuffles across keys; every key's sums are reduce8_batch's
// in its order (float addition commutes, so only the pairing matters). Returns keys 0..7 in order.
inline __m256 reduce8_keys_batch(const __m256* acc) {
  __m256 half[4];  // keys (2j, 2j+1): [k0+k4, k1+k5, k2+k6, k3+k7] of each
  for (int j = 0; j < 4; ++j) half[j] = half_sums_pair(acc[2 * j], acc[2 * j + 1]);
  // [a0+a2, a1+a3, c0+c2, c1+c3 | b0+b2, b1+b3, d0+d2, d1+d3] for keys a, b (half[0]) and c, d (half[1]).
  const __m256 q0 = _mm256_add_ps(_mm256_shuffle_ps(half[0], half[1], 0x44), _mm256_shuffle_ps(half[0], half[1], 0xEE));
  const __m256 q1 = _mm256_add_ps(_mm256_shuffle_ps(half[2], half[3], 0x44), _mm256_shuffle_ps(half[2], half[3], 0xEE));
  // [k0, k2, k4, k6 | k1, k3, k5, k7]
  const __m256 r = _mm256_add_ps(_mm256_shuffle_ps(q0, q1, 0x88), _mm256_shuffle_ps(q0, q1, 0xDD));
  return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// The reference's final sums of one column group's weighted-sum slots, lane by lane (lanes are
// independent columns, so any vector width V with its add gives the same bits): batch order,
// slots (l, l+4) then (0+2) + (1+3); single-row order, slot 8j + l is lane l of chain j.
template <typename V, typename Add>
inline V reduce_slots_with(const V* a, int slots, Add add) {
  if (slots == 8) {
    const V t0 = add(a[4], a[0]), t1 = add(a[5], a[1]);
    const V t2 = add(a[6], a[2]), t3 = add(a[7], a[3]);
    return add(add(t0, t2), add(t1, t3));
  }
  V s[8];
  for (int l = 0; l < 8; ++l) s[l] = add(add(a[l], a[16 + l]), add(a[8 + l], a[24 + l]));
  V t[4];
  for (int l = 0; l < 4; ++l) t[l] = add(s[l], s[l + 4]);
  return add(add(t[0], t[1]), add(t[2], t[3]));
}

}  // namespace
}  // namespace ts::x86
