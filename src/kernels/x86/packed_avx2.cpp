// Compiled with -mavx2 -mfma -mf16c (see CMakeLists.txt); only called after run-time detection.
//
// Per block, each 32-byte load of an interleaved group holds 4 consecutive elements of 8 rows.
// VPMADDUBSW against a broadcast 4-byte slice of the activations gives each row's pair sums;
// for the 4-bit formats the nibbles are unsigned (<= 15), so the 8 steps of a block sum safely
// in int16 (|sum| <= 8 * 2 * 15 * 127 = 30480) before one VPMADDWD widens them to one int32 per
// row. The weights are unpacked once per block and reused for every activation row of the tile.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "kernels/packed.h"
#include "kernels/x86/packed_simd.h"

namespace ts::avx2 {

namespace {

using x86::bcast4;
using x86::lane_tree;
using x86::load_f16x8;
using x86::prefetch_ahead;
using x86::with_cols;

// Q4_0 over G groups (8G weight rows) and NC activation rows. Per block and group, each
// activation row's int16 pair sums come from 8 VPMADDUBSW (low nibbles against dwords 0-3 of
// the activation block, high nibbles against dwords 4-7), so each broadcast activation dword
// feeds G products: the broadcasts and adds around the multiplies, not the multiplies, bound
// this loop on AVX2 machines (one Zen 3 core, weights in L1: 0.75 products per cycle for the
// earlier one-group form, 1.0 with two groups). The offset of 8 folds into the exact integer
// block sum, so every variant gives the same bits as the scalar twin.
template <int G, int NC>
void q4_0(int64_t nb, const BlockQ4_0x8* const* w, const BlockQ8S* act, int64_t stride, float* out, bool prefetch) {
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i mask = _mm256_set1_epi8(0x0F);
  __m256 acc[G][NC];
  for (auto& g : acc) {
    for (auto& x : g) x = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    if (prefetch) {
      for (int g = 0; g < G; ++g) prefetch_ahead(w[g] + b);
    }
    const BlockQ8S* a[NC];
    for (int c = 0; c < NC; ++c) a[c] = act + c * stride + b;
    __m256i s16[G][NC];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      __m256i lo[G], hi[G];
      for (int g = 0; g < G; ++g) {
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[g][b].qs + 32 * j));
        lo[g] = _mm256_and_si256(raw, mask);
        hi[g] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
      }
#pragma GCC unroll 4
      for (int c = 0; c < NC; ++c) {
        const __m256i a_lo = bcast4(a[c]->qs + 4 * j), a_hi = bcast4(a[c]->qs + 16 + 4 * j);
        for (int g = 0; g < G; ++g) {
          // Pair the two products before accumulating: half the length of the dependent add chain.
          const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo[g], a_lo), _mm256_maddubs_epi16(hi[g], a_hi));
          s16[g][c] = j == 0 ? p : _mm256_add_epi16(s16[g][c], p);
          // Keeps GCC from reassociating the four steps into one tree, which holds every
          // product live at once (the earlier tile's loop spilled ~20 registers per block).
          asm("" : "+x"(s16[g][c]));
        }
      }
    }
    __m256 dw[G];
    for (int g = 0; g < G; ++g) dw[g] = load_f16x8(w[g][b].d);
    for (int c = 0; c < NC; ++c) {
      // 8 * sum(a) shifted in the vector unit from a broadcast load, not through a general register.
      const __m256i offset = _mm256_slli_epi32(_mm256_set1_epi32(a[c]->sum), 3);
      const __m256 da = _mm256_set1_ps(a[c]->d);
      for (int g = 0; g < G; ++g) {
        const __m256i s32 = _mm256_sub_epi32(_mm256_madd_epi16(s16[g][c], ones), offset);
        acc[g][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(dw[g], da), acc[g][c]);
      }
    }
  }
  // out[c * 8G + 8g + r]: column c's rows, group by group (the pair tile's layout for G = 2).
  for (int g = 0; g < G; ++g) {
    for (int c = 0; c < NC; ++c) _mm256_storeu_ps(out + 8 * (G * c + g), acc[g][c]);
  }
}

// Q4_1 and Q8_0 (BlockOrder::kLlamaCpp) keep llama.cpp's per-lane float order (lane_tree,
// packed_simd.h). Some models (Gemma 3) amplify any rounding change into visibly different
// results, so matching the reference engine bit for bit is worth the extra float work there;
// q8_0_exact_cols below is the faster order for the others.
inline __m256 lane_float(__m256i pairs16, __m256i ones) { return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs16, ones)); }

void q4_1_col(int64_t nb, const BlockQ4_1x8* w, const BlockQ8S* a, float* out, bool prefetch) {
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i mask = _mm256_set1_epi8(0x0F);
  __m256 acc[8];
  for (auto& x : acc) x = _mm256_setzero_ps();
  __m256 summs = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    if (prefetch) prefetch_ahead(w + b);
    const __m256 scale = _mm256_mul_ps(load_f16x8(w[b].d), _mm256_set1_ps(a[b].d));
    for (int j = 0; j < 4; ++j) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * j));
      const __m256i lo = _mm256_and_si256(raw, mask);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
      acc[j] = _mm256_fmadd_ps(scale, lane_float(_mm256_maddubs_epi16(lo, bcast4(a[b].qs + 4 * j)), ones), acc[j]);
      acc[4 + j] =
          _mm256_fmadd_ps(scale, lane_float(_mm256_maddubs_epi16(hi, bcast4(a[b].qs + 16 + 4 * j)), ones), acc[4 + j]);
    }
    summs = _mm256_add_ps(summs, _mm256_mul_ps(load_f16x8(w[b].m), _mm256_set1_ps(a[b].s)));
  }
  _mm256_storeu_ps(out, _mm256_add_ps(lane_tree(acc), summs));
}

// Q8_0 for NC activation rows at once (decode: one): each weight step is loaded and made positive
// once for all of them, then per row and lane the float steps of llama.cpp's order. One Zen 3
// core, weights in L1, 4 rows: 0.42 products per cycle one row at a time, 0.47 together. Per 32
// multiply-adds of a row that order costs six vector operations (the activation broadcast,
// VPSIGNB, VPMADDUBSW, VPMADDWD, the conversion, the FMA), and mixed like this the core issues
// about three per cycle; the spilled accumulators are not the bound (a variant without spills
// measured no faster; docs/performance.md).
template <int NC>
void q8_0_cols(int64_t nb, const BlockQ8_0x8* w, const BlockQ8S* act, int64_t stride, float* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NC][8];  // [column, step]: more than the 16 registers hold; GCC keeps the rest in L1
  for (auto& col : acc) {
    for (auto& x : col) x = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(w + b);
    const BlockQ8S* a[NC];
    for (int c = 0; c < NC; ++c) a[c] = act + c * stride + b;
    const __m256 dw = load_f16x8(w[b].d);
    __m256 scale[NC];
    for (int c = 0; c < NC; ++c) scale[c] = _mm256_mul_ps(dw, _mm256_set1_ps(a[c]->d));
#pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {
      const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * s));
      const __m256i w_abs = _mm256_sign_epi8(wq, wq);
#pragma GCC unroll 4
      for (int c = 0; c < NC; ++c) {
        const __m256i p = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(bcast4(a[c]->qs + 4 * s), wq));
        acc[c][s] = _mm256_fmadd_ps(scale[c], lane_float(p, ones), acc[c][s]);
      }
    }
  }
  for (int c = 0; c < NC; ++c) _mm256_storeu_ps(out + 8 * c, lane_tree(acc[c]));
}

// Q8_0 for NC activation rows with exact integer block sums (the Q4_0 tiles' order and
// ref::tile_q8_0_exact's): per block and row the 32 products add up in int32 lanes, one lane per
// weight row, and only the block's sum is converted and scaled. Per 32 multiply-adds of a row
// that is the broadcast, VPSIGNB, VPMADDUBSW, VPMADDWD and an integer add, against six vector
// operations in llama.cpp's per-lane float order (q8_0_cols).
template <int NC>
void q8_0_exact_cols(int64_t nb, const BlockQ8_0x8* w, const BlockQ8S* act, int64_t stride, float* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NC];
  for (auto& x : acc) x = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(w + b);
    const BlockQ8S* a[NC];
    for (int c = 0; c < NC; ++c) a[c] = act + c * stride + b;
    __m256i s32[NC];
#pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {
      const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * s));
      const __m256i w_abs = _mm256_sign_epi8(wq, wq);
#pragma GCC unroll 4
      for (int c = 0; c < NC; ++c) {
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(bcast4(a[c]->qs + 4 * s), wq)), ones);
        s32[c] = s == 0 ? p : _mm256_add_epi32(s32[c], p);
      }
    }
    const __m256 dw = load_f16x8(w[b].d);
    for (int c = 0; c < NC; ++c) {
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32[c]), _mm256_mul_ps(dw, _mm256_set1_ps(a[c]->d)), acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) _mm256_storeu_ps(out + 8 * c, acc[c]);
}

// Same steps as quantize_row_q8s: amax, id = 127 / amax, round half to even, scale rounded to
// f16; every step is exact or the same IEEE operation, so the output is identical. load(i, j)
// gives elements 8j..8j+7 of block i.
template <typename Load>
void quantize_q8s_blocks(int64_t nblocks, BlockQ8S* y, Load&& load) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < nblocks; ++i) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) {
      v[j] = load(i, j);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[j]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float am = _mm_cvtss_f32(m4);
    const float id = am != 0.0f ? 127.0f / am : 0.0f;
    y[i].d = _cvtsh_ss(_cvtss_sh(am / 127.0f, _MM_FROUND_TO_NEAREST_INT));
    const __m256 idv = _mm256_set1_ps(id);
    __m256i q[4];
    for (int j = 0; j < 4; ++j) {
      q[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[j], idv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    // Pack 32 int32 -> 32 int8 (values are within [-127, 127]); packs interleave 128-bit lanes,
    // the permute restores element order.
    const __m256i p16a = _mm256_packs_epi32(q[0], q[1]);
    const __m256i p16b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i p8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), p8);
    const __m256i s32 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    y[i].sum = _mm_cvtsi128_si32(s4);
    y[i].s = _cvtsh_ss(_cvtss_sh(static_cast<float>(y[i].sum) * (am / 127.0f), _MM_FROUND_TO_NEAREST_INT));
  }
}

}  // namespace

void quantize_q8s(const float* x, BlockQ8S* y, int64_t n) {
  quantize_q8s_blocks(n / kQK, y, [x](int64_t i, int j) { return _mm256_loadu_ps(x + i * kQK + 8 * j); });
}

void quantize_q8s_scaled(const float* x, float scale, const float* weight, BlockQ8S* y, int64_t n) {
  const __m256 s = _mm256_set1_ps(scale);
  // (x * scale) * weight: two roundings, in rms_norm's order (no FMA: there is no add).
  quantize_q8s_blocks(n / kQK, y, [=](int64_t i, int j) {
    const int64_t e = i * kQK + 8 * j;
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + e), s), _mm256_loadu_ps(weight + e));
  });
}

void tile_q4_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out) {
  const auto* w = static_cast<const BlockQ4_0x8*>(group);
  with_cols(n_cols, [&](auto nc) { q4_0<1, decltype(nc)::value>(nb, &w, act, act_stride, out, true); });
}

void pair_tile_q4_0(int64_t nb, const void* group, size_t group_bytes, const BlockQ8S* act, int64_t act_stride,
                    int n_cols, float* out) {
  const BlockQ4_0x8* w[2] = {static_cast<const BlockQ4_0x8*>(group),
                             reinterpret_cast<const BlockQ4_0x8*>(static_cast<const uint8_t*>(group) + group_bytes)};
  // Up to 4 columns per pass (two groups x 4 columns fill the 16 registers; 2 columns measured
  // slower), split evenly; only the first pass, which brings the groups in, prefetches.
  const int passes = (n_cols + kMaxTileCols - 1) / kMaxTileCols;
  for (int p = 0, c0 = 0; p < passes; ++p) {
    const int nc = (n_cols - c0) / (passes - p);
    with_cols(nc, [&](auto k) { q4_0<2, decltype(k)::value>(nb, w, act + c0 * act_stride, act_stride, out + 16 * c0, p == 0); });
    c0 += nc;
  }
}

void tile_q4_1(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out) {
  const auto* w = static_cast<const BlockQ4_1x8*>(group);
  for (int c = 0; c < n_cols; ++c) q4_1_col(nb, w, act + c * act_stride, out + 8 * c, c == 0);  // later columns hit cache
}

void tile_q8_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out) {
  const auto* w = static_cast<const BlockQ8_0x8*>(group);
  with_cols(n_cols, [&](auto nc) { q8_0_cols<decltype(nc)::value>(nb, w, act, act_stride, out); });
}

void tile_q8_0_exact(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out) {
  const auto* w = static_cast<const BlockQ8_0x8*>(group);
  with_cols(n_cols, [&](auto nc) { q8_0_exact_cols<decltype(nc)::value>(nb, w, act, act_stride, out); });
}

}  // namespace ts::avx2
