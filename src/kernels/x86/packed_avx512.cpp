// Compiled with AVX-512 F/BW/VL/DQ + VNNI flags (see CMakeLists.txt); only called after
// run-time detection of AVX-512 VNNI.
//
// The same tiles as packed_avx2.cpp with VPDPBUSD in place of VPMADDUBSW + VPADDW + VPMADDWD
// (on 256-bit registers through AVX-512 VL, or 512-bit ones where a tile covers two chunks or
// two groups at once): each instruction multiplies 4 unsigned bytes of a weight row by 4 signed
// activation bytes and adds the 4 products into that row's int32 lane. The integer sums are
// exact either way (the AVX2 int16 partial sums cannot overflow), and the float steps per block
// are the same instructions in the same order, so results are bit-identical to the AVX2 kernels
// and the scalar twins, in about half the integer work.
#include <immintrin.h>

#include <algorithm>

#include <cstring>
#include <type_traits>

#include "kernels/cpu_features.h"
#include "kernels/packed.h"
#include "kernels/x86/packed_simd.h"

// GCC 12 reports the deliberately undefined pass-through operand inside its own 512-bit
// intrinsics (_mm512_cvtepi32_ps, _mm512_inserti64x4) as maybe-uninitialized; nothing here reads
// an uninitialised value.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace ts::avx512 {

namespace {

using x86::bcast4;
using x86::lane_tree;
using x86::load_f16x8;
using x86::prefetch_ahead;
using x86::PrefetchKind;
using x86::prefetch_act;
using x86::prefetch_stream;
using x86::prefetch_pair_ahead;
using x86::with_cols;
using x86::with_prefetch;

// A single weight stream per thread (the one-group tiles: decode) asks for its data ahead as
// cpu_tuning().stream_prefetch says, which differs by CPU family: 3 KiB (6 KiB for rows under
// 2048 elements) into L2 with the activations into L1 on Intel Xeon, 6 KiB into L1 on Zen 5,
// nothing on Zen 4 (see stream_prefetch_default). Pair tiles (prefill) read two streams and keep
// x86::kPrefetchDistance: 6 KiB cost them 2-3% on Zen 5.

inline __m512i bcast4_512(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return _mm512_set1_epi32(v);
}

// Activation dwords for one 512-bit VPDPBUSD: lanes 0..7 (the first 32-byte chunk of a group
// block, rows 0..7) take dword `lo` of the block's 32 activation bytes, lanes 8..15 (the next
// chunk) dword `hi`. Two broadcasts from memory, the second merged into the upper half under a
// mask: load-port work plus one merge, where a permute of the activations loaded once took the
// shuffle unit the nibble splits also need. Zen 4, Q4_0 decode, odd tokens with it and even ones
// without in one run: 0.0-2.0% less time per token over 6 runs (median 1.65%); same integers.
inline __m512i dword_halves(const int8_t* qs, int lo, int hi) {
  int32_t h = 0;
  std::memcpy(&h, qs + 4 * hi, sizeof(h));
  return _mm512_mask_set1_epi32(bcast4_512(qs + 4 * lo), 0xFF00, h);
}

// with_cols for pair tiles: 1..kMaxPairTileCols columns, each width its own kernel.
template <typename F>
void with_pair_cols(int n_cols, F&& f) {
  static_assert(kMaxPairTileCols == 8, "the cases below cover 5..8 columns");
  switch (n_cols) {
    case 5: return f(std::integral_constant<int, 5>{});
    case 6: return f(std::integral_constant<int, 6>{});
    case 7: return f(std::integral_constant<int, 7>{});
    case 8: return f(std::integral_constant<int, 8>{});
    default: return with_cols(n_cols, f);
  }
}

// A group block's nibbles (Q4_0 and Q4_1 arrange them alike), split: chunks 0 and 1 (lanes
// 0..7 and 8..15) and chunks 2 and 3, low and high nibbles.
struct Nibbles {
  __m512i lo01, hi01, lo23, hi23;
};
inline Nibbles split_nibbles(const uint8_t* qs, __m512i mask) {
  const __m512i raw01 = _mm512_loadu_si512(qs);
  const __m512i raw23 = _mm512_loadu_si512(qs + 64);
  return {_mm512_and_si512(raw01, mask), _mm512_and_si512(_mm512_srli_epi16(raw01, 4), mask),
          _mm512_and_si512(raw23, mask), _mm512_and_si512(_mm512_srli_epi16(raw23, 4), mask)};
}
// Each row's exact sum of its nibbles times one activation block (lane r: row r). Chunk j's low
// nibbles meet activation dword j, its high nibbles dword 4 + j.
inline __m256i nibble_sums(const Nibbles& q, const int8_t* a) {
  __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q.lo01, dword_halves(a, 0, 1));
  s = _mm512_dpbusd_epi32(s, q.hi01, dword_halves(a, 4, 5));
  s = _mm512_dpbusd_epi32(s, q.lo23, dword_halves(a, 2, 3));
  s = _mm512_dpbusd_epi32(s, q.hi23, dword_halves(a, 6, 7));
  return _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
}

// One group (8 rows) against NC activation rows, two 32-byte chunks of the group block per
// 512-bit register: half the VPDPBUSDs, loads and nibble splits of a 256-bit pass. Lanes r and
// r + 8 hold row r's integer sums over different chunks; adding the halves is exact, so every
// float step per block is as before and the results are bit-identical. One thread reading from
// L2: 60 -> 84 GB/s of Q4_0 weights (Zen 5); decode from DRAM is bound by memory, but the core
// has more room to spare.
template <int NC, PrefetchKind kPf>
void q4_0(int64_t nb, const BlockQ4_0x8* w, const BlockQ8S* act, int64_t stride, float* out, size_t distance) {
  const __m512i mask = _mm512_set1_epi8(0x0F);
  __m256 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_stream<kPf>(w + b, distance);
    for (int c = 0; c < NC; ++c) prefetch_act<kPf>(act + c * stride + b);
    const Nibbles q = split_nibbles(w[b].qs, mask);
    const __m256 dw = load_f16x8(w[b].d);
    for (int c = 0; c < NC; ++c) {
      const BlockQ8S* a = act + c * stride + b;
      const __m256i d = _mm256_sub_epi32(nibble_sums(q, a->qs), _mm256_set1_epi32(8 * a->sum));
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_mul_ps(dw, _mm256_set1_ps(a->d)), acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) _mm256_storeu_ps(out + 8 * c, acc[c]);
}

// Two groups in one pass on 512-bit registers: lanes 0..7 are the first group's rows, 8..15 the
// second's, so every VPDPBUSD does 64 multiply-adds and each activation broadcast serves 16
// rows. Per lane the arithmetic is q4_0's above, step for step.
inline __m512i load_pair(const uint8_t* a, const uint8_t* b) {
  return _mm512_inserti64x4(_mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a))),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), 1);
}

// Prefetch for a pair's two weight streams. On its last pass over the pair (all of a decode
// step's rows fit one pass; a call with fewer than kMaxPairTileCols rows is taken as the last)
// each stream runs on into the next pair, which the matmul takes next; earlier passes, whose
// pair is read again right after, look ahead within it only.
template <typename Block>
inline void prefetch_streams(const Block* w0, const Block* w1, int64_t b, int64_t nb, bool last_pass) {
  if (last_pass) {
    prefetch_pair_ahead(w0, b, nb);
    prefetch_pair_ahead(w1, b, nb);
  } else {
    prefetch_ahead(w0 + b);
    prefetch_ahead(w1 + b);
  }
}

// s32[c] += the nibbles of two group blocks (lanes 0..7: qs0's rows, 8..15: qs1's) times
// activation block a[c], exactly (Q4_0 and Q4_1 arrange their nibbles alike).
template <int NC>
inline void add_pair_nibble_products(const uint8_t* qs0, const uint8_t* qs1, const BlockQ8S* const* a, __m512i mask,
                                     __m512i* s32) {
  for (int j = 0; j < 4; ++j) {
    const __m512i raw = load_pair(qs0 + 32 * j, qs1 + 32 * j);
    const __m512i lo = _mm512_and_si512(raw, mask);
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), mask);
    for (int c = 0; c < NC; ++c) {
      s32[c] = _mm512_dpbusd_epi32(s32[c], lo, bcast4_512(a[c]->qs + 4 * j));
      s32[c] = _mm512_dpbusd_epi32(s32[c], hi, bcast4_512(a[c]->qs + 16 + 4 * j));
    }
  }
}

template <int NC>
void q4_0_pair(int64_t nb, const BlockQ4_0x8* w0, const BlockQ4_0x8* w1, const BlockQ8S* act, int64_t stride, float* out) {
  const __m512i mask = _mm512_set1_epi8(0x0F);
  __m512 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_streams(w0, w1, b, nb, NC < kMaxPairTileCols);
    const BlockQ8S* a[NC];
    for (int c = 0; c < NC; ++c) a[c] = act + c * stride + b;
    // Each sum starts at -8 * sum(a) (the nibble offset), broadcast from memory and shifted in
    // the vector unit rather than through a general register; the integer total is the same.
    __m512i s32[NC];
    for (int c = 0; c < NC; ++c) {
      s32[c] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(_mm512_set1_epi32(a[c]->sum), 3));
    }
    add_pair_nibble_products<NC>(w0[b].qs, w1[b].qs, a, mask, s32);
    const __m512 dw = _mm512_insertf32x8(_mm512_zextps256_ps512(load_f16x8(w0[b].d)), load_f16x8(w1[b].d), 1);
    for (int c = 0; c < NC; ++c) {
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s32[c]), _mm512_mul_ps(dw, _mm512_set1_ps(a[c]->d)), acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) _mm512_storeu_ps(out + 16 * c, acc[c]);
}

// Q4_1 in the exact-block order (BlockOrder::kFastest): q4_0's integer steps on the unsigned
// nibbles (no offset to remove), one scale per block and row, and the minimum's term per block
// in a sum of its own, added at the end as llama.cpp's order does.
template <int NC, PrefetchKind kPf>
void q4_1_exact(int64_t nb, const BlockQ4_1x8* w, const BlockQ8S* act, int64_t stride, float* out, size_t distance) {
  const __m512i mask = _mm512_set1_epi8(0x0F);
  __m256 acc[NC], summs[NC];
  for (int c = 0; c < NC; ++c) acc[c] = summs[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_stream<kPf>(w + b, distance);
    for (int c = 0; c < NC; ++c) prefetch_act<kPf>(act + c * stride + b);
    const Nibbles q = split_nibbles(w[b].qs, mask);
    const __m256 dw = load_f16x8(w[b].d);
    const __m256 mw = load_f16x8(w[b].m);
    for (int c = 0; c < NC; ++c) {
      const BlockQ8S* a = act + c * stride + b;
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(nibble_sums(q, a->qs)), _mm256_mul_ps(dw, _mm256_set1_ps(a->d)), acc[c]);
      summs[c] = _mm256_add_ps(summs[c], _mm256_mul_ps(mw, _mm256_set1_ps(a->s)));
    }
  }
  for (int c = 0; c < NC; ++c) _mm256_storeu_ps(out + 8 * c, _mm256_add_ps(acc[c], summs[c]));
}

// q4_1_exact for two groups at once, as q4_0_pair is for q4_0.
template <int NC>
void q4_1_exact_pair(int64_t nb, const BlockQ4_1x8* w0, const BlockQ4_1x8* w1, const BlockQ8S* act, int64_t stride,
                     float* out) {
  const __m512i mask = _mm512_set1_epi8(0x0F);
  __m512 acc[NC], summs[NC];
  for (int c = 0; c < NC; ++c) acc[c] = summs[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_streams(w0, w1, b, nb, NC < kMaxPairTileCols);
    const BlockQ8S* a[NC];
    for (int c = 0; c < NC; ++c) a[c] = act + c * stride + b;
    __m512i s32[NC];
    for (int c = 0; c < NC; ++c) s32[c] = _mm512_setzero_si512();
    add_pair_nibble_products<NC>(w0[b].qs, w1[b].qs, a, mask, s32);
    const __m512 dw = _mm512_insertf32x8(_mm512_zextps256_ps512(load_f16x8(w0[b].d)), load_f16x8(w1[b].d), 1);
    const __m512 mw = _mm512_insertf32x8(_mm512_zextps256_ps512(load_f16x8(w0[b].m)), load_f16x8(w1[b].m), 1);
    for (int c = 0; c < NC; ++c) {
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s32[c]), _mm512_mul_ps(dw, _mm512_set1_ps(a[c]->d)), acc[c]);
      summs[c] = _mm512_add_ps(summs[c], _mm512_mul_ps(mw, _mm512_set1_ps(a[c]->s)));
    }
  }
  for (int c = 0; c < NC; ++c) _mm512_storeu_ps(out + 16 * c, _mm512_add_ps(acc[c], summs[c]));
}

// Q4_1 and Q8_0: llama.cpp's per-lane float order, as in packed_avx2.cpp.
inline __m256 dot4_float(__m256i u8, __m256i s8) {
  return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), u8, s8));
}

template <PrefetchKind kPf>
void q4_1_col(int64_t nb, const BlockQ4_1x8* w, const BlockQ8S* a, float* out, size_t distance) {
  const __m256i mask = _mm256_set1_epi8(0x0F);
  __m256 acc[8];
  for (auto& x : acc) x = _mm256_setzero_ps();
  __m256 summs = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_stream<kPf>(w + b, distance);
    prefetch_act<kPf>(a + b);
    const __m256 scale = _mm256_mul_ps(load_f16x8(w[b].d), _mm256_set1_ps(a[b].d));
    for (int j = 0; j < 4; ++j) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * j));
      const __m256i lo = _mm256_and_si256(raw, mask);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
      acc[j] = _mm256_fmadd_ps(scale, dot4_float(lo, bcast4(a[b].qs + 4 * j)), acc[j]);
      acc[4 + j] = _mm256_fmadd_ps(scale, dot4_float(hi, bcast4(a[b].qs + 16 + 4 * j)), acc[4 + j]);
    }
    summs = _mm256_add_ps(summs, _mm256_mul_ps(load_f16x8(w[b].m), _mm256_set1_ps(a[b].s)));
  }
  _mm256_storeu_ps(out, _mm256_add_ps(lane_tree(acc), summs));
}

template <PrefetchKind kPf>
void q8_0_col(int64_t nb, const BlockQ8_0x8* w, const BlockQ8S* a, float* out, size_t distance) {
  __m256 acc[8];
  for (auto& x : acc) x = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_stream<kPf>(w + b, distance);
    prefetch_act<kPf>(a + b);
    const __m256 scale = _mm256_mul_ps(load_f16x8(w[b].d), _mm256_set1_ps(a[b].d));
    for (int s = 0; s < 8; ++s) {
      // |w| (unsigned) times a with w's sign: the same products as w * a.
      const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * s));
      acc[s] = _mm256_fmadd_ps(scale, dot4_float(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(bcast4(a[b].qs + 4 * s), wq)), acc[s]);
    }
  }
  _mm256_storeu_ps(out, lane_tree(acc));
}

// llama.cpp's lane tree over 8 float lane sums, for 16 rows at once.
inline __m512 lane_tree_512(const __m512* l) {
  return _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(l[0], l[4]), _mm512_add_ps(l[2], l[6])),
                       _mm512_add_ps(_mm512_add_ps(l[1], l[5]), _mm512_add_ps(l[3], l[7])));
}

// The llama.cpp-order pair tiles keep 8 accumulators per activation row, so they take the
// columns two at a time: f(nc, last_pass, first column) with nc = 1 or 2 and last_pass (both
// std::integral_constant) true on the pair's last pass. A call with fewer than the most columns
// is the pair's last pass (see prefetch_streams).
template <typename F>
void in_two_row_passes(int n_cols, F&& f) {
  const bool last_call = n_cols < kMaxPairTileCols;
  const auto pass = [&](auto nc, bool last, int c) {
    if (last) return f(nc, std::true_type{}, c);
    f(nc, std::false_type{}, c);
  };
  int c = 0;
  for (; c + 2 <= n_cols; c += 2) pass(std::integral_constant<int, 2>{}, last_call && c + 2 == n_cols, c);
  if (c < n_cols) pass(std::integral_constant<int, 1>{}, last_call, c);
}

// q8_0_col for two groups and NC (1..2) activation rows at once on 512-bit registers: per lane
// the same integers (one VPDPBUSD per 4 elements, scaled into one of 8 float sums per step, summed
// in llama.cpp's lane tree at the end). VPDPBUSD wants one unsigned operand: the weights go in as
// w + 128 (one XOR per step, shared by the columns), and each step's sum starts at -128 times the
// sum of its 4 activations instead of 0, so it ends at exactly sum(w * a).
// (kLastPass is a template parameter rather than an argument: with the run-time flag GCC 12
// kept the 16 accumulators in memory, storing each after every step; single-thread Q8_0 prefill
// products 166 -> 190-200 GOP/s without those stores.)
template <int NC, bool kLastPass>
void q8_0_pair(int64_t nb, const BlockQ8_0x8* w0, const BlockQ8_0x8* w1, const BlockQ8S* act, int64_t stride, float* out) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc[NC][8];
  for (auto& col : acc) {
    for (auto& x : col) x = _mm512_setzero_ps();
  }
  // Each step's starting sum, -128 * (a[4s] + ... + a[4s + 3]), plus 0x4B400000: the float
  // 1.5 * 2^23, whose low bits then hold the exact integer sum (|sum| < 2^17), so one float
  // subtraction converts it. Made for a run of blocks ahead of use, then broadcast from memory:
  // loads, where register shuffles would compete with VPDPBUSD for its ports.
  constexpr int64_t kRun = 32;
  alignas(64) int32_t start[kRun][NC][8];  // [block in run, column, step]
  const __m512 magic = _mm512_set1_ps(12582912.0f);
  for (int64_t b0 = 0; b0 < nb; b0 += kRun) {
    const int64_t b1 = std::min(nb, b0 + kRun);
    for (int64_t b = b0; b < b1; ++b) {
      for (int c = 0; c < NC; ++c) {
        const __m256i qs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(act[c * stride + b].qs));
        const __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm512_castsi512_si256(bias), qs);  // 128 * sum
        _mm256_store_si256(reinterpret_cast<__m256i*>(start[b - b0][c]), _mm256_sub_epi32(_mm256_set1_epi32(0x4B400000), sums));
      }
    }
    for (int64_t b = b0; b < b1; ++b) {
      prefetch_streams(w0, w1, b, nb, kLastPass);
      const __m512 dw = _mm512_insertf32x8(_mm512_zextps256_ps512(load_f16x8(w0[b].d)), load_f16x8(w1[b].d), 1);
      __m512 scale[NC];
      for (int c = 0; c < NC; ++c) scale[c] = _mm512_mul_ps(dw, _mm512_set1_ps(act[c * stride + b].d));
      for (int s = 0; s < 8; ++s) {
        const __m512i w_biased = _mm512_xor_si512(load_pair(reinterpret_cast<const uint8_t*>(w0[b].qs + 32 * s),
                                                            reinterpret_cast<const uint8_t*>(w1[b].qs + 32 * s)),
                                                  bias);
        for (int c = 0; c < NC; ++c) {
          const __m512i a = bcast4_512(act[c * stride + b].qs + 4 * s);
          const __m512i sum = _mm512_dpbusd_epi32(_mm512_set1_epi32(start[b - b0][c][s]), w_biased, a);
          acc[c][s] = _mm512_fmadd_ps(scale[c], _mm512_sub_ps(_mm512_castsi512_ps(sum), magic), acc[c][s]);
        }
      }
    }
  }
  for (int c = 0; c < NC; ++c) {
    const __m512* l = acc[c];
    const __m512 sum = lane_tree_512(l);
    _mm512_storeu_ps(out + 16 * c, sum);
  }
}

// tile_q4_1 (llama.cpp's order) for two groups and NC (1..2) activation rows at once on 512-bit
// registers: per lane the same integers and float steps (each 4-element sum of a chunk's low or
// high nibbles converted and scaled into one of 8 float sums per row, the minimum's term in a
// sum of its own, the lane tree at the end). 16 accumulators for two rows leave the registers
// for the weights; kLastPass as in q8_0_pair.
template <int NC, bool kLastPass>
void q4_1_pair(int64_t nb, const BlockQ4_1x8* w0, const BlockQ4_1x8* w1, const BlockQ8S* act, int64_t stride, float* out) {
  const __m512i mask = _mm512_set1_epi8(0x0F);
  __m512 acc[NC][8], summs[NC];
  for (int c = 0; c < NC; ++c) {
    for (auto& x : acc[c]) x = _mm512_setzero_ps();
    summs[c] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_streams(w0, w1, b, nb, kLastPass);
    const __m512 dw = _mm512_insertf32x8(_mm512_zextps256_ps512(load_f16x8(w0[b].d)), load_f16x8(w1[b].d), 1);
    const __m512 mw = _mm512_insertf32x8(_mm512_zextps256_ps512(load_f16x8(w0[b].m)), load_f16x8(w1[b].m), 1);
    __m512 scale[NC];
    for (int c = 0; c < NC; ++c) scale[c] = _mm512_mul_ps(dw, _mm512_set1_ps(act[c * stride + b].d));
    for (int j = 0; j < 4; ++j) {
      const __m512i raw = load_pair(w0[b].qs + 32 * j, w1[b].qs + 32 * j);
      const __m512i lo = _mm512_and_si512(raw, mask);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), mask);
      for (int c = 0; c < NC; ++c) {
        const int8_t* a = act[c * stride + b].qs;
        const __m512i s_lo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, bcast4_512(a + 4 * j));
        const __m512i s_hi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi, bcast4_512(a + 16 + 4 * j));
        acc[c][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s_lo), scale[c], acc[c][j]);
        acc[c][4 + j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s_hi), scale[c], acc[c][4 + j]);
      }
    }
    for (int c = 0; c < NC; ++c) summs[c] = _mm512_add_ps(summs[c], _mm512_mul_ps(mw, _mm512_set1_ps(act[c * stride + b].s)));
  }
  for (int c = 0; c < NC; ++c) {
    const __m512* l = acc[c];
    const __m512 sum = lane_tree_512(l);
    _mm512_storeu_ps(out + 16 * c, _mm512_add_ps(sum, summs[c]));
  }
}

}  // namespace

void pair_tile_q4_1(int64_t nb, const void* group, size_t group_bytes, const BlockQ8S* act, int64_t act_stride,
                    int n_cols, float* out) {
  const auto* w0 = static_cast<const BlockQ4_1x8*>(group);
  const auto* w1 = reinterpret_cast<const BlockQ4_1x8*>(static_cast<const uint8_t*>(group) + group_bytes);
  in_two_row_passes(n_cols, [&](auto nc, auto last, int c) {
    q4_1_pair<decltype(nc)::value, decltype(last)::value>(nb, w0, w1, act + c * act_stride, act_stride, out + 16 * c);
  });
}

void pair_tile_q8_0(int64_t nb, const void* group, size_t group_bytes, const BlockQ8S* act, int64_t act_stride,
                    int n_cols, float* out) {
  const auto* w0 = static_cast<const BlockQ8_0x8*>(group);
  const auto* w1 = reinterpret_cast<const BlockQ8_0x8*>(static_cast<const uint8_t*>(group) + group_bytes);
  in_two_row_passes(n_cols, [&](auto nc, auto last, int c) {
    q8_0_pair<decltype(nc)::value, decltype(last)::value>(nb, w0, w1, act + c * act_stride, act_stride, out + 16 * c);
  });
}

void tile_q4_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out) {
  const auto* w = static_cast<const BlockQ4_0x8*>(group);
  const StreamPrefetch p = cpu_tuning().stream_prefetch;
  with_prefetch(p, [&](auto kind) {
    with_cols(n_cols, [&](auto nc) { q4_0<decltype(nc)::value, decltype(kind)::value>(nb, w, act, act_stride, out, p.distance(nb * kQK)); });
  });
}

void pair_tile_q4_0(int64_t nb, const void* group, size_t group_bytes, const BlockQ8S* act, int64_t act_stride,
                    int n_cols, float* out) {
  const auto* w0 = static_cast<const BlockQ4_0x8*>(group);
  const auto* w1 = reinterpret_cast<const BlockQ4_0x8*>(static_cast<const uint8_t*>(group) + group_bytes);
  with_pair_cols(n_cols, [&](auto nc) { q4_0_pair<decltype(nc)::value>(nb, w0, w1, act, act_stride, out); });
}

void tile_q4_1(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out) {
  const auto* w = static_cast<const BlockQ4_1x8*>(group);
  // Later columns find the group in cache.
  const StreamPrefetch p = cpu_tuning().stream_prefetch;
  with_prefetch(p, [&](auto kind) { q4_1_col<decltype(kind)::value>(nb, w, act, out, p.distance(nb * kQK)); });
  for (int c = 1; c < n_cols; ++c) q4_1_col<PrefetchKind::kNone>(nb, w, act + c * act_stride, out + 8 * c, 0);
}

void tile_q4_1_exact(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out) {
  const auto* w = static_cast<const BlockQ4_1x8*>(group);
  const StreamPrefetch p = cpu_tuning().stream_prefetch;
  with_prefetch(p, [&](auto kind) {
    with_cols(n_cols, [&](auto nc) {
      q4_1_exact<decltype(nc)::value, decltype(kind)::value>(nb, w, act, act_stride, out, p.distance(nb * kQK));
    });
  });
}

void pair_tile_q4_1_exact(int64_t nb, const void* group, size_t group_bytes, const BlockQ8S* act, int64_t act_stride,
                          int n_cols, float* out) {
  const auto* w0 = static_cast<const BlockQ4_1x8*>(group);
  const auto* w1 = reinterpret_cast<const BlockQ4_1x8*>(static_cast<const uint8_t*>(group) + group_bytes);
  with_pair_cols(n_cols, [&](auto nc) { q4_1_exact_pair<decltype(nc)::value>(nb, w0, w1, act, act_stride, out); });
}

void tile_q8_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out) {
  const auto* w = static_cast<const BlockQ8_0x8*>(group);
  const StreamPrefetch p = cpu_tuning().stream_prefetch;
  with_prefetch(p, [&](auto kind) { q8_0_col<decltype(kind)::value>(nb, w, act, out, p.distance(nb * kQK)); });
  for (int c = 1; c < n_cols; ++c) q8_0_col<PrefetchKind::kNone>(nb, w, act + c * act_stride, out + 8 * c, 0);
}

namespace {

// quantize_row_q8s's steps for up to sixteen blocks at once, each block in two 16-lane
// registers: the AVX2 twin's operations value for value (amax, 127 / amax, products rounded half
// to even, scales rounded to f16), so the blocks are identical. The per-block scalar steps (two
// divisions, two f16 roundings) run as one 16-lane operation each for the sixteen blocks, lane b
// holding block b; the values are loaded twice (for amax, then for the products) while still in
// L1. load(i, h) gives elements 16h..16h+15 of block i.
template <typename Load>
void quantize_q8s_blocks16(int64_t nblocks, BlockQ8S* y, Load&& load) {
  const __m512 sign = _mm512_set1_ps(-0.0f);
  constexpr int kNearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  for (int64_t i0 = 0; i0 < nblocks; i0 += 16) {
    const int nb = static_cast<int>(std::min<int64_t>(16, nblocks - i0));
    alignas(64) float amax[16] = {};
    for (int b = 0; b < nb; ++b) {
      const __m512 a = _mm512_max_ps(_mm512_andnot_ps(sign, load(i0 + b, 0)), _mm512_andnot_ps(sign, load(i0 + b, 1)));
      amax[b] = _mm512_reduce_max_ps(a);
    }
    const __m512 am = _mm512_load_ps(amax);
    const __m512 d = _mm512_div_ps(am, _mm512_set1_ps(127.0f));  // [block] amax / 127, unrounded
    // 127 / amax where amax != 0, else 0
    const __m512 id = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(am, _mm512_setzero_ps(), _CMP_NEQ_UQ), _mm512_set1_ps(127.0f), am);
    alignas(64) float ids[16], ds[16];
    _mm512_store_ps(ids, id);
    _mm512_store_ps(ds, _mm512_cvtph_ps(_mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT)));
    alignas(64) int32_t sums[16] = {};
    for (int b = 0; b < nb; ++b) {
      const __m512 idv = _mm512_set1_ps(ids[b]);
      const __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(load(i0 + b, 0), idv), kNearest);
      const __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(load(i0 + b, 1), idv), kNearest);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i0 + b].qs),
                          _mm256_set_m128i(_mm512_cvtsepi32_epi8(q1), _mm512_cvtsepi32_epi8(q0)));
      sums[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    }
    // s = f16(sum * (amax / 127))
    alignas(64) float ss[16];
    const __m512 s = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(sums)), d);
    _mm512_store_ps(ss, _mm512_cvtph_ps(_mm512_cvtps_ph(s, _MM_FROUND_TO_NEAREST_INT)));
    for (int b = 0; b < nb; ++b) {
      y[i0 + b].d = ds[b];
      y[i0 + b].sum = sums[b];
      y[i0 + b].s = ss[b];
    }
  }
}

}  // namespace

void quantize_q8s(const float* x, BlockQ8S* y, int64_t n) {
  quantize_q8s_blocks16(n / kQK, y, [x](int64_t i, int h) { return _mm512_loadu_ps(x + i * kQK + 16 * h); });
}

void quantize_q8s_scaled(const float* x, float scale, const float* weight, BlockQ8S* y, int64_t n) {
  const __m512 s = _mm512_set1_ps(scale);
  // (x * scale) * weight: rms_norm's two roundings, as the AVX2 twin.
  quantize_q8s_blocks16(n / kQK, y, [=](int64_t i, int h) {
    const int64_t e = i * kQK + 16 * h;
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + e), s), _mm512_loadu_ps(weight + e));
  });
}

}  // namespace ts::avx512
