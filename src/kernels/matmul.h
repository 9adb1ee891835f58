#pragma once
// y = x · Wᵀ for a weight matrix stored row-major in any supported type, or repacked into the
// interleaved layout of quant/repack.h.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/packed.h"
#include "quant/types.h"

namespace ts {

struct WeightMatrix {
  DType type = DType::F32;
  int64_t rows = 0;        // N: output features
  int64_t cols = 0;        // K: input features
  const uint8_t* data = nullptr;  // [rows, row_bytes(type, cols)], or the packed layout
  bool packed = false;     // data is in the interleaved 8-row layout
  BlockOrder order = BlockOrder::kLlamaCpp;  // the packed products' block order (row-major: llama.cpp's)
  // Packed only: the columns are stored as this many equal runs of whole 32-column blocks, one
  // after another (each laid out as a packed matrix of cols / k_parts columns), and every
  // product sums a row's runs separately and adds them in order ((run 0 + run 1) + run 2 ...),
  // whatever the batch. With one run per thread, a decode step can give each thread its own
  // columns as one stream (Decoder::forward_split_decode) and still produce a batched
  // product's bits. PackedWeights::set_k_parts changes it.
  int k_parts = 1;
};

// Owns repacked copies of weight matrices (64-byte aligned), made once at load time.
class PackedWeights {
 public:
  // The packed form of w if its type has one (and packing is not disabled), else w itself.
  // Packs in parallel on pool.
  WeightMatrix pack(const WeightMatrix& w, ThreadPool& pool);
  // Packs every matrix in `ws` that has a packed form, in place, into one buffer in the order
  // given, so that matrices a fused product reads one after another (Q, K, V) form a single
  // stream, and small ones sit on the same huge pages as the rest.
  void pack_all(const std::vector<WeightMatrix*>& ws, ThreadPool& pool);
  // Rearranges w (packed here) into `parts` runs of columns (WeightMatrix::k_parts), or back
  // into one; cols / 32 must divide by parts.
  void set_k_parts(WeightMatrix& w, int parts);
  size_t bytes() const { return bytes_; }
  double pack_ms() const { return pack_ms_; }

 private:
  uint8_t* allocate(size_t bytes, const char* what);
  WeightMatrix pack_into(const WeightMatrix& w, uint8_t* dst, ThreadPool& pool);
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::vector<std::unique_ptr<uint8_t, Free>> buffers_;
  std::vector<size_t> buffer_bytes_;  // [buffers_]
  size_t bytes_ = 0;
  double pack_ms_ = 0.0;
};

// Whether load-time packing is on (TINYSERVE_PACK=0 turns it off, for comparisons).
bool packing_enabled();

// Bytes of scratch matmul needs for m activation rows of w.
size_t matmul_scratch_bytes(const WeightMatrix& w, int64_t m);

// y[M, N] = x[M, K] · W[N, K]ᵀ. scratch must hold matmul_scratch_bytes(W, M) bytes.
// row_ctx[M] (RowContext bits, kernels/dtype_table.h) picks each row's summation order where
// the type has several; null means every row alone.
void matmul(const WeightMatrix& w, const float* x, int64_t m, float* y, ThreadPool& pool,
            uint8_t* scratch, size_t scratch_bytes, const uint8_t* row_ctx = nullptr);

struct MatmulTarget {
  const WeightMatrix* w;
  float* y;  // [M, w->rows]
};
constexpr int kMaxFused = 4;

// y_i = x · W_iᵀ for up to kMaxFused matrices that read the same activations (Q/K/V, gate/up):
// one activation quantization and one parallel pass when they share type and K and are packed;
// otherwise separate matmul calls. scratch as for matmul (the largest of the targets).
void matmul_fused(std::initializer_list<MatmulTarget> targets, const float* x, int64_t m, ThreadPool& pool,
                  uint8_t* scratch, size_t scratch_bytes, const uint8_t* row_ctx = nullptr);

// Whether matmul_fused over these targets takes the packed path, whose products read the
// activations quantized by quantize_q8s ([M, K / 32] blocks). Then the op that makes the
// activations may quantize them itself (add_rms_norm_q8s) and call matmul_fused_quantized.
bool takes_quantized(std::initializer_list<MatmulTarget> targets);
// matmul_fused from activations already quantized (act: [M, K / 32] BlockQ8S); only where
// takes_quantized(targets). Same results as matmul_fused on the unquantized rows.
void matmul_fused_quantized(std::initializer_list<MatmulTarget> targets, const BlockQ8S* act, int64_t m, ThreadPool& pool);

// One thread's part of a one-row product on a packed matrix: y[r] for the rows of groups
// [g_begin, g_end) (8 rows each; y indexed by row), summed over run `part` of the columns only
// (WeightMatrix::k_parts; act: the whole row's K / 32 blocks, of which only that run's are
// read), as the parallel products sum that run.
void matmul_packed_rows(const WeightMatrix& w, const BlockQ8S* act, int64_t g_begin, int64_t g_end, int part, float* y);

// Row `row` of w as floats (embedding lookups), whatever its layout.
void dequantize_matrix_row(const WeightMatrix& w, int64_t row, float* out);

}  // namespace ts
