#include "kernels/packed.h"

#include "base/error.h"
#include "kernels/cpu_features.h"

namespace ts {

bool fastest_differs(DType type, BlockOrder order) {
  // Q8_0: only AVX2 without VNNI has a faster order than llama.cpp's; with VPDPBUSD the
  // llama.cpp-order tiles are already past the integer multiplies' other costs. Q4_1: with
  // VPDPBUSD the exact block sums leave llama.cpp's order far behind (see BlockOrder). Decided
  // by the hardware, not the TINYSERVE_ISA cap, so that the scalar path sums in the fast
  // path's order.
  const CpuFeatures& hw = cpu_features();
  if (order != BlockOrder::kFastest) return false;
  if (type == DType::Q8_0) return hw.avx2 && !hw.avx512_vnni;
  return type == DType::Q4_1 && hw.avx512_vnni;
}

PackedTileFn reference_packed_tile_for(DType type, BlockOrder order) {
  switch (type) {
    case DType::Q4_0: return ref::tile_q4_0;
    case DType::Q4_1: return fastest_differs(type, order) ? ref::tile_q4_1_exact : ref::tile_q4_1;
    case DType::Q8_0: return fastest_differs(type, order) ? ref::tile_q8_0_exact : ref::tile_q8_0;
    default: return nullptr;
  }
}

PackedTileFn packed_tile_for(DType type, BlockOrder order) {
  if (!active_features().avx2) return reference_packed_tile_for(type, order);
  if (fastest_differs(type, order)) {
    if (type == DType::Q8_0) return avx2::tile_q8_0_exact;
    // Q4_1's exact order has AVX-512 tiles only; capped below that, the scalar twin.
    return active_features().avx512_vnni ? avx512::tile_q4_1_exact : ref::tile_q4_1_exact;
  }
  if (active_features().avx512_vnni) {
    switch (type) {
      case DType::Q4_0: return avx512::tile_q4_0;
      case DType::Q4_1: return avx512::tile_q4_1;
      case DType::Q8_0: return avx512::tile_q8_0;
      default: return nullptr;
    }
  }
  switch (type) {
    case DType::Q4_0: return avx2::tile_q4_0;
    case DType::Q4_1: return avx2::tile_q4_1;
    case DType::Q8_0: return avx2::tile_q8_0;
    default: return nullptr;
  }
}

PackedPairTileFn packed_pair_tile_for(DType type, BlockOrder order) {
  if (fastest_differs(type, order)) {
    return type == DType::Q4_1 && active_features().avx512_vnni ? avx512::pair_tile_q4_1_exact : nullptr;
  }
  if (active_features().avx512_vnni) {
    switch (type) {
      case DType::Q4_0: return avx512::pair_tile_q4_0;
      case DType::Q4_1: return avx512::pair_tile_q4_1;
      case DType::Q8_0: return avx512::pair_tile_q8_0;
      default: return nullptr;
    }
  }
  if (active_features().avx2 && type == DType::Q4_0) return avx2::pair_tile_q4_0;
  return nullptr;
}

void quantize_q8s(const float* x, BlockQ8S* y, int64_t n) {
  if (active_features().avx512_vnni && n % kQK == 0) return avx512::quantize_q8s(x, y, n);
  if (active_features().avx2 && n % kQK == 0) return avx2::quantize_q8s(x, y, n);
  quantize_row_q8s(x, y, n);
}

void quantize_q8s_scaled(const float* x, float scale, const float* weight, BlockQ8S* y, int64_t n) {
  if (n % kQK != 0) fail("q8s: row length {} is not a multiple of {}", n, kQK);
  if (active_features().avx512_vnni) return avx512::quantize_q8s_scaled(x, scale, weight, y, n);
  if (active_features().avx2) return avx2::quantize_q8s_scaled(x, scale, weight, y, n);
  ref::quantize_q8s_scaled(x, scale, weight, y, n);
}

}  // namespace ts
