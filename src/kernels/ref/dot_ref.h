#pragma once
// Scalar reference dot products: one weight row (in its stored format) against one activation
// row (already quantized to the weight type's activation format). These are the twins every
// fast kernel is tested against.
#include <cstdint>

namespace ts::ref {

float dot_q4_0_q8_0(int64_t n, const void* w, const void* a);
float dot_q5_0_q8_0(int64_t n, const void* w, const void* a);
float dot_q4_1_q8_1(int64_t n, const void* w, const void* a);
float dot_q8_0_q8_0(int64_t n, const void* w, const void* a);
// The K formats in each order llama.cpp sums them in (see DTypeKernels): q4_k (row kernel) and
// q4_k_group4 (rows in full groups of four), q6_k (row kernel) and q6_k_wide (batches of 8+ rows).
float dot_q4_k_q8_k(int64_t n, const void* w, const void* a);
float dot_q4_k_q8_k_group4(int64_t n, const void* w, const void* a);
float dot_q6_k_q8_k(int64_t n, const void* w, const void* a);
float dot_q6_k_q8_k_wide(int64_t n, const void* w, const void* a);
float dot_f32_f32(int64_t n, const void* w, const void* a);
float dot_f16_f32(int64_t n, const void* w, const void* a);
float dot_bf16_f32(int64_t n, const void* w, const void* a);

}  // namespace ts::ref
