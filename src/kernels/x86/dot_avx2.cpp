// Compiled with -mavx2 -mfma -mf16c (see CMakeLists.txt); only called after run-time detection.
#include "kernels/x86/dot_avx2.h"

#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/k_quant_orders.h"
#include "quant/blocks.h"

namespace ts::avx2 {

namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float f16(uint16_t h) { return _cvtsh_ss(h); }

// 16 packed bytes of nibbles -> 32 bytes: low nibbles (elements 0..15) then high (16..31).
inline __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0F);
  const __m128i lo = _mm_and_si128(packed, mask);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
  return _mm256_set_m128i(hi, lo);
}

// Sum over 32 lanes of unsigned(x) * signed(y) as 8 int32 partial sums, converted to float.
inline __m256 dot_u8_s8(__m256i x, __m256i y) {
  const __m256i pairs = _mm256_maddubs_epi16(x, y);  // |products| <= 255*127*2 fits int16 for our ranges
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

}  // namespace

float dot_q4_0_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  __m256 acc = _mm256_setzero_ps();
  const __m256i eight = _mm256_set1_epi8(8);
  for (int64_t i = 0; i < n / kQK; ++i) {
    // (q - 8) * y = sign trick: |q - 8| * (y with the sign of q - 8)
    const __m256i q = _mm256_sub_epi8(unpack_nibbles(x[i].qs), eight);
    const __m256i yv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    const __m256 s = dot_u8_s8(_mm256_sign_epi8(q, q), _mm256_sign_epi8(yv, q));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i].d) * f16(y[i].d)), s, acc);
  }
  return hsum(acc);
}

float dot_q5_0_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  __m256 acc = _mm256_setzero_ps();
  // Byte j of the 32-bit mask goes to lanes 8j..8j+7; each lane then tests its own bit.
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3,
                                          3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  const __m256i sixteen = _mm256_set1_epi8(16);
  for (int64_t i = 0; i < n / kQK; ++i) {
    int32_t qh = 0;
    std::memcpy(&qh, x[i].qh, sizeof(qh));
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(qh), spread);
    const __m256i high = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit), sixteen);
    // q - 16 in [-16, 15]; products via the sign trick as for Q4_0.
    const __m256i q = _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles(x[i].qs), high), sixteen);
    const __m256i yv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    const __m256 s = dot_u8_s8(_mm256_sign_epi8(q, q), _mm256_sign_epi8(yv, q));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i].d) * f16(y[i].d)), s, acc);
  }
  return hsum(acc);
}

float dot_q4_1_q8_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i q = unpack_nibbles(x[i].qs);
    const __m256i yv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i].d) * f16(y[i].d)), dot_u8_s8(q, yv), acc);
    mins += f16(x[i].m) * f16(y[i].s);
  }
  return hsum(acc) + mins;
}

float dot_q8_0_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs));
    const __m256i yv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    const __m256 s = dot_u8_s8(_mm256_sign_epi8(xv, xv), _mm256_sign_epi8(yv, xv));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i].d) * f16(y[i].d)), s, acc);
  }
  return hsum(acc);
}

namespace {
inline __m256 load_f32(const float* p) { return _mm256_loadu_ps(p); }
inline float f32_scalar(float x) { return x; }
inline __m256 widen_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline __m256 widen_bf16(const uint16_t* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
inline float bf16_scalar(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// Float weights (f32, or f16/bf16 widened exactly) against f32 activations: two FMA chains per
// activation row, a scalar tail and one reduction. For NR rows (a_stride bytes apart) the weights
// are loaded (and widened) once; each row's steps, and so its bits, are the single row's.
template <int NR, typename T, __m256 (*Load)(const T*), float (*Scalar)(T)>
void dot_float_rows(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
  const auto* x = static_cast<const T*>(w);
  const float* y[NR];
  for (int c = 0; c < NR; ++c) y[c] = reinterpret_cast<const float*>(static_cast<const uint8_t*>(a) + c * a_stride);
  __m256 acc0[NR], acc1[NR];
  for (int c = 0; c < NR; ++c) acc0[c] = acc1[c] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 x0 = Load(x + i), x1 = Load(x + i + 8);
    for (int c = 0; c < NR; ++c) {
      acc0[c] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(y[c] + i), acc0[c]);
      acc1[c] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(y[c] + i + 8), acc1[c]);
    }
  }
  for (int c = 0; c < NR; ++c) {
    float sum = hsum(_mm256_add_ps(acc0[c], acc1[c]));
    for (int64_t j = i; j < n; ++j) sum += Scalar(x[j]) * y[c][j];
    out[c] = sum;
  }
}

template <typename T, __m256 (*Load)(const T*), float (*Scalar)(T)>
float dot_float_f32(int64_t n, const void* w, const void* a) {
  float out;
  dot_float_rows<1, T, Load, Scalar>(n, w, a, 0, &out);
  return out;
}
}  // namespace

float dot_f32_f32(int64_t n, const void* w, const void* a) { return dot_float_f32<float, load_f32, f32_scalar>(n, w, a); }
void dot4_f32_f32(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
  dot_float_rows<4, float, load_f32, f32_scalar>(n, w, a, a_stride, out);
}
void dot4_f16_f32(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
  dot_float_rows<4, uint16_t, widen_f16, f16>(n, w, a, a_stride, out);
}
void dot4_bf16_f32(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
  dot_float_rows<4, uint16_t, widen_bf16, bf16_scalar>(n, w, a, a_stride, out);
}
float dot_f16_f32(int64_t n, const void* w, const void* a) { return dot_float_f32<uint16_t, widen_f16, f16>(n, w, a); }
float dot_bf16_f32(int64_t n, const void* w, const void* a) {
  return dot_float_f32<uint16_t, widen_bf16, bf16_scalar>(n, w, a);
}

// The K formats: every integer sum of a super-block is exact in int32 (<= 256 x 63 x 15 x 128
// for Q4_K, 256 x 128 x 63 x 128 for Q6_K), and the float steps are llama.cpp's, in each of the
// orders it uses (see DTypeKernels), so results equal the scalar twins bit for bit.
namespace {

// A Q4_K super-block's scaled quant sums per 64-element step s (sub-blocks 2s and 2s + 1, the
// low and high nibbles of bytes 32s..32s+31) and mins x activation sums per step, for NR
// activation rows sharing the weights (decoded once).
template <int NR>
inline void q4_k_step_sums_rows(const BlockQ4_K& x, const BlockQ8_K* const y[NR], int sums[NR][4], int mins[NR][4]) {
  const __m256i mask = _mm256_set1_epi8(0x0F);
  const uint8_t* s = x.scales;
  int sc[8], mn[8];
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    mn[j] = s[j + 4] & 63;
    sc[j + 4] = (s[j + 8] & 0xF) | ((s[j] >> 6) << 4);
    mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4);
  }
  for (int g = 0; g < 4; ++g) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * g));
    const __m256i lo = _mm256_and_si256(raw, mask);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
    const __m256i sc_lo = _mm256_set1_epi16(static_cast<int16_t>(sc[2 * g]));
    const __m256i sc_hi = _mm256_set1_epi16(static_cast<int16_t>(sc[2 * g + 1]));
    for (int c = 0; c < NR; ++c) {
      const __m256i p_lo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[c]->qs + 64 * g)));
      const __m256i p_hi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[c]->qs + 64 * g + 32)));
      sums[c][g] = hsum_i32(_mm256_add_epi32(_mm256_madd_epi16(p_lo, sc_lo), _mm256_madd_epi16(p_hi, sc_hi)));
      mins[c][g] = mn[2 * g] * (y[c]->bsums[4 * g] + y[c]->bsums[4 * g + 1]) +
                   mn[2 * g + 1] * (y[c]->bsums[4 * g + 2] + y[c]->bsums[4 * g + 3]);
    }
  }
}

// A Q6_K super-block's quants as stored (value + 32, unsigned for VPMADDUBSW), 32 per register:
// v[r] holds elements 32 r .. 32 r + 31.
struct Q6KUnpacked {
  __m256i v[8];
};

inline Q6KUnpacked q6_k_unpack(const BlockQ6_K& x) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m2 = _mm256_set1_epi8(0x30);
  Q6KUnpacked u;
  const uint8_t* ql = x.ql;
  const uint8_t* qh = x.qh;
  for (int half = 0; half < 2; ++half) {
    const __m256i la = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
    const __m256i lb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
    // 16-bit shifts move bits within each byte pair; the masks keep each byte's own bits.
    u.v[4 * half + 0] = _mm256_or_si256(_mm256_and_si256(la, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m2));
    u.v[4 * half + 1] = _mm256_or_si256(_mm256_and_si256(lb, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m2));
    u.v[4 * half + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), m4), _mm256_and_si256(h, m2));
    u.v[4 * half + 3] =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), m4), _mm256_and_si256(_mm256_srli_epi16(h, 2), m2));
    ql += 64;
    qh += 32;
  }
  return u;
}

// Q6_K: the eight int32 lanes of llama.cpp's row kernel for one activation row (lane l:
// elements 4l..4l+3 of every 32-element run, less 32 x (scale x activation sum) of groups 2l
// and 2l + 1).
inline __m256i q6_k_lane_sums(const BlockQ6_K& x, const Q6KUnpacked& u, const BlockQ8_K& y) {
  const int8_t* sc = x.scales;
  const __m256i offset = _mm256_slli_epi32(
      _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums)),
                        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)))),
      5);
  __m256i acc = _mm256_setzero_si256();
  for (int r = 0; r < 8; ++r) {
    const int e = 32 * r;  // first element; groups e/16 and e/16 + 1
    const __m256i p = _mm256_maddubs_epi16(u.v[r], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs + e)));
    const __m256i scales = _mm256_set_m128i(_mm_set1_epi16(sc[e / 16 + 1]), _mm_set1_epi16(sc[e / 16]));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, scales));
  }
  return _mm256_sub_epi32(acc, offset);
}

}  // namespace

float dot_q4_k_q8_k(int64_t n, const void* w, const void* a) {
  return q4_k_dot<q4_k_step_sums_rows<1>, f16, false>(n, w, a);
}

float dot_q4_k_q8_k_group4(int64_t n, const void* w, const void* a) {
  return q4_k_dot<q4_k_step_sums_rows<1>, f16, true>(n, w, a);
}

void dot4_q4_k_q8_k(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
  q4_k_dot_rows<4, q4_k_step_sums_rows<4>, f16, false>(n, w, a, a_stride, out);
}

void dot4_q4_k_q8_k_group4(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
  q4_k_dot_rows<4, q4_k_step_sums_rows<4>, f16, true>(n, w, a, a_stride, out);
}

namespace {
// NR activation rows against one Q6_K row, the quants unpacked once per super-block; kWide
// selects the tiled kernel's order (per super-block: d_w x sum, then times d_a onto the total),
// else the row kernel's (eight float lanes, summed at the end).
template <int NR, bool kWide>
void q6_k_dot_rows(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const BlockQ8_K* y[NR];
  for (int c = 0; c < NR; ++c) y[c] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + c * a_stride);
  __m256 lanes[NR];
  float acc[NR] = {};
  for (int c = 0; c < NR; ++c) lanes[c] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const Q6KUnpacked u = q6_k_unpack(x[i]);
    for (int c = 0; c < NR; ++c) {
      const __m256i sums = q6_k_lane_sums(x[i], u, y[c][i]);
      if constexpr (kWide) {
        acc[c] = std::fma(f16(x[i].d) * static_cast<float>(hsum_i32(sums)), y[c][i].d, acc[c]);
      } else {
        lanes[c] = _mm256_fmadd_ps(_mm256_set1_ps(y[c][i].d * f16(x[i].d)), _mm256_cvtepi32_ps(sums), lanes[c]);
      }
    }
  }
  for (int c = 0; c < NR; ++c) out[c] = kWide ? acc[c] : hsum(lanes[c]);
}

template <bool kWide>
float q6_k_dot(int64_t n, const void* w, const void* a) {
  float out;
  q6_k_dot_rows<1, kWide>(n, w, a, 0, &out);
  return out;
}
}  // namespace

float dot_q6_k_q8_k(int64_t n, const void* w, const void* a) { return q6_k_dot<false>(n, w, a); }
float dot_q6_k_q8_k_wide(int64_t n, const void* w, const void* a) { return q6_k_dot<true>(n, w, a); }

void dot4_q6_k_q8_k(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
  q6_k_dot_rows<4, false>(n, w, a, a_stride, out);
}

void dot4_q6_k_q8_k_wide(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
  q6_k_dot_rows<4, true>(n, w, a, a_stride, out);
}

}  // namespace ts::avx2
