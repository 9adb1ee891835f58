#include "kernels/dtype_table.h"

#include "base/error.h"
#include "kernels/cpu_features.h"
#include "kernels/ref/dot_ref.h"
#include "kernels/x86/dot_avx2.h"

namespace ts {

namespace {

// One ISA's kernels for every weight type that has row kernels.
struct IsaTable {
  DTypeKernels q4_0, q5_0, q4_1, q8_0, q4_k, q6_k, f32, f16, bf16;
};

const DTypeKernels* pick(const IsaTable& t, DType type) {
  switch (type) {
    case DType::Q4_0: return &t.q4_0;
    case DType::Q4_1: return &t.q4_1;
    case DType::Q5_0: return &t.q5_0;
    case DType::Q8_0: return &t.q8_0;
    case DType::Q4_K: return &t.q4_k;
    case DType::Q6_K: return &t.q6_k;
    case DType::F32: return &t.f32;
    case DType::F16: return &t.f16;
    case DType::BF16: return &t.bf16;
    default: return nullptr;
  }
}

const DTypeKernels* lookup_avx2(DType type) {
  static const IsaTable kAvx2{
      .q4_0 = {DType::Q8_0, avx2::dot_q4_0_q8_0},
      .q5_0 = {DType::Q8_0, avx2::dot_q5_0_q8_0},
      .q4_1 = {DType::Q8_1, avx2::dot_q4_1_q8_1},
      .q8_0 = {DType::Q8_0, avx2::dot_q8_0_q8_0},
      .q4_k = {DType::Q8_K, avx2::dot_q4_k_q8_k, avx2::dot_q4_k_q8_k_group4, nullptr, avx2::dot4_q4_k_q8_k,
               avx2::dot4_q4_k_q8_k_group4},
      .q6_k = {DType::Q8_K, avx2::dot_q6_k_q8_k, nullptr, avx2::dot_q6_k_q8_k_wide, avx2::dot4_q6_k_q8_k, nullptr,
               avx2::dot4_q6_k_q8_k_wide},
      .f32 = {DType::F32, avx2::dot_f32_f32, nullptr, nullptr, avx2::dot4_f32_f32},
      .f16 = {DType::F32, avx2::dot_f16_f32, nullptr, nullptr, avx2::dot4_f16_f32},
      .bf16 = {DType::F32, avx2::dot_bf16_f32, nullptr, nullptr, avx2::dot4_bf16_f32},
  };
  return pick(kAvx2, type);
}

const DTypeKernels* lookup_ref(DType type) {
  static const IsaTable kRef{
      .q4_0 = {DType::Q8_0, ref::dot_q4_0_q8_0},
      .q5_0 = {DType::Q8_0, ref::dot_q5_0_q8_0},
      .q4_1 = {DType::Q8_1, ref::dot_q4_1_q8_1},
      .q8_0 = {DType::Q8_0, ref::dot_q8_0_q8_0},
      .q4_k = {DType::Q8_K, ref::dot_q4_k_q8_k, ref::dot_q4_k_q8_k_group4},
      .q6_k = {DType::Q8_K, ref::dot_q6_k_q8_k, nullptr, ref::dot_q6_k_q8_k_wide},
      .f32 = {DType::F32, ref::dot_f32_f32},
      .f16 = {DType::F32, ref::dot_f16_f32},
      .bf16 = {DType::F32, ref::dot_bf16_f32},
  };
  return pick(kRef, type);
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
