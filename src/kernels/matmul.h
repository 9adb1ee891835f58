#pragma once
// y = x · Wᵀ for a weight matrix stored row-major in any supported type.
#include <cstddef>
#include <cstdint>

#include "base/thread_pool.h"
#include "quant/types.h"

namespace ts {

struct WeightMatrix {
  DType type = DType::F32;
  int64_t rows = 0;        // N: output features
  int64_t cols = 0;        // K: input features
  const uint8_t* data = nullptr;  // [rows, row_bytes(type, cols)]
};

// Bytes of scratch matmul needs for m activation rows of k columns converted for `type`.
size_t matmul_scratch_bytes(DType type, int64_t m, int64_t k);

// y[M, N] = x[M, K] · W[N, K]ᵀ. scratch must hold matmul_scratch_bytes(W.type, M, K) bytes.
void matmul(const WeightMatrix& w, const float* x, int64_t m, float* y, ThreadPool& pool,
            uint8_t* scratch, size_t scratch_bytes);

}  // namespace ts
