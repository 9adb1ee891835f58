#pragma once
#include <cstdint>

#include "kernels/numerics.h"

namespace ts::ref {
float attn_dot(const float* a, const uint16_t* b, int64_t n, SumOrder order);
void attn_scores(const float* q, const uint16_t* k, int64_t k_stride, int64_t n_keys, int64_t n, SumOrder order, float scale,
                 float* out);
void attn_scores_rows(const float* q, int64_t q_stride, int64_t n_rows, const PagedRows& k, const int64_t* first_key,
                      const int64_t* n_keys, int64_t n, SumOrder order, float scale, float* out, int64_t out_stride);
void attn_softmax(float* x, int64_t n_valid);
void attn_weighted_sum(const float* w, const uint16_t* v, int64_t v_stride, int64_t n, int64_t dim, float* out,
                       SumOrder order);
void attn_weighted_sums(const float* w, int64_t w_stride, const int64_t* n_keys, int64_t n_rows, const PagedRows& v,
                        int64_t dim, float* out, int64_t out_stride, SumOrder order);
void weighted_sum_q8_0(const float* w, const PagedBytes& v, int64_t first, int64_t n, int64_t dim, float* out);
void online_attention(const float* q, int64_t q_stride, int64_t n_rows, const float* k, const float* v, int64_t kv_stride,
                      const int64_t* lo, const int64_t* hi, int64_t dim, float scale, float* m, float* l, float* acc,
                      int64_t acc_stride);
void from_f16(const uint16_t* in, int64_t n, float* out);
void swiglu(float* gate, const float* up, int64_t n);
void round_f16(const float* in, int64_t n, float* out);
void to_f16(const float* in, int64_t n, uint16_t* out);
void rope(float* head, const float* cos_sin, int64_t n_rot, bool neox);
// rope from pair `first` on (the SIMD twin's tail).
void rope_from(float* head, const float* cos_sin, int64_t first, int64_t n_rot, bool neox);
// exp(x) as llama.cpp's vectorised expf computes it, for |x| < 87; beyond, 0 or +inf (where
// it differs from llama.cpp only in values that no later rounding can tell apart).
float exp_poly(float x);
}  // namespace ts::ref
