// AVX2 + FMA twins of kernels/ref/numerics_ref.cpp; every result is bit-identical to it.
#include "kernels/x86/numerics_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "base/fp16.h"
#include "kernels/ref/numerics_ref.h"
#include "kernels/x86/numerics_simd.h"
#include "quant/blocks.h"

namespace ts::avx2 {

namespace {

using x86::half_sums_pair;
using x86::load_h8;
using x86::reduce32_single;
using x86::reduce8_batch;
using x86::reduce8_keys_batch;
using x86::reduce8_keys_single;
using x86::reduce_lanes_single;
using x86::reduce_slots_with;


// Lanes with |n| > 126 give 0 or +inf, as in the reference.
__m256 exp_poly(__m256 x) {
  const __m256 shift = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
  const __m256 n = _mm256_sub_ps(z, shift);
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                    _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
  const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 j = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                      _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
      u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
  const __m256 r = _mm256_fmadd_ps(j, k, k);
  const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
  const __m256 out_of_range = _mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
  // NaN n (x = -inf) compares false above; treat it as out of range too.
  const __m256 nan = _mm256_cmp_ps(n, n, _CMP_UNORD_Q);
  const __m256 special = _mm256_or_ps(out_of_range, nan);
  const __m256 inf_or_zero = _mm256_and_ps(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_GT_OQ),
                                           _mm256_set1_ps(INFINITY));
  return _mm256_blendv_ps(r, inf_or_zero, special);
}

// Lane sums (a0 + a2) + (a1 + a3) of the single-row order's four accumulators, for two keys
// k0 and k1 against the same q (n a multiple of 32): s for k0, t for k1.
inline void key_pair_lane_sums(const float* q, const uint16_t* k0, const uint16_t* k1, int64_t n, __m256* s, __m256* t) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  for (int64_t i = 0; i < n; i += 32) {
    __m256 qv = _mm256_loadu_ps(q + i);
    a0 = _mm256_fmadd_ps(qv, load_h8(k0 + i), a0);
    b0 = _mm256_fmadd_ps(qv, load_h8(k1 + i), b0);
    qv = _mm256_loadu_ps(q + i + 8);
    a1 = _mm256_fmadd_ps(qv, load_h8(k0 + i + 8), a1);
    b1 = _mm256_fmadd_ps(qv, load_h8(k1 + i + 8), b1);
    qv = _mm256_loadu_ps(q + i + 16);
    a2 = _mm256_fmadd_ps(qv, load_h8(k0 + i + 16), a2);
    b2 = _mm256_fmadd_ps(qv, load_h8(k1 + i + 16), b2);
    qv = _mm256_loadu_ps(q + i + 24);
    a3 = _mm256_fmadd_ps(qv, load_h8(k0 + i + 24), a3);
    b3 = _mm256_fmadd_ps(qv, load_h8(k1 + i + 24), b3);
  }
  *s = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3));
  *t = _mm256_add_ps(_mm256_add_ps(b0, b2), _mm256_add_ps(b1, b3));
}

}  // namespace

float attn_dot(const float* a, const uint16_t* b, int64_t n, SumOrder order) {
  if (order == SumOrder::kBatch) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_h8(b + i), acc);
    return reduce8_batch(acc);
  }
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  const int64_t full = n / 32 * 32;
  for (int64_t i = 0; i < full; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_h8(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load_h8(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), load_h8(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), load_h8(b + i + 24), s3);
  }
  double sum = reduce32_single(s0, s1, s2, s3);
  for (int64_t i = full; i < n; ++i) sum += static_cast<double>(a[i] * _cvtsh_ss(b[i]));
  return static_cast<float>(sum);
}

void attn_scores(const float* q, const uint16_t* k, int64_t k_stride, int64_t n_keys, int64_t n, SumOrder order, float scale,
                 float* out) {
  int64_t p = 0;
  if (order == SumOrder::kBatch) {
    // Eight keys at once: eight independent FMA chains share each load of q.
    constexpr int kKeys = 8;
    for (; p + kKeys <= n_keys; p += kKeys) {
      __m256 acc[kKeys];
      for (auto& a : acc) a = _mm256_setzero_ps();
      for (int64_t i = 0; i < n; i += 8) {
        const __m256 qv = _mm256_loadu_ps(q + i);
        for (int j = 0; j < kKeys; ++j) acc[j] = _mm256_fmadd_ps(qv, load_h8(k + (p + j) * k_stride + i), acc[j]);
      }
      _mm256_storeu_ps(out + p, _mm256_mul_ps(reduce8_keys_batch(acc), _mm256_set1_ps(scale)));
    }
  } else if (n % 32 == 0) {
    // Eight keys per pass, two at a time with the four accumulators of the single-row order; the
    // eight final reductions then run transposed (see reduce8_keys_single), same sums in the same
    // order as reduce32_single per key.
    const __m256 vscale = _mm256_set1_ps(scale);
    for (; p + 8 <= n_keys; p += 8) {
      __m256 halves[4];
      for (int j = 0; j < 4; ++j) {
        const uint16_t* k0 = k + (p + 2 * j) * k_stride;
        __m256 s0, s1;
        key_pair_lane_sums(q, k0, k0 + k_stride, n, &s0, &s1);
        halves[j] = half_sums_pair(s0, s1);
      }
      _mm256_storeu_ps(out + p, _mm256_mul_ps(reduce8_keys_single(halves), vscale));
    }
    // Two keys at once, each with the four accumulators of the single-row order.
    for (; p + 2 <= n_keys; p += 2) {
      const uint16_t* k0 = k + p * k_stride;
      __m256 s0, s1;
      key_pair_lane_sums(q, k0, k0 + k_stride, n, &s0, &s1);
      out[p] = reduce_lanes_single(s0) * scale;
      out[p + 1] = reduce_lanes_single(s1) * scale;
    }
  }
  for (; p < n_keys; ++p) out[p] = attn_dot(q, k + p * k_stride, n, order) * scale;
}

namespace {
// The reference's std::max_element value, eight lanes at a time. Equal values are the same value
// except +0 and -0, and exp_poly(x - (+0)) = exp_poly(x - (-0)) for every x, so which zero comes
// back does not change the softmax. With a NaN in the row the reference's answer depends on
// where the NaN sits: that row takes the reference's own scan.
float row_max(const float* x, int64_t n) {
  if (n < 16) return *std::max_element(x, x + n);
  __m256 m = _mm256_loadu_ps(x);
  __m256 nan = _mm256_cmp_ps(m, m, _CMP_UNORD_Q);
  int64_t i = 8;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    m = _mm256_max_ps(m, v);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  if (_mm256_movemask_ps(nan) != 0) return *std::max_element(x, x + n);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float best = *std::max_element(lanes, lanes + 8);
  for (; i < n; ++i) {
    if (std::isnan(x[i])) return *std::max_element(x, x + n);
    best = std::max(best, x[i]);
  }
  return best;
}
}  // namespace

void attn_scores_rows(const float* q, int64_t q_stride, int64_t n_rows, const PagedRows& k, const int64_t* first_key,
                      const int64_t* n_keys, int64_t n, SumOrder order, float scale, float* out, int64_t out_stride) {
  scores_rows_by_runs(attn_scores, q, q_stride, n_rows, k, first_key, n_keys, n, order, scale, out, out_stride);
}

void attn_softmax(float* x, int64_t n_valid) {
  const float max = row_max(x, n_valid);
  const __m256 vmax = _mm256_set1_ps(max);
  double sum = 0.0;
  int64_t i = 0;
  for (; i + 8 <= n_valid; i += 8) {
    const __m256 e = exp_poly(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
    _mm256_storeu_ps(x + i, e);
    sum += static_cast<double>(reduce8_batch(e));
  }
  if (i < n_valid) {
    alignas(32) float tail[8];
    for (int l = 0; l < 8; ++l) tail[l] = i + l < n_valid ? x[i + l] : -1e30f;  // masked: exp -> 0
    const __m256 e = exp_poly(_mm256_sub_ps(_mm256_load_ps(tail), vmax));
    _mm256_store_ps(tail, e);
    for (int l = 0; i + l < n_valid; ++l) x[i + l] = tail[l];
    sum += static_cast<double>(reduce8_batch(e));
  }
  const __m256 scale = _mm256_set1_ps(static_cast<float>(1.0 / sum));
  i = 0;
  for (; i + 8 <= n_valid; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), scale));
  for (; i < n_valid; ++i) x[i] *= _mm256_cvtss_f32(scale);
}

namespace {

// Whole 8-column groups. The reference keeps one accumulator per (column group, p % kSlots)
// (8 slots in the batch order, 32 in the single-row order); each is an independent chain over
// p = slot, slot + kSlots, ... So the positions are walked once per slot, and every visited V
// row feeds a chunk of G column groups from one broadcast of its weight: one load per FMA
// instead of two, each row read once, and the same sums in the same order.
//
// Continues the chains of G groups at one slot over rows [r_begin, r_end), step kSlots; row r
// starts at rows[r] + col; acc holds the chains between calls ([group, slot] layout: groups
// kSlots apart).
template <int G, int kSlots>
void continue_slot(const float* w, const uint16_t* const* rows, int64_t col, int64_t r_begin, int64_t r_end, __m256* acc) {
  __m256 a[G];
  for (int g = 0; g < G; ++g) a[g] = acc[kSlots * g];
  for (int64_t r = r_begin; r < r_end; r += kSlots) {
    const __m256 wr = _mm256_set1_ps(w[r]);
    const uint16_t* row = rows[r] + col;
    for (int g = 0; g < G; ++g) a[g] = _mm256_fmadd_ps(wr, load_h8(row + 8 * g), a[g]);
  }
  for (int g = 0; g < G; ++g) acc[kSlots * g] = a[g];
}

// Continues every (group, slot) chain over the n rows of a run that starts at position p0: row
// r is position p0 + r and lands in slot (p0 + r) % kSlots, so runs split anywhere give the same
// chains as one walk. w points at the run's first weight, rows[r] at its V rows (which may sit
// in different KV blocks). acc: [groups, kSlots].
template <int kSlots>
void continue_slots(const float* w, const uint16_t* const* rows, int64_t n, int64_t p0, int64_t groups, __m256* acc) {
  const int64_t offset = p0 % kSlots;
  for (int64_t g0 = 0; g0 < groups;) {
    const int64_t left = groups - g0;
    const int chunk = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
    const int64_t col = 8 * g0;
    for (int slot = 0; slot < kSlots; ++slot) {
      const int64_t r0 = (slot - offset + kSlots) % kSlots;  // first row of the run in this slot
      if (r0 >= n) continue;  // short run: this slot's chains have nothing to add
      __m256* a = acc + kSlots * g0 + slot;
      switch (chunk) {
        case 8: continue_slot<8, kSlots>(w, rows, col, r0, n, a); break;
        case 4: continue_slot<4, kSlots>(w, rows, col, r0, n, a); break;
        case 2: continue_slot<2, kSlots>(w, rows, col, r0, n, a); break;
        default: continue_slot<1, kSlots>(w, rows, col, r0, n, a); break;
      }
    }
    g0 += chunk;
  }
}

inline __m256 reduce_slots(const __m256* a, int slots) {
  return reduce_slots_with(a, slots, [](__m256 x, __m256 y) { return _mm256_add_ps(x, y); });
}

constexpr int64_t kSharedRows = 8;     // rows that share each chunk of v
constexpr int64_t kSharedChunk = 64;   // positions per chunk when rows share v (a multiple of 32)
constexpr int64_t kLoneChunk = 512;    // positions per chunk for a lone row (a multiple of 32)
constexpr int64_t kAccBudget = 2048;   // accumulators on the stack: 64 KiB

// Whole 8-column groups, rows in passes of as many as the accumulator budget holds. Positions
// go chunk by chunk through a list of row pointers, so a chunk spans KV blocks: with 16-token
// blocks and 32 slots, walking block by block would reload and store every accumulator for
// at most one row per slot.
template <int kSlots>
void weighted_sums_slots(const float* w, int64_t w_stride, const int64_t* n_keys, int64_t n_rows, const PagedRows& v,
                         int64_t dim, float* out, int64_t out_stride) {
  __m256 acc[kAccBudget];  // [row, group, slot]
  const uint16_t* rows[kLoneChunk];  // [chunk positions] V row of each
  const int64_t groups = dim / 8;
  const int64_t per_row = groups * kSlots;
  const int64_t rows_per_pass = std::clamp<int64_t>(kAccBudget / per_row, 1, kSharedRows);
  for (int64_t r0 = 0; r0 < n_rows; r0 += rows_per_pass) {
    const int64_t r1 = std::min(n_rows, r0 + rows_per_pass);
    int64_t max_keys = 0;
    for (int64_t i = r0; i < r1; ++i) max_keys = std::max(max_keys, n_keys[i]);
    for (int64_t j = 0; j < (r1 - r0) * per_row; ++j) acc[j] = _mm256_setzero_ps();
    // Several rows go in small chunks so that the chunk of v stays in L1 while every row
    // continues its chains over it; a lone row takes long chunks (fewer accumulator reloads).
    const int64_t chunk = r1 - r0 > 1 ? kSharedChunk : kLoneChunk;
    for (int64_t p0 = 0; p0 < max_keys; p0 += chunk) {
      const int64_t p1 = std::min(p0 + chunk, max_keys);
      for (int64_t p = p0; p < p1;) {  // one table lookup per block
        const uint16_t* first = v.row(p);
        const int64_t run = std::min(p1 - p, v.rows_left_in_block(p));
        for (int64_t r = 0; r < run; ++r) rows[p - p0 + r] = first + r * v.row_stride;
        p += run;
      }
      for (int64_t i = r0; i < r1; ++i) {
        const int64_t end = std::min(p1, n_keys[i]);
        if (p0 < end) continue_slots<kSlots>(w + i * w_stride + p0, rows, end - p0, p0, groups, acc + (i - r0) * per_row);
      }
    }
    for (int64_t i = r0; i < r1; ++i) {
      for (int64_t g = 0; g < groups; ++g) {
        _mm256_storeu_ps(out + i * out_stride + 8 * g, reduce_slots(acc + (i - r0) * per_row + kSlots * g, kSlots));
      }
    }
  }
}

// Head sizes that are not a multiple of 8: the last partial group goes through a padded copy.
void weighted_sum_partial(const float* w, const PagedRows& v, int64_t n, int64_t dim, float* out, SumOrder order) {
  const int64_t dim8 = dim / 8 * 8;
  alignas(32) float tail_out[8];
  for (int64_t d = 0; d < dim; d += 8) {
    const bool partial = d >= dim8;
    auto load_v = [&](int64_t p) {
      if (!partial) return load_h8(v.row(p) + d);
      alignas(32) float tmp[8] = {};
      for (int64_t l = 0; d + l < dim; ++l) tmp[l] = _cvtsh_ss(v.row(p)[d + l]);
      return _mm256_load_ps(tmp);
    };
    const int slots = order == SumOrder::kBatch ? 8 : 32;
    __m256 acc[32];
    for (auto& a : acc) a = _mm256_setzero_ps();
    for (int64_t p = 0; p < n; ++p) acc[p % slots] = _mm256_fmadd_ps(_mm256_set1_ps(w[p]), load_v(p), acc[p % slots]);
    const __m256 result = reduce_slots(acc, slots);
    if (!partial) {
      _mm256_storeu_ps(out + d, result);
    } else {
      _mm256_store_ps(tail_out, result);
      for (int64_t l = 0; d + l < dim; ++l) out[d + l] = tail_out[l];
    }
  }
}

}  // namespace

void attn_weighted_sums(const float* w, int64_t w_stride, const int64_t* n_keys, int64_t n_rows, const PagedRows& v,
                        int64_t dim, float* out, int64_t out_stride, SumOrder order) {
  if (dim > kMaxAttentionDim) fail("attention: head size {} exceeds {}", dim, kMaxAttentionDim);
  if (dim % 8 != 0) {
    for (int64_t i = 0; i < n_rows; ++i) weighted_sum_partial(w + i * w_stride, v, n_keys[i], dim, out + i * out_stride, order);
    return;
  }
  if (order == SumOrder::kBatch) return weighted_sums_slots<8>(w, w_stride, n_keys, n_rows, v, dim, out, out_stride);
  weighted_sums_slots<32>(w, w_stride, n_keys, n_rows, v, dim, out, out_stride);
}

void attn_weighted_sum(const float* w, const uint16_t* v, int64_t v_stride, int64_t n, int64_t dim, float* out,
                       SumOrder order) {
  attn_weighted_sums(w, 0, &n, 1, PagedRows::contiguous(v, v_stride), dim, out, 0, order);
}

void weighted_sum_q8_0(const float* w, const PagedBytes& v, int64_t first, int64_t n, int64_t dim, float* out) {
  // One Q8_0 column block (32 outputs, four 8-lane sums) at a time over all rows: the rows of one
  // head are a few KB, so the second pass reads them from L1/L2.
  for (int64_t b = 0; b < dim / kQK; ++b) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t p = first; p < n; ++p) {
      if (w[p] == 0.0f) continue;
      const BlockQ8_0& blk = reinterpret_cast<const BlockQ8_0*>(v.row(p))[b];
      const __m256 s = _mm256_set1_ps(w[p] * fp16_to_f32(blk.d));
      for (int j = 0; j < 4; ++j) {
        const __m128i q8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk.qs + 8 * j));
        acc[j] = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)), acc[j]);
      }
    }
    for (int j = 0; j < 4; ++j) _mm256_storeu_ps(out + b * kQK + 8 * j, acc[j]);
  }
}

namespace {

// Keys per piece of a row's range: its scores, running maxima and weights stay on the stack.
constexpr int64_t kOnlinePiece = 64;

// One row's accumulator columns [0, 8 NV) over a piece of n keys: rescaled by c[j] where the
// maximum rose at key j, then one FMA per key, in the reference's order lane by lane. With l,
// the running sum goes along (l *= c[j] where it rose, l += e[j]): its chain of dependent adds
// then hides under the FMA chains instead of running alone after them.
template <int NV>
void online_values(const float* v, int64_t kv_stride, int64_t n, const float* e, const float* c, uint64_t rose,
                   float* a, float* l) {
  __m256 acc[NV];
  for (int t = 0; t < NV; ++t) acc[t] = _mm256_loadu_ps(a + 8 * t);
  float li = l != nullptr ? *l : 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    if ((rose >> j & 1) != 0) {
      const __m256 cj = _mm256_set1_ps(c[j]);
      for (int t = 0; t < NV; ++t) acc[t] = _mm256_mul_ps(acc[t], cj);
      li *= c[j];
    }
    const __m256 ej = _mm256_set1_ps(e[j]);
    const float* vj = v + j * kv_stride;
    for (int t = 0; t < NV; ++t) acc[t] = _mm256_fmadd_ps(ej, _mm256_loadu_ps(vj + 8 * t), acc[t]);
    li += e[j];
  }
  for (int t = 0; t < NV; ++t) _mm256_storeu_ps(a + 8 * t, acc[t]);
  if (l != nullptr) *l = li;
}

using OnlineValuesFn = void (*)(const float*, int64_t, int64_t, const float*, const float*, uint64_t, float*, float*);
constexpr OnlineValuesFn kOnlineValues[9] = {nullptr,           online_values<1>, online_values<2>,
                                             online_values<3>, online_values<4>, online_values<5>,
                                             online_values<6>, online_values<7>, online_values<8>};

// Lane l of the result: max(carry, s[0], ..., s[l]) (three shift-and-max steps).
inline __m256 prefix_max8(__m256 s, __m256 carry) {
  const __m256 low = _mm256_set1_ps(-INFINITY);
  __m256 x = s;
  x = _mm256_max_ps(x, _mm256_blend_ps(_mm256_permutevar8x32_ps(x, _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6)), low, 0x01));
  x = _mm256_max_ps(x, _mm256_blend_ps(_mm256_permutevar8x32_ps(x, _mm256_setr_epi32(0, 0, 0, 1, 2, 3, 4, 5)), low, 0x03));
  x = _mm256_max_ps(x, _mm256_blend_ps(_mm256_permutevar8x32_ps(x, _mm256_setr_epi32(0, 0, 0, 0, 0, 1, 2, 3)), low, 0x0F));
  return _mm256_max_ps(x, carry);
}

}  // namespace

// Per row and piece of keys: eight keys' dot products at a time (8 chains sharing each load of
// q, reduced together in the reference's order); per eight keys the running maximum before and
// after each (a prefix maximum), the keys where it rose (exp for the rescale only if any did)
// and the weights exp(s - m); then the values 64 columns at a time with the accumulators in
// registers. The maximum is exact whatever the order it is taken in, so every value equals the
// reference's key-by-key recurrence.
void online_attention(const float* q, int64_t q_stride, int64_t n_rows, const float* k, const float* v,
                      int64_t kv_stride, const int64_t* lo, const int64_t* hi, int64_t dim, float scale, float* m,
                      float* l, float* acc, int64_t acc_stride) {
  if (dim % 8 != 0) {
    ref::online_attention(q, q_stride, n_rows, k, v, kv_stride, lo, hi, dim, scale, m, l, acc, acc_stride);
    return;
  }
  const __m256 vscale = _mm256_set1_ps(scale);
  for (int64_t i = 0; i < n_rows; ++i) {
    const float* qi = q + i * q_stride;
    float* a = acc + i * acc_stride;
    for (int64_t p0 = lo[i]; p0 < hi[i]; p0 += kOnlinePiece) {
      const int64_t n = std::min(kOnlinePiece, hi[i] - p0);
      const int64_t n8 = (n + 7) / 8 * 8;
      alignas(32) float s[kOnlinePiece], c[kOnlinePiece], e[kOnlinePiece];
      for (int64_t g = 0; g < n; g += 8) {
        __m256 lanes[8];
        const float* kr[8];
        for (int j = 0; j < 8; ++j) {
          lanes[j] = _mm256_setzero_ps();
          kr[j] = k + (p0 + std::min<int64_t>(g + j, n - 1)) * kv_stride;  // past the end: a repeat, unused
        }
        for (int64_t d = 0; d < dim; d += 8) {
          const __m256 qv = _mm256_loadu_ps(qi + d);
          for (int j = 0; j < 8; ++j) lanes[j] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[j] + d), lanes[j]);
        }
        _mm256_store_ps(s + g, _mm256_mul_ps(reduce8_keys_batch(lanes), vscale));
      }
      // Lanes past n hold repeats of the last key: they only ever follow the real ones.
      uint64_t rose = 0;
      __m256 carry = _mm256_set1_ps(m[i]);
      float mi = m[i];
      for (int64_t j = 0; j < n8; j += 8) {
        const __m256 sv = _mm256_load_ps(s + j);
        const __m256 after = prefix_max8(sv, carry);
        const __m256 before = _mm256_blend_ps(_mm256_permutevar8x32_ps(after, _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6)), carry, 0x01);
        const int valid = n - j >= 8 ? 0xFF : (1 << (n - j)) - 1;
        const int up = _mm256_movemask_ps(_mm256_cmp_ps(sv, before, _CMP_GT_OQ)) & valid;
        if (up != 0) {
          rose |= static_cast<uint64_t>(up) << j;
          _mm256_store_ps(c + j, exp_poly(_mm256_sub_ps(before, sv)));
        }
        _mm256_store_ps(e + j, exp_poly(_mm256_sub_ps(sv, after)));
        alignas(32) float lanes[8];
        _mm256_store_ps(lanes, after);
        mi = lanes[std::min<int64_t>(n - j, 8) - 1];
        carry = _mm256_set1_ps(mi);
      }
      for (int64_t d0 = 0; d0 < dim; d0 += 64) {
        const int64_t nv = std::min<int64_t>(64, dim - d0) / 8;
        kOnlineValues[nv](v + p0 * kv_stride + d0, kv_stride, n, e, c, rose, a + d0, d0 == 0 ? l + i : nullptr);
      }
      m[i] = mi;
    }
  }
}

void from_f16(const uint16_t* in, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load_h8(in + i));
  for (; i < n; ++i) out[i] = _cvtsh_ss(in[i]);
}

void swiglu(float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(gate + i);
    const __m256 e = exp_poly(_mm256_sub_ps(_mm256_setzero_ps(), x));
    const __m256 silu = _mm256_div_ps(x, _mm256_add_ps(one, e));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
  if (i < n) {
    alignas(32) float g[8] = {}, u[8] = {};
    for (int64_t l = 0; i + l < n; ++l) {
      g[l] = gate[i + l];
      u[l] = up[i + l];
    }
    const __m256 x = _mm256_load_ps(g);
    const __m256 e = exp_poly(_mm256_sub_ps(_mm256_setzero_ps(), x));
    _mm256_store_ps(g, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_load_ps(u)));
    for (int64_t l = 0; i + l < n; ++l) gate[i + l] = g[l];
  }
}

void to_f16(const float* in, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) out[i] = _cvtss_sh(in[i], _MM_FROUND_TO_NEAREST_INT);
}

void round_f16(const float* in, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) out[i] = _cvtsh_ss(_cvtss_sh(in[i], _MM_FROUND_TO_NEAREST_INT));
}

namespace {
// -x by its sign bit, as the reference's unary minus (0 - x would turn -0 into +0).
inline __m256 neg(__m256 x) { return _mm256_xor_ps(x, _mm256_set1_ps(-0.0f)); }
}  // namespace

// The reference's two fused multiply-adds per pair, eight values at a time.
void rope(float* head, const float* cos_sin, int64_t n_rot, bool neox) {
  const int64_t half = n_rot / 2;
  int64_t i = 0;
  if (!neox) {
    // Four adjacent pairs (x0, x1) per vector, and their four (cos, sin) in the same layout:
    // even lanes take fma(x0, c, -(x1 s)), odd lanes fma(x0, s, x1 c).
    for (; i + 4 <= half; i += 4) {
      const __m256 x = _mm256_loadu_ps(head + 2 * i);
      const __m256 cs = _mm256_loadu_ps(cos_sin + 2 * i);
      const __m256 x0 = _mm256_moveldup_ps(x), x1 = _mm256_movehdup_ps(x);
      const __m256 c = _mm256_moveldup_ps(cs), s = _mm256_movehdup_ps(cs);
      const __m256 even = _mm256_fmadd_ps(x0, c, neg(_mm256_mul_ps(x1, s)));
      const __m256 odd = _mm256_fmadd_ps(x0, s, _mm256_mul_ps(x1, c));
      _mm256_storeu_ps(head + 2 * i, _mm256_blend_ps(even, odd, 0xAA));
    }
  } else {
    // Eight (x[i], x[i + half]) pairs; the table's interleaved cos and sin split into two vectors.
    for (; i + 8 <= half; i += 8) {
      const __m256 cs0 = _mm256_loadu_ps(cos_sin + 2 * i), cs1 = _mm256_loadu_ps(cos_sin + 2 * i + 8);
      const __m256 c = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(cs0, cs1, 0x88)), 0xD8));
      const __m256 s = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(cs0, cs1, 0xDD)), 0xD8));
      const __m256 x0 = _mm256_loadu_ps(head + i), x1 = _mm256_loadu_ps(head + i + half);
      _mm256_storeu_ps(head + i, _mm256_fmadd_ps(x0, c, neg(_mm256_mul_ps(x1, s))));
      _mm256_storeu_ps(head + i + half, _mm256_fmadd_ps(x0, s, _mm256_mul_ps(x1, c)));
    }
  }
  ref::rope_from(head, cos_sin, i, n_rot, neox);
}

}  // namespace ts::avx2
