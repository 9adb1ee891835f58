#include "kernels/packed.h"

#include "kernels/cpu_features.h"

namespace ts {

PackedTileFn reference_packed_tile_for(DType type) {
  switch (type) {
    case DType::Q4_0: return ref::tile_q4_0;
    case DType::Q4_1: return ref::tile_q4_1;
    case DType::Q8_0: return ref::tile_q8_0;
    default: return nullptr;
  }
}

PackedTileFn packed_tile_for(DType type) {
  if (!active_features().avx2) return reference_packed_tile_for(type);
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

PackedPairTileFn packed_pair_tile_for(DType type) {
  if (active_features().avx512_vnni) {
    switch (type) {
      case DType::Q4_0: return avx512::pair_tile_q4_0;
      case DType::Q8_0: return avx512::pair_tile_q8_0;
      default: return nullptr;
    }
  }
  if (active_features().avx2 && type == DType::Q4_0) return avx2::pair_tile_q4_0;
  return nullptr;
}

void quantize_q8s(const float* x, BlockQ8S* y, int64_t n) {
  if (active_features().avx2 && n % kQK == 0) return avx2::quantize_q8s(x, y, n);
  quantize_row_q8s(x, y, n);
}

}  // namespace ts
