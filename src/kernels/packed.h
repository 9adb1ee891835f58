#pragma once
// Kernels over the interleaved weight layouts of quant/repack.h: one call computes one group
// of 8 weight rows against 1..kMaxTileCols activation rows (columns of the output).
#include <cstdint>

#include "quant/repack.h"
#include "quant/types.h"

namespace ts {

constexpr int kMaxTileCols = 4;

// out[c * 8 + r] = dot(weight row r of the group, activation row c) for c < n_cols.
// group: nb consecutive group blocks; act: activation row c starts at act + c * act_stride.
using PackedTileFn = void (*)(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols,
                              float* out);

// The fast variant for this CPU, or nullptr if `type` has no interleaved layout.
PackedTileFn packed_tile_for(DType type);
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
void tile_q4_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q4_1(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q8_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
}  // namespace avx2

namespace avx512 {  // AVX-512 VL + VNNI: VPDPBUSD on 256-bit registers; identical results
void tile_q4_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q4_1(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
void tile_q8_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out);
}  // namespace avx512

}  // namespace ts
