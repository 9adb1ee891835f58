#pragma once
#include <cstdint>

#include "kernels/numerics.h"

namespace ts::avx512 {
void attn_scores(const float* q, const uint16_t* k, int64_t k_stride, int64_t n_keys, int64_t n, SumOrder order, float scale,
                 float* out);
void attn_scores_rows(const float* q, int64_t q_stride, int64_t n_rows, const PagedRows& k, const int64_t* first_key,
                      const int64_t* n_keys, int64_t n, SumOrder order, float scale, float* out, int64_t out_stride);
void attn_weighted_sum(const float* w, const uint16_t* v, int64_t v_stride, int64_t n, int64_t dim, float* out,
                       SumOrder order);
void attn_weighted_sums(const float* w, int64_t w_stride, const int64_t* n_keys, int64_t n_rows, const PagedRows& v,
                        int64_t dim, float* out, int64_t out_stride, SumOrder order);
// gate[i] = silu(gate[i]) * up[i] on sixteen lanes (the AVX2 twin's steps lane for lane).
void swiglu(float* gate, const float* up, int64_t n);
}  // namespace ts::avx512
