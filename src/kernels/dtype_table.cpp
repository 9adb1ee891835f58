#include "kernels/dtype_table.h"

#include "base/error.h"
#include "kernels/cpu_features.h"
#include "kernels/ref/dot_ref.h"
#include "kernels/x86/dot_avx2.h"

namespace ts {

namespace {

const DTypeKernels* lookup_avx2(DType type) {
  static const DTypeKernels kQ4_0{DType::Q8_0, avx2::dot_q4_0_q8_0};
  static const DTypeKernels kQ5_0{DType::Q8_0, avx2::dot_q5_0_q8_0};
  static const DTypeKernels kQ4_1{DType::Q8_1, avx2::dot_q4_1_q8_1};
  static const DTypeKernels kQ8_0{DType::Q8_0, avx2::dot_q8_0_q8_0};
  static const DTypeKernels kQ4_K{DType::Q8_K, avx2::dot_q4_k_q8_k, avx2::dot_q4_k_q8_k_group4, nullptr,
                                  avx2::dot4_q4_k_q8_k, avx2::dot4_q4_k_q8_k_group4};
  static const DTypeKernels kQ6_K{DType::Q8_K, avx2::dot_q6_k_q8_k, nullptr, avx2::dot_q6_k_q8_k_wide,
                                  avx2::dot4_q6_k_q8_k, nullptr, avx2::dot4_q6_k_q8_k_wide};
  static const DTypeKernels kF32{DType::F32, avx2::dot_f32_f32, nullptr, nullptr, avx2::dot4_f32_f32};
  static const DTypeKernels kF16{DType::F32, avx2::dot_f16_f32, nullptr, nullptr, avx2::dot4_f16_f32};
  static const DTypeKernels kBF16{DType::F32, avx2::dot_bf16_f32, nullptr, nullptr, avx2::dot4_bf16_f32};
  switch (type) {
    case DType::Q4_0: return &kQ4_0;
    case DType::Q4_1: return &kQ4_1;
    case DType::Q5_0: return &kQ5_0;
    case DType::Q8_0: return &kQ8_0;
    case DType::Q4_K: return &kQ4_K;
    case DType::Q6_K: return &kQ6_K;
    case DType::F32: return &kF32;
    case DType::F16: return &kF16;
    case DType::BF16: return &kBF16;
    default: return nullptr;
  }
}

const DTypeKernels* lookup_ref(DType type) {
  static const DTypeKernels kQ4_0{DType::Q8_0, ref::dot_q4_0_q8_0};
  static const DTypeKernels kQ5_0{DType::Q8_0, ref::dot_q5_0_q8_0};
  static const DTypeKernels kQ4_1{DType::Q8_1, ref::dot_q4_1_q8_1};
  static const DTypeKernels kQ8_0{DType::Q8_0, ref::dot_q8_0_q8_0};
  static const DTypeKernels kQ4_K{DType::Q8_K, ref::dot_q4_k_q8_k, ref::dot_q4_k_q8_k_group4};
  static const DTypeKernels kQ6_K{DType::Q8_K, ref::dot_q6_k_q8_k, nullptr, ref::dot_q6_k_q8_k_wide};
  static const DTypeKernels kF32{DType::F32, ref::dot_f32_f32};
  static const DTypeKernels kF16{DType::F32, ref::dot_f16_f32};
  static const DTypeKernels kBF16{DType::F32, ref::dot_bf16_f32};
  switch (type) {
    case DType::Q4_0: return &kQ4_0;
    case DType::Q4_1: return &kQ4_1;
    case DType::Q5_0: return &kQ5_0;
    case DType::Q8_0: return &kQ8_0;
    case DType::Q4_K: return &kQ4_K;
    case DType::Q6_K: return &kQ6_K;
    case DType::F32: return &kF32;
    case DType::F16: return &kF16;
    case DType::BF16: return &kBF16;
    default: return nullptr;
  }
}

const DTypeKernels* lookup(DType type) {
  static const bool use_avx2 = active_features().avx2;
  if (use_avx2) {
    if (const DTypeKernels* k = lookup_avx2(type)) return k;
  }
  return lookup_ref(type);
}

}  // namespace

const DTypeKernels& reference_kernels_for(DType weight_type) {
  const DTypeKernels* k = lookup_ref(weight_type);
  if (k == nullptr) fail("no reference kernel for tensor type {}", dtype_name(weight_type));
  return *k;
}

bool has_kernels(DType weight_type) { return lookup(weight_type) != nullptr; }

const DTypeKernels& kernels_for(DType weight_type) {
  const DTypeKernels* k = lookup(weight_type);
  if (k == nullptr) fail("no matmul kernel for tensor type {}", dtype_name(weight_type));
  return *k;
}

}  // namespace ts
