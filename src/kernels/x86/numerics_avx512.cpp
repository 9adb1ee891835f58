// AVX-512 twins of the attention dot products and weighted sums, and of SwiGLU
// (kernels/ref/numerics_ref.cpp); every result is bit-identical to the reference. Compiled with
// AVX-512 F/BW/VL/DQ flags; only called after run-time detection. The other numerics stay on
// their AVX2 twins.
//
// Both loops keep the reference's accumulators lane for lane and only pack two of them into one
// 512-bit register where they run side by side: the single-row dot product's four 8-lane
// accumulators become two 16-lane ones, and the weighted sums' (8 columns, slot) chains become
// (16 columns, slot) chains. Each lane sees the same FMAs in the same order; the final
// reductions are the AVX2 twin's, on the same lane sums.
#include "kernels/x86/numerics_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <type_traits>

#include "base/error.h"
#include "kernels/x86/numerics_avx2.h"
#include "kernels/x86/numerics_simd.h"

// GCC 12 reports the deliberately undefined pass-through operand inside its own 512-bit
// intrinsics as maybe-uninitialized; nothing here reads an uninitialised value.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace ts::avx512 {

namespace {

using x86::half_sums_pair;
using x86::reduce8_keys_single;
using x86::reduce_lanes_single;
using x86::reduce_slots_with;

// Sixteen f16 values as f32 (exact), or sixteen f32 values.
inline __m512 load16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }

// Positions per chunk that the rows sharing keys or values pass over together: the chunk is
// widened to f32 once (one conversion per value instead of one per value and row: the
// conversions, not the FMAs, bounded the f16 loops) into ~32 KiB, which stays in L1. A multiple
// of 32, so chunks hold whole slot cycles.
constexpr int64_t kChunkBytes = 32768;
constexpr int64_t kMaxChunkFloats = 32 * kMaxAttentionDim;  // the smallest chunk at the largest dim
inline int64_t chunk_positions(int64_t dim) { return std::max<int64_t>(32, kChunkBytes / (dim * 4) / 32 * 32); }

// dst[p - p0][d] = rows p0..p1 of src as f32; dim a multiple of 16.
void widen_rows(const PagedRows& src, int64_t p0, int64_t p1, int64_t dim, float* dst) {
  for (int64_t p = p0; p < p1;) {
    const uint16_t* first = src.row(p);
    const int64_t run = std::min(p1 - p, src.rows_left_in_block(p));
    for (int64_t r = 0; r < run; ++r) {
      const uint16_t* row = first + r * src.row_stride;
      float* out = dst + (p - p0 + r) * dim;
      for (int64_t d = 0; d < dim; d += 16) _mm512_storeu_ps(out + d, load16(row + d));
    }
    p += run;
  }
}

// Lane sums (a0 + a2) + (a1 + a3) of the single-row order for kKeys keys against one q (n a
// multiple of 32). Register lo[j] holds the reference's accumulators a0 | a1 of key j (elements
// 0..15 of each 32-element step), hi[j] holds a2 | a3 (elements 16..31).
template <int kKeys, typename T>
inline void lane_sums_single(const float* q, const T* key, int64_t key_stride, int64_t n, __m256* s) {
  __m512 lo[kKeys], hi[kKeys];
  for (int j = 0; j < kKeys; ++j) lo[j] = hi[j] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 32) {
    const __m512 q_lo = _mm512_loadu_ps(q + i), q_hi = _mm512_loadu_ps(q + i + 16);
    for (int j = 0; j < kKeys; ++j) {
      lo[j] = _mm512_fmadd_ps(q_lo, load16(key + j * key_stride + i), lo[j]);
      hi[j] = _mm512_fmadd_ps(q_hi, load16(key + j * key_stride + i + 16), hi[j]);
    }
  }
  for (int j = 0; j < kKeys; ++j) {
    const __m512 t = _mm512_add_ps(lo[j], hi[j]);  // [a0 + a2 | a1 + a3]
    s[j] = _mm256_add_ps(_mm512_castps512_ps256(t), _mm512_extractf32x8_ps(t, 1));
  }
}

// Scores of keys [0, n_keys) at key (stride key_stride) for one q, in the single-row order:
// eight keys per pass with their final reductions transposed (as the AVX2 twin), then one by one.
template <typename T>
void scores_single(const float* q, const T* key, int64_t key_stride, int64_t n_keys, int64_t n, float scale, float* out) {
  const __m256 vscale = _mm256_set1_ps(scale);
  int64_t p = 0;
  for (; p + 8 <= n_keys; p += 8) {
    __m256 s[8];
    lane_sums_single<8>(q, key + p * key_stride, key_stride, n, s);
    __m256 halves[4];
    for (int j = 0; j < 4; ++j) halves[j] = half_sums_pair(s[2 * j], s[2 * j + 1]);
    _mm256_storeu_ps(out + p, _mm256_mul_ps(reduce8_keys_single(halves), vscale));
  }
  for (; p < n_keys; ++p) {
    __m256 s;
    lane_sums_single<1>(q, key + p * key_stride, key_stride, n, &s);
    out[p] = reduce_lanes_single(s) * scale;
  }
}

// The weighted sums' chains of one slot for G 16-column groups over rows r_begin, r_begin +
// kSlots, ... < r_end of v (f32, row stride ld), from column col (the AVX2 twin's continue_slot,
// whose chains these are, two at a time).
template <int G, int kSlots>
void continue_slot(const float* w, const float* v, int64_t ld, int64_t col, int64_t r_begin, int64_t r_end, __m512* acc) {
  __m512 a[G];
  for (int g = 0; g < G; ++g) a[g] = acc[kSlots * g];
  for (int64_t r = r_begin; r < r_end; r += kSlots) {
    const __m512 wr = _mm512_set1_ps(w[r]);
    const float* row = v + r * ld + col;
    for (int g = 0; g < G; ++g) a[g] = _mm512_fmadd_ps(wr, _mm512_loadu_ps(row + 16 * g), a[g]);
  }
  for (int g = 0; g < G; ++g) acc[kSlots * g] = a[g];
}

// Continues every (group, slot) chain over the n rows of v (f32, one row per position, stride
// ld) of a run starting at position p0. acc: [groups, kSlots].
template <int kSlots>
void continue_slots(const float* w, const float* v, int64_t ld, int64_t n, int64_t p0, int64_t groups, __m512* acc) {
  const int64_t offset = p0 % kSlots;
  for (int64_t g0 = 0; g0 < groups;) {
    const int64_t left = groups - g0;
    const int chunk = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
    const int64_t col = 16 * g0;
    for (int slot = 0; slot < kSlots; ++slot) {
      const int64_t r0 = (slot - offset + kSlots) % kSlots;
      if (r0 >= n) continue;
      __m512* a = acc + kSlots * g0 + slot;
      switch (chunk) {
        case 8: continue_slot<8, kSlots>(w, v, ld, col, r0, n, a); break;
        case 4: continue_slot<4, kSlots>(w, v, ld, col, r0, n, a); break;
        case 2: continue_slot<2, kSlots>(w, v, ld, col, r0, n, a); break;
        default: continue_slot<1, kSlots>(w, v, ld, col, r0, n, a); break;
      }
    }
    g0 += chunk;
  }
}

inline __m512 reduce_slots(const __m512* a, int slots) {
  return reduce_slots_with(a, slots, [](__m512 x, __m512 y) { return _mm512_add_ps(x, y); });
}

// One row of weighted sums in the single-row order over all n of its positions at once
// (widened values vf, [n, dim], dim a multiple of 16): per 16-column group, slot s (position p
// with p % 32 == s) continues its chain p = s, s + 32, ... as continue_slot does, but the 32
// slots of the group live in registers, 16 per pass, and meet in reduce_slots' tree without
// going through memory. The same FMAs and additions in the same order, so the same bits, in
// about half the instructions of continue_slots over stack accumulators (Zen 5, bench_attention
// avx512/decode_group/ctx128, eight heads' scores, softmax and sums: 3.74 -> 3.23 µs).
template <int kFrom, typename Dim>
inline void slot_pass(const float* w, const float* vf, int64_t n, Dim dim, int64_t col, __m512* a) {
  for (int j = 0; j < 16; ++j) a[j] = _mm512_setzero_ps();
  int64_t p0 = kFrom;
  for (; p0 + 16 <= n; p0 += 32) {
    for (int j = 0; j < 16; ++j) a[j] = _mm512_fmadd_ps(_mm512_set1_ps(w[p0 + j]), _mm512_loadu_ps(vf + (p0 + j) * dim + col), a[j]);
  }
  if (p0 < n) {
    for (int j = 0; j < 16; ++j) {
      if (p0 + j < n) a[j] = _mm512_fmadd_ps(_mm512_set1_ps(w[p0 + j]), _mm512_loadu_ps(vf + (p0 + j) * dim + col), a[j]);
    }
  }
}

template <typename Dim>
void weighted_sum_row_single(const float* w, const float* vf, int64_t n, Dim dim, float* out) {
  for (int64_t col = 0; col < dim; col += 16) {
    __m512 lo[16], hi[16];  // slots 0..15 and 16..31 of this column group
    slot_pass<0>(w, vf, n, dim, col, lo);
    slot_pass<16>(w, vf, n, dim, col, hi);
    // reduce_slots_with's single-row tree: (a[l] + a[16 + l]) + (a[8 + l] + a[24 + l]), then
    // (l, l + 4), then (0 + 1) + (2 + 3).
    __m512 u[16];
    for (int m = 0; m < 16; ++m) u[m] = _mm512_add_ps(lo[m], hi[m]);
    __m512 t[4];
    for (int l = 0; l < 4; ++l) t[l] = _mm512_add_ps(_mm512_add_ps(u[l], u[8 + l]), _mm512_add_ps(u[l + 4], u[12 + l]));
    _mm512_storeu_ps(out + col, _mm512_add_ps(_mm512_add_ps(t[0], t[1]), _mm512_add_ps(t[2], t[3])));
  }
}

constexpr int64_t kAccBudget = 1024;  // accumulators on the stack: 64 KiB
constexpr int64_t kMaxSharedRows = 8;

// Rows in passes of as many as the accumulator budget holds; each chunk of v is widened once
// and every row of the pass continues its chains over it.
template <int kSlots>
void weighted_sums_slots(const float* w, int64_t w_stride, const int64_t* n_keys, int64_t n_rows, const PagedRows& v,
                         int64_t dim, float* out, int64_t out_stride) {
  __m512 acc[kAccBudget];                   // [row, group, slot]
  alignas(64) float vf[kMaxChunkFloats];    // [chunk positions, dim]
  const int64_t groups = dim / 16;
  const int64_t per_row = groups * kSlots;
  const int64_t rows_per_pass = std::clamp<int64_t>(kAccBudget / per_row, 1, kMaxSharedRows);
  const int64_t chunk = chunk_positions(dim);
  const int64_t all_keys = n_rows > 0 ? *std::max_element(n_keys, n_keys + n_rows) : 0;
  if (all_keys <= chunk) {
    // Every position in one chunk (a decode step's attention up to 128 positions at dim 64, or
    // a short prompt block): rows go one at a time instead of all rows' accumulators at once
    // (64 KiB for eight heads of 64 in the single-row order). The streamed weights evict the
    // stack between layers, and zeroing 64 KiB of cold lines was most of a short decode step's
    // sums. The single-row order keeps a row's slots in registers (weighted_sum_row_single); the
    // batch order's rows take turns on one row's accumulators. Each row's chains see the same
    // FMAs in the same order either way.
    widen_rows(v, 0, all_keys, dim, vf);
    if constexpr (kSlots == 32) {
      for (int64_t i = 0; i < n_rows; ++i) {
        if (dim == 64) {  // the usual head size: constant offsets
          weighted_sum_row_single(w + i * w_stride, vf, n_keys[i], std::integral_constant<int64_t, 64>{}, out + i * out_stride);
        } else {
          weighted_sum_row_single(w + i * w_stride, vf, n_keys[i], dim, out + i * out_stride);
        }
      }
      return;
    }
    for (int64_t i = 0; i < n_rows; ++i) {
      for (int64_t j = 0; j < per_row; ++j) acc[j] = _mm512_setzero_ps();
      if (n_keys[i] > 0) continue_slots<kSlots>(w + i * w_stride, vf, dim, n_keys[i], 0, groups, acc);
      for (int64_t g = 0; g < groups; ++g) _mm512_storeu_ps(out + i * out_stride + 16 * g, reduce_slots(acc + kSlots * g, kSlots));
    }
    return;
  }
  for (int64_t r0 = 0; r0 < n_rows; r0 += rows_per_pass) {
    const int64_t r1 = std::min(n_rows, r0 + rows_per_pass);
    int64_t max_keys = 0;
    for (int64_t i = r0; i < r1; ++i) max_keys = std::max(max_keys, n_keys[i]);
    for (int64_t j = 0; j < (r1 - r0) * per_row; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t p0 = 0; p0 < max_keys; p0 += chunk) {
      const int64_t p1 = std::min(p0 + chunk, max_keys);
      widen_rows(v, p0, p1, dim, vf);
      for (int64_t i = r0; i < r1; ++i) {
        const int64_t end = std::min(p1, n_keys[i]);
        if (p0 < end) continue_slots<kSlots>(w + i * w_stride + p0, vf, dim, end - p0, p0, groups, acc + (i - r0) * per_row);
      }
    }
    for (int64_t i = r0; i < r1; ++i) {
      for (int64_t g = 0; g < groups; ++g) {
        _mm512_storeu_ps(out + i * out_stride + 16 * g, reduce_slots(acc + (i - r0) * per_row + kSlots * g, kSlots));
      }
    }
  }
}

}  // namespace

void attn_scores(const float* q, const uint16_t* k, int64_t k_stride, int64_t n_keys, int64_t n, SumOrder order, float scale,
                 float* out) {
  if (order != SumOrder::kSingle || n % 32 != 0) return avx2::attn_scores(q, k, k_stride, n_keys, n, order, scale, out);
  scores_single(q, k, k_stride, n_keys, n, scale, out);
}

void attn_scores_rows(const float* q, int64_t q_stride, int64_t n_rows, const PagedRows& k, const int64_t* first_key,
                      const int64_t* n_keys, int64_t n, SumOrder order, float scale, float* out, int64_t out_stride) {
  if (order != SumOrder::kSingle || n % 32 != 0 || n > kMaxAttentionDim) {
    return scores_rows_by_runs(attn_scores, q, q_stride, n_rows, k, first_key, n_keys, n, order, scale, out, out_stride);
  }
  alignas(64) float kf[kMaxChunkFloats];  // [chunk positions, n]
  int64_t lo = INT64_MAX, hi = 0;
  for (int64_t i = 0; i < n_rows; ++i) {
    lo = std::min(lo, first_key[i]);
    hi = std::max(hi, n_keys[i]);
  }
  const int64_t chunk = chunk_positions(n);
  for (int64_t p0 = lo; p0 < hi; p0 += chunk) {
    const int64_t p1 = std::min(p0 + chunk, hi);
    widen_rows(k, p0, p1, n, kf);
    for (int64_t i = 0; i < n_rows; ++i) {
      const int64_t a = std::max(p0, first_key[i]), b = std::min(p1, n_keys[i]);
      if (a < b) scores_single(q + i * q_stride, kf + (a - p0) * n, n, b - a, n, scale, out + i * out_stride + a);
    }
  }
}

void attn_weighted_sums(const float* w, int64_t w_stride, const int64_t* n_keys, int64_t n_rows, const PagedRows& v,
                        int64_t dim, float* out, int64_t out_stride, SumOrder order) {
  if (dim > kMaxAttentionDim) fail("attention: head size {} exceeds {}", dim, kMaxAttentionDim);
  static_assert(kMaxAttentionDim / 16 * 32 <= kAccBudget, "one row's accumulators fit the budget");
  if (dim % 16 != 0) return avx2::attn_weighted_sums(w, w_stride, n_keys, n_rows, v, dim, out, out_stride, order);
  if (order == SumOrder::kBatch) return weighted_sums_slots<8>(w, w_stride, n_keys, n_rows, v, dim, out, out_stride);
  weighted_sums_slots<32>(w, w_stride, n_keys, n_rows, v, dim, out, out_stride);
}

void attn_weighted_sum(const float* w, const uint16_t* v, int64_t v_stride, int64_t n, int64_t dim, float* out,
                       SumOrder order) {
  attn_weighted_sums(w, 0, &n, 1, PagedRows::contiguous(v, v_stride), dim, out, 0, order);
}

namespace {

// The AVX2 twin's exp_poly (ref::exp_poly's steps) on sixteen lanes: the same operations lane
// for lane, with masks where it blends.
__m512 exp_poly16(__m512 x) {
  const __m512 shift = _mm512_set1_ps(0x1.8p23f);
  const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), shift);
  const __m512 n = _mm512_sub_ps(z, shift);
  const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f), _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
  const __m512i e = _mm512_slli_epi32(_mm512_castps_si512(z), 23);
  const __m512 k = _mm512_castsi512_ps(_mm512_add_epi32(e, _mm512_castps_si512(_mm512_set1_ps(1.0f))));
  const __m512 u = _mm512_mul_ps(b, b);
  const __m512 j = _mm512_fmadd_ps(
      _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                      _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
      u, _mm512_mul_ps(_mm512_set1_ps(0x1.ffffecp-1f), b));
  const __m512 r = _mm512_fmadd_ps(j, k, k);
  // |n| > 126 gives +inf (n > 0) or 0; so does a NaN n, as in the AVX2 twin.
  const __m512 abs_n = _mm512_andnot_ps(_mm512_set1_ps(-0.0f), n);
  const __mmask16 special = _mm512_cmp_ps_mask(abs_n, _mm512_set1_ps(126.0f), _CMP_GT_OQ) | _mm512_cmp_ps_mask(n, n, _CMP_UNORD_Q);
  const __m512 inf_or_zero = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_GT_OQ), _mm512_set1_ps(INFINITY));
  return _mm512_mask_blend_ps(special, r, inf_or_zero);
}

// gate[i..i+16) (the lanes in `m`) = silu(gate) * up: x / (1 + exp(0 - x)) * u.
inline void swiglu16(float* gate, const float* up, __mmask16 m) {
  const __m512 x = _mm512_maskz_loadu_ps(m, gate);
  const __m512 e = exp_poly16(_mm512_sub_ps(_mm512_setzero_ps(), x));
  const __m512 silu = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
  _mm512_mask_storeu_ps(gate, m, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, up)));
}

}  // namespace

void swiglu(float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) swiglu16(gate + i, up + i, 0xFFFF);
  if (i < n) swiglu16(gate + i, up + i, static_cast<__mmask16>((1u << (n - i)) - 1));
}

}  // namespace ts::avx512
