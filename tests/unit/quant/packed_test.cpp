// The interleaved layouts and their kernels: packing round-trips; every ISA variant of every
// packed kernel equals its scalar twin bit for bit; matmul through the packed path agrees with
// the row-major reference dot products within a named bound, over ragged row counts and every
// tile width.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu_features.h"
#include "kernels/dtype_table.h"
#include "kernels/matmul.h"
#include "kernels/packed.h"
#include "quant/quantize.h"
#include "quant/repack.h"

namespace ts {
namespace {

// Relative to sum |w_i * a_i| of the row: both paths use the same int8 activations, only the
// float combination of block sums differs (and Q4_1's minimum term, which llama.cpp's Q8_1 and
// ours both round to f16).
constexpr float kPackedVsRowMajor = 1e-4f;

std::vector<float> random_values(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<uint8_t> quantized_matrix(DType type, const std::vector<float>& w, int64_t rows, int64_t cols) {
  const size_t rb = row_bytes(type, static_cast<uint64_t>(cols));
  std::vector<uint8_t> out(rb * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) quantize_row(type, w.data() + r * cols, out.data() + static_cast<size_t>(r) * rb, cols);
  return out;
}

TEST(Packed, PackUnpackRoundTrips) {
  std::mt19937 rng(7);
  for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q8_0}) {
    for (int64_t rows : {1, 7, 8, 13, 24}) {
      const int64_t cols = 96;
      const auto plain = quantized_matrix(type, random_values(static_cast<size_t>(rows * cols), rng), rows, cols);
      std::vector<uint8_t> packed(packed_bytes(type, rows, cols));
      pack_groups(type, plain.data(), rows, cols, packed.data(), 0, (rows + 7) / 8);
      const size_t rb = row_bytes(type, static_cast<uint64_t>(cols));
      std::vector<uint8_t> back(rb);
      for (int64_t r = 0; r < rows; ++r) {
        unpack_row(type, packed.data(), cols, r, back.data());
        EXPECT_EQ(0, std::memcmp(back.data(), plain.data() + static_cast<size_t>(r) * rb, rb))
            << dtype_name(type) << " row " << r << " of " << rows;
      }
    }
  }
}

TEST(Packed, QuantizeQ8SVariantsAreIdentical) {
  std::mt19937 rng(3);
  for (int64_t n : {32, 64, 2048}) {
    auto x = random_values(static_cast<size_t>(n), rng, 3.0f);
    x[5] = 0.5f / 127.0f * 3.0f;  // values landing on .5 after scaling exercise ties
    std::vector<BlockQ8S> a(static_cast<size_t>(n / 32)), b(a.size());
    quantize_row_q8s(x.data(), a.data(), n);
    quantize_q8s(x.data(), b.data(), n);
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(BlockQ8S))) << n;
  }
  std::vector<float> zeros(64, 0.0f);
  std::vector<BlockQ8S> z(2);
  quantize_q8s(zeros.data(), z.data(), 64);
  EXPECT_EQ(z[0].d, 0.0f);
  EXPECT_EQ(z[1].sum, 0);
}

// Every variant this CPU can run: the selected one, and each ISA's explicitly (on an AVX-512
// machine the AVX2 tiles are not selected but must stay correct for machines without it).
std::vector<std::pair<std::string, PackedTileFn>> tile_variants(DType type) {
  std::vector<std::pair<std::string, PackedTileFn>> v = {{"selected", packed_tile_for(type)}};
  const auto pick = [type](PackedTileFn q4_0, PackedTileFn q4_1, PackedTileFn q8_0) {
    return type == DType::Q4_0 ? q4_0 : type == DType::Q4_1 ? q4_1 : q8_0;
  };
  if (cpu_features().avx2) v.emplace_back("avx2", pick(avx2::tile_q4_0, avx2::tile_q4_1, avx2::tile_q8_0));
  if (cpu_features().avx512_vnni) v.emplace_back("avx512", pick(avx512::tile_q4_0, avx512::tile_q4_1, avx512::tile_q8_0));
  return v;
}

TEST(Packed, FastTilesEqualScalarTwins) {
  std::mt19937 rng(11);
  for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q8_0}) {
    const PackedTileFn ref = reference_packed_tile_for(type);
    for (int64_t nb : {1, 3, 64}) {
      const int64_t cols = nb * 32;
      const auto plain = quantized_matrix(type, random_values(static_cast<size_t>(8 * cols), rng), 8, cols);
      std::vector<uint8_t> packed(packed_bytes(type, 8, cols));
      pack_groups(type, plain.data(), 8, cols, packed.data(), 0, 1);
      std::vector<BlockQ8S> act(static_cast<size_t>(kMaxTileCols * nb));
      const auto x = random_values(static_cast<size_t>(kMaxTileCols * cols), rng);
      quantize_row_q8s(x.data(), act.data(), kMaxTileCols * cols);
      for (const auto& [isa, fast] : tile_variants(type)) {
        ASSERT_NE(fast, nullptr) << isa;
        for (int n_cols = 1; n_cols <= kMaxTileCols; ++n_cols) {
          float a[kMaxTileCols * 8], b[kMaxTileCols * 8];
          fast(nb, packed.data(), act.data(), nb, n_cols, a);
          ref(nb, packed.data(), act.data(), nb, n_cols, b);
          EXPECT_EQ(0, std::memcmp(a, b, sizeof(float) * static_cast<size_t>(8 * n_cols)))
              << isa << " " << dtype_name(type) << " nb " << nb << " cols " << n_cols;
        }
      }
    }
  }
}

// A pair tile (16 rows from two consecutive groups) equals two scalar tiles bit for bit.
TEST(Packed, PairTilesEqualTwoScalarTiles) {
  std::mt19937 rng(13);
  for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q8_0}) {
    const PackedPairTileFn pair = packed_pair_tile_for(type);
    if (pair == nullptr) continue;  // this CPU or type has none
    const PackedTileFn ref = reference_packed_tile_for(type);
    for (int64_t nb : {1, 3, 64}) {
      const int64_t cols = nb * 32;
      const auto plain = quantized_matrix(type, random_values(static_cast<size_t>(16 * cols), rng), 16, cols);
      std::vector<uint8_t> packed(packed_bytes(type, 16, cols));
      pack_groups(type, plain.data(), 16, cols, packed.data(), 0, 2);
      const size_t group_bytes = packed.size() / 2;
      std::vector<BlockQ8S> act(static_cast<size_t>(kMaxPairTileCols * nb));
      const auto x = random_values(static_cast<size_t>(kMaxPairTileCols * cols), rng);
      quantize_row_q8s(x.data(), act.data(), kMaxPairTileCols * cols);
      for (int n_cols = 1; n_cols <= kMaxPairTileCols; ++n_cols) {
        float a[kMaxPairTileCols * 16], b0[kMaxPairTileCols * 8], b1[kMaxPairTileCols * 8];
        pair(nb, packed.data(), group_bytes, act.data(), nb, n_cols, a);
        for (int c0 = 0; c0 < n_cols; c0 += kMaxTileCols) {  // scalar tiles take at most 4 columns
          const int nc = std::min(kMaxTileCols, n_cols - c0);
          ref(nb, packed.data(), act.data() + c0 * nb, nb, nc, b0 + 8 * c0);
          ref(nb, packed.data() + group_bytes, act.data() + c0 * nb, nb, nc, b1 + 8 * c0);
        }
        for (int c = 0; c < n_cols; ++c) {
          EXPECT_EQ(0, std::memcmp(a + 16 * c, b0 + 8 * c, sizeof(float) * 8)) << dtype_name(type) << " nb " << nb << " col " << c;
          EXPECT_EQ(0, std::memcmp(a + 16 * c + 8, b1 + 8 * c, sizeof(float) * 8)) << dtype_name(type) << " nb " << nb << " col " << c;
        }
      }
    }
  }
}

TEST(Packed, MatmulMatchesRowMajorReference) {
  std::mt19937 rng(5);
  ThreadPool pool(3);
  for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q8_0}) {
    for (int64_t rows : {5, 8, 37, 200}) {
      for (int64_t m : {1, 3, 4, 9, 70}) {
        const int64_t cols = 128;
        const auto wf = random_values(static_cast<size_t>(rows * cols), rng);
        const auto plain = quantized_matrix(type, wf, rows, cols);
        const WeightMatrix w{type, rows, cols, plain.data(), false};
        PackedWeights store;
        const WeightMatrix p = store.pack(w, pool);
        ASSERT_TRUE(p.packed);
        const auto x = random_values(static_cast<size_t>(m * cols), rng);
        std::vector<float> y(static_cast<size_t>(m * rows), -1.0f);
        std::vector<uint8_t> scratch(matmul_scratch_bytes(p, m));
        matmul(p, x.data(), m, y.data(), pool, scratch.data(), scratch.size());
        // Reference: the row-major scalar dot product on the activation format the reference uses.
        const DTypeKernels& ref = reference_kernels_for(type);
        std::vector<uint8_t> act(row_bytes(ref.act_type, static_cast<uint64_t>(cols)));
        std::vector<float> wrow(static_cast<size_t>(cols));
        for (int64_t i = 0; i < m; ++i) {
          quantize_activations(ref.act_type, x.data() + i * cols, act.data(), cols);
          for (int64_t r = 0; r < rows; ++r) {
            const float expect = ref.vec_dot(cols, plain.data() + static_cast<size_t>(r) * row_bytes(type, cols), act.data());
            dequantize_row(type, plain.data() + static_cast<size_t>(r) * row_bytes(type, cols), wrow.data(), cols);
            float mag = 0.0f;
            for (int64_t j = 0; j < cols; ++j) mag += std::fabs(wrow[static_cast<size_t>(j)] * x[static_cast<size_t>(i * cols + j)]);
            EXPECT_NEAR(y[static_cast<size_t>(i * rows + r)], expect, kPackedVsRowMajor * mag)
                << dtype_name(type) << " rows " << rows << " m " << m << " at " << i << "," << r;
            // Q4_1 and Q8_0 keep llama.cpp's order, which the row-major SIMD kernels also follow.
            if (type != DType::Q4_0 && active_features().avx2) {
              const DTypeKernels& fast = kernels_for(type);
              ASSERT_EQ(fast.act_type, ref.act_type);
              EXPECT_EQ(y[static_cast<size_t>(i * rows + r)],
                        fast.vec_dot(cols, plain.data() + static_cast<size_t>(r) * row_bytes(type, cols), act.data()))
                  << dtype_name(type) << " bit-identical at " << i << "," << r;
            }
          }
        }
      }
    }
  }
}

TEST(Packed, FusedMatmulEqualsSeparateCalls) {
  std::mt19937 rng(9);
  ThreadPool pool(2);
  const int64_t cols = 64, m = 6;
  std::vector<std::vector<uint8_t>> plain;
  std::vector<WeightMatrix> packed;
  PackedWeights store;
  for (int64_t rows : {16, 24, 8}) {
    plain.push_back(quantized_matrix(DType::Q4_0, random_values(static_cast<size_t>(rows * cols), rng), rows, cols));
    packed.push_back(store.pack(WeightMatrix{DType::Q4_0, rows, cols, plain.back().data(), false}, pool));
  }
  const auto x = random_values(static_cast<size_t>(m * cols), rng);
  std::vector<uint8_t> scratch(matmul_scratch_bytes(packed[0], m));
  std::vector<std::vector<float>> fused(3), separate(3);
  for (size_t i = 0; i < 3; ++i) {
    fused[i].assign(static_cast<size_t>(m * packed[i].rows), 0.0f);
    separate[i].assign(fused[i].size(), 1.0f);
    matmul(packed[i], x.data(), m, separate[i].data(), pool, scratch.data(), scratch.size());
  }
  matmul_fused({{&packed[0], fused[0].data()}, {&packed[1], fused[1].data()}, {&packed[2], fused[2].data()}}, x.data(), m,
               pool, scratch.data(), scratch.size());
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(fused[i], separate[i]) << "target " << i;
}

TEST(Packed, DequantizesRowsFromThePackedLayout) {
  std::mt19937 rng(13);
  ThreadPool pool(1);
  for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q8_0}) {
    const int64_t rows = 11, cols = 64;
    const auto plain = quantized_matrix(type, random_values(static_cast<size_t>(rows * cols), rng), rows, cols);
    const WeightMatrix w{type, rows, cols, plain.data(), false};
    PackedWeights store;
    const WeightMatrix p = store.pack(w, pool);
    std::vector<float> a(static_cast<size_t>(cols)), b(a.size());
    for (int64_t r = 0; r < rows; ++r) {
      dequantize_matrix_row(w, r, a.data());
      dequantize_matrix_row(p, r, b.data());
      EXPECT_EQ(a, b) << dtype_name(type) << " row " << r;
    }
  }
}

}  // namespace
}  // namespace ts
