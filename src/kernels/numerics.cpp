#include "kernels/numerics.h"

#include "kernels/cpu_features.h"
#include "kernels/ref/numerics_ref.h"
#include "kernels/x86/numerics_avx2.h"
#include "kernels/x86/numerics_avx512.h"

namespace ts {

namespace {

const NumericKernels& avx2_kernels() {
  static const NumericKernels k{avx2::attn_dot, avx2::attn_scores, avx2::attn_scores_rows, avx2::attn_softmax, avx2::attn_weighted_sum, avx2::attn_weighted_sums, avx2::weighted_sum_q8_0, avx2::online_attention, avx2::from_f16, avx2::swiglu, avx2::round_f16, avx2::to_f16, avx2::rope};
  return k;
}

// The AVX2 table with the loops that gain from 512-bit registers replaced.
const NumericKernels& avx512_kernels() {
  static const NumericKernels k = [] {
    NumericKernels t = avx2_kernels();
    t.scores = avx512::attn_scores;
    t.scores_rows = avx512::attn_scores_rows;
    t.weighted_sum = avx512::attn_weighted_sum;
    t.weighted_sums = avx512::attn_weighted_sums;
    t.swiglu = avx512::swiglu;
    return t;
  }();
  return k;
}

}  // namespace

void prefetch_rows(const PagedBytes& rows, int64_t first, int64_t end, int64_t bytes) {
  constexpr int64_t kLine = 64;
  for (int64_t p = first; p < end; ++p) {
    const uint8_t* row = rows.row(p);
    for (int64_t off = 0; off < bytes; off += kLine) __builtin_prefetch(row + off);
  }
}

const NumericKernels& reference_numeric_kernels() {
  static const NumericKernels k{ref::attn_dot, ref::attn_scores, ref::attn_scores_rows, ref::attn_softmax, ref::attn_weighted_sum, ref::attn_weighted_sums, ref::weighted_sum_q8_0, ref::online_attention, ref::from_f16, ref::swiglu, ref::round_f16, ref::to_f16, ref::rope};
  return k;
}

const NumericKernels& numeric_kernels() {
  static const NumericKernels& chosen = active_features().avx512  ? avx512_kernels()
                                        : active_features().avx2 ? avx2_kernels()
                                                                 : reference_numeric_kernels();
  return chosen;
}

std::vector<NumericTwin> numeric_kernel_twins() {
  std::vector<NumericTwin> twins{{"scalar", &reference_numeric_kernels()}};
  if (cpu_features().avx2) twins.push_back({"avx2", &avx2_kernels()});
  if (cpu_features().avx512) twins.push_back({"avx512", &avx512_kernels()});
  return twins;
}

}  // namespace ts
