#pragma once
// Scalar reference quantize/dequantize for every supported block format.
#include <cstdint>

#include "quant/blocks.h"
#include "quant/types.h"

namespace ts {

// dst[0..n) = values of one row; n must be a multiple of the type's block size.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// Quantizes one row into `type` (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q8_1, Q8_K).
void quantize_row(DType type, const float* src, void* dst, int64_t n);

// Quantizes one row of activations for a dot product with weights: as quantize_row, except
// that Q8_0 uses the run-time rounding (see quantize.cpp) rather than the file format's.
void quantize_activations(DType type, const float* src, void* dst, int64_t n);

// Largest |x| over one 32-element block.
float block_amax(const float* b);

void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n);
void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t n);
void quantize_row_q5_0(const float* x, BlockQ5_0* y, int64_t n);
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_activations_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n);
void quantize_row_q8_k(const float* x, BlockQ8_K* y, int64_t n);

// Unpacks sub-block j (0..7) scale and minimum of a Q4_K block's packed 6-bit fields.
inline void q4_k_scale_min(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace ts
