#include "kernels/numerics.h"

#include "kernels/cpu_features.h"
#include "kernels/ref/numerics_ref.h"
#include "kernels/x86/numerics_avx2.h"

namespace ts {

const NumericKernels& reference_numeric_kernels() {
  static const NumericKernels k{ref::attn_dot, ref::attn_scores, ref::attn_softmax, ref::attn_weighted_sum, ref::attn_weighted_sums, ref::weighted_sum_q8_0, ref::swiglu, ref::round_f16, ref::to_f16, ref::rope};
  return k;
}

const NumericKernels& numeric_kernels() {
  static const NumericKernels avx2{avx2::attn_dot, avx2::attn_scores, avx2::attn_softmax, avx2::attn_weighted_sum, avx2::attn_weighted_sums, avx2::weighted_sum_q8_0, avx2::swiglu, avx2::round_f16, avx2::to_f16, avx2::rope};
  static const bool use_avx2 = active_features().avx2;
  return use_avx2 ? avx2 : reference_numeric_kernels();
}

}  // namespace ts
