#pragma once
// AVX2 + FMA + F16C dot products; same contracts as kernels/ref/dot_ref.h.
#include <cstddef>
#include <cstdint>

namespace ts::avx2 {

float dot_q4_0_q8_0(int64_t n, const void* w, const void* a);
float dot_q5_0_q8_0(int64_t n, const void* w, const void* a);
float dot_q4_1_q8_1(int64_t n, const void* w, const void* a);
float dot_q8_0_q8_0(int64_t n, const void* w, const void* a);
float dot_q4_k_q8_k(int64_t n, const void* w, const void* a);
float dot_q4_k_q8_k_group4(int64_t n, const void* w, const void* a);
float dot_q6_k_q8_k(int64_t n, const void* w, const void* a);
float dot_q6_k_q8_k_wide(int64_t n, const void* w, const void* a);
float dot_f32_f32(int64_t n, const void* w, const void* a);
float dot_f16_f32(int64_t n, const void* w, const void* a);
float dot_bf16_f32(int64_t n, const void* w, const void* a);
// Four activation rows at once (see VecDot4Fn): each result equals the single-row kernel's bits.
void dot4_f32_f32(int64_t n, const void* w, const void* a, size_t a_stride, float* out);
void dot4_f16_f32(int64_t n, const void* w, const void* a, size_t a_stride, float* out);
void dot4_bf16_f32(int64_t n, const void* w, const void* a, size_t a_stride, float* out);
void dot4_q4_k_q8_k(int64_t n, const void* w, const void* a, size_t a_stride, float* out);
void dot4_q4_k_q8_k_group4(int64_t n, const void* w, const void* a, size_t a_stride, float* out);
void dot4_q6_k_q8_k(int64_t n, const void* w, const void* a, size_t a_stride, float* out);
void dot4_q6_k_q8_k_wide(int64_t n, const void* w, const void* a, size_t a_stride, float* out);

}  // namespace ts::avx2
