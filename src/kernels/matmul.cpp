#include "kernels/matmul.h"

#include "base/error.h"
#include "kernels/dtype_table.h"
#include "quant/quantize.h"

namespace ts {

size_t matmul_scratch_bytes(DType type, int64_t m, int64_t k) {
  const DTypeKernels& kern = kernels_for(type);
  return static_cast<size_t>(m) * row_bytes(kern.act_type, static_cast<uint64_t>(k));
}

void matmul(const WeightMatrix& w, const float* x, int64_t m, float* y, ThreadPool& pool,
            uint8_t* scratch, size_t scratch_bytes) {
  const DTypeKernels& kern = kernels_for(w.type);
  const int64_t k = w.cols;
  const size_t act_row = row_bytes(kern.act_type, static_cast<uint64_t>(k));
  const size_t w_row = row_bytes(w.type, static_cast<uint64_t>(k));
  if (static_cast<size_t>(m) * act_row > scratch_bytes) {
    fail("matmul scratch too small: need {} bytes, have {}", static_cast<size_t>(m) * act_row, scratch_bytes);
  }
  // Convert each activation row once; every weight row then reuses it.
  const float* act = x;
  if (kern.act_type != DType::F32) {
    pool.parallel_for(static_cast<size_t>(m), [&](size_t begin, size_t end, int) {
      for (size_t i = begin; i < end; ++i) {
        quantize_activations(kern.act_type, x + i * static_cast<size_t>(k), scratch + i * act_row, k);
      }
    });
  }
  const uint8_t* act_bytes = kern.act_type == DType::F32 ? reinterpret_cast<const uint8_t*>(act) : scratch;
  const int64_t n = w.rows;
  // Split over output features: each thread streams a disjoint slice of the weights once.
  pool.parallel_for(static_cast<size_t>(n), [&](size_t begin, size_t end, int) {
    for (size_t r = begin; r < end; ++r) {
      const uint8_t* wr = w.data + r * w_row;
      for (int64_t i = 0; i < m; ++i) {
        y[static_cast<size_t>(i * n) + r] = kern.vec_dot(k, wr, act_bytes + static_cast<size_t>(i) * act_row);
      }
    }
  });
}

}  // namespace ts
