#pragma once
// Kernels over the interleaved weight layouts of quant/repack.h: one call computes one group
// of 8 weight rows against 1..kMaxTileCols activation rows (columns of the output).
#include <cstdint>

#include "quant/repack.h"
#include "quant/types.h"

namespace ts {

constexpr int kMaxTileCols = 4;
// Pair tiles (two groups, 16 weight rows) take up to 8 activation rows per call (AVX-512: one
// pass in 32 zmm registers; AVX2: passes of up to 4).
constexpr int kMaxPairTileCols = 8;

// out[c * 8 + r] = dot(weight row r of the group, activation row c) for c < n_cols.
// group: nb consecutive group blocks; act: activation row c starts at act + c * act_stride.
using PackedTileFn = void (*)(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols,
                              float* out);

// Two consecutive groups (16 weight rows, the second group_bytes after the first) at once:
// out[c * 16 + r] for c < n_cols (<= kMaxPairTileCols), rows 0..7 from the first group and 8..15 from the second.
// Results equal two PackedTileFn calls bit for bit (the lanes do the same arithmetic).
using PackedPairTileFn = void (*)(int64_t nb, const void* group, size_t group_bytes, const BlockQ8S* act,
                                  int64_t act_stride, int n_cols, float* out);

// How a packed product sums a row's blocks, where a type has more than one way.
//   kLlamaCpp: llama.cpp's order, bit for bit (the Q8_0 tiles keep 8 float lanes of 4-element
//              sums per row and add the lanes at the end).
//   kFastest:  whichever order is fastest on this CPU. On CPUs with AVX2 and no AVX-512 VNNI,
//              Q8_0 then sums each block exactly in integers and scales it once (the Q4_0
//              tiles' order): fewer roundings, and five vector operations instead of six per
//              32 multiply-adds (prefill +13-19% on Zen 3). With AVX-512 VNNI, Q4_1 does the
//              same (its llama.cpp order converts and scales every 4-element sum: Zen 5, 2
//              threads, SmolLM2 shapes at M = 512, ~560 against ~1000 GOP/s). Elsewhere it is
//              kLlamaCpp's order. The hardware decides (cpu_features), not the TINYSERVE_ISA
//              cap: the scalar reference path then sums in the same order as the fast one, bit
//              for bit.
// Q4_0 has one order, so the choice changes nothing for it.
enum class BlockOrder : uint8_t { kLlamaCpp, kFastest };
// "llamacpp" or "fastest", as the --block-order flag spells them.
inline const char* block_order_name(BlockOrder order) { return order == BlockOrder::kLlamaCpp ? "llamacpp" : "fastest"; }

// The fast variant for this CPU, or nullptr if `type` has no interleaved layout.
PackedTileFn packed_tile_for(DType type, BlockOrder order = BlockOrder::kLlamaCpp);
// A 16-row variant where this CPU has one (512-bit registers), else nullptr.
PackedPairTileFn packed_pair_tile_for(DType type, BlockOrder order = BlockOrder::kLlamaCpp);
// The scalar reference twin of packed_tile_for(type, order) (same block-by-block float
// arithmetic, so results are identical). Without AVX2 it is that tile itself.
PackedTileFn reference_packed_tile_for(DType type, BlockOrder order = BlockOrder::kLlamaCpp);
// Whether order is kFastest and that picks another summation than kLlamaCpp on this hardware.
bool fastest_differs(DType type, BlockOrder order);

// Activation quantization for the packed kernels (quantize_row_q8s, vectorised where the CPU
// allows; the results are identical).
void quantize_q8s(const float* x, BlockQ8S* y, int64_t n);
// quantize_q8s of the row (x[i] * scale) * weight[i], without storing it as floats first: what
// RMSNorm followed by quantize_q8s gives, bit for bit (the norm's scaling fused into the
// quantization). n is a multiple of kQK.
void quantize_q8s_scaled(const float* x, float scale, const float* weight, BlockQ8S* y, int64_t n);

namespace ref {
void tile_q4_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q4_1(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q8_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
// Q4_1 with exact integer block sums (BlockOrder::kFastest with AVX-512 VNNI).
void tile_q4_1_exact(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
// Q8_0 with exact integer block sums (BlockOrder::kFastest on AVX2).
void tile_q8_0_exact(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
// quantize_q8s_scaled's twin: each block's scaled values in floats, then quantize_row_q8s.
void quantize_q8s_scaled(const float* x, float scale, const float* weight, BlockQ8S* y, int64_t n);
}  // namespace ref

namespace avx2 {
void quantize_q8s(const float* x, BlockQ8S* y, int64_t n);
void quantize_q8s_scaled(const float* x, float scale, const float* weight, BlockQ8S* y, int64_t n);
void pair_tile_q4_0(int64_t nb, const void* group, size_t group_bytes, const BlockQ8S* act, int64_t act_stride,
                    int n_cols, float* out);
void tile_q4_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q4_1(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q8_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q8_0_exact(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
}  // namespace avx2

namespace avx512 {  // AVX-512 VL + VNNI: VPDPBUSD on 256-bit registers (pairs: 512-bit); identical results
void pair_tile_q4_0(int64_t nb, const void* group, size_t group_bytes, const BlockQ8S* act, int64_t act_stride,
                    int n_cols, float* out);
void pair_tile_q4_1(int64_t nb, const void* group, size_t group_bytes, const BlockQ8S* act, int64_t act_stride,
                    int n_cols, float* out);
void pair_tile_q8_0(int64_t nb, const void* group, size_t group_bytes, const BlockQ8S* act, int64_t act_stride,
                    int n_cols, float* out);
void tile_q4_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q4_1(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q8_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
// Q4_1 in the exact-block order (ref::tile_q4_1_exact's twins).
void tile_q4_1_exact(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void pair_tile_q4_1_exact(int64_t nb, const void* group, size_t group_bytes, const BlockQ8S* act, int64_t act_stride,
                          int n_cols, float* out);
// The activation quantizations in 16-lane registers (identical blocks, finite inputs).
void quantize_q8s(const float* x, BlockQ8S* y, int64_t n);
void quantize_q8s_scaled(const float* x, float scale, const float* weight, BlockQ8S* y, int64_t n);
}  // namespace avx512

}  // namespace ts
