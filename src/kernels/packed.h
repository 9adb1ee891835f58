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

// The fast variant for this CPU, or nullptr if `type` has no interleaved layout.
PackedTileFn packed_tile_for(DType type);
// A 16-row variant where this CPU has one (512-bit registers), else nullptr.
PackedPairTileFn packed_pair_tile_for(DType type);
// The scalar reference twin (same block-by-block float arithmetic, so results are identical).
PackedTileFn reference_packed_tile_for(DType type);

// Activation quantization for the packed kernels (quantize_row_q8s, vectorised where the CPU
// allows; the results are identical).
void quantize_q8s(const float* x, BlockQ8S* y, int64_t n);

namespace ref {
void tile_q4_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q4_1(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q8_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
}  // namespace ref

namespace avx2 {
void quantize_q8s(const float* x, BlockQ8S* y, int64_t n);
void pair_tile_q4_0(int64_t nb, const void* group, size_t group_bytes, const BlockQ8S* act, int64_t act_stride,
                    int n_cols, float* out);
void tile_q4_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q4_1(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q8_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
}  // namespace avx2

namespace avx512 {  // AVX-512 VL + VNNI: VPDPBUSD on 256-bit registers (pairs: 512-bit); identical results
void pair_tile_q4_0(int64_t nb, const void* group, size_t group_bytes, const BlockQ8S* act, int64_t act_stride,
                    int n_cols, float* out);
void pair_tile_q8_0(int64_t nb, const void* group, size_t group_bytes, const BlockQ8S* act, int64_t act_stride,
                    int n_cols, float* out);
void tile_q4_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q4_1(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q8_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
}  // namespace avx512

}  // namespace ts
