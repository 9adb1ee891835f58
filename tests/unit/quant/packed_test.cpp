// The interleaved layouts and their kernels: packing round-trips; every ISA variant of every
// packed kernel equals its scalar twin bit for bit; matmul through the packed path agrees with
// the row-major reference dot products within a named bound, over ragged row counts and every
// tile width.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "base/fp16.h"
#include "base/thread_pool.h"
#include "kernels/cpu_features.h"
#include "kernels/dtype_table.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/packed.h"
#include "quant/quantize.h"
#include "quant/repack.h"

namespace ts {
namespace {

// Relative to sum |w_i * a_i| of the row: both paths use the same int8 activations, only the
// float combination of block sums differs (and Q4_1's minimum term, which llama.cpp's Q8_1 and
// ours both round to f16).
constexpr float kPackedVsRowMajor = 1e-4f;
// Either Q8_0 block order against a double sum, relative to the terms' magnitudes (64 blocks).
constexpr double kQ8_0OrdersRelError = 1e-6;

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
  // 1, 2 and 33 blocks (two whole runs of 16 and one more) and 64 (whole runs only).
  for (int64_t n : {32, 64, 1056, 2048}) {
    auto x = random_values(static_cast<size_t>(n), rng, 3.0f);
    x[5] = 0.5f / 127.0f * 3.0f;  // values landing on .5 after scaling exercise ties
    std::vector<BlockQ8S> a(static_cast<size_t>(n / 32)), b(a.size());
    quantize_row_q8s(x.data(), a.data(), n);
    quantize_q8s(x.data(), b.data(), n);
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(BlockQ8S))) << n;
    // Each ISA's twin explicitly, whichever is selected.
    if (cpu_features().avx2) {
      avx2::quantize_q8s(x.data(), b.data(), n);
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(BlockQ8S))) << "avx2 " << n;
    }
    if (cpu_features().avx512_vnni) {
      avx512::quantize_q8s(x.data(), b.data(), n);
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(BlockQ8S))) << "avx512 " << n;
    }
  }
  std::vector<float> zeros(64, 0.0f);
  std::vector<BlockQ8S> z(2);
  quantize_q8s(zeros.data(), z.data(), 64);
  EXPECT_EQ(z[0].d, 0.0f);
  EXPECT_EQ(z[1].sum, 0);
}

// rms_scale sums the squares in eight partial double sums instead of llama.cpp's single
// in-order chain: the two sums differ in the last bits of a double, which the float scale does
// not keep; a one-ulp bound leaves room for a double sum that lands on a float rounding tie.
TEST(Packed, RmsScaleMatchesTheInOrderDoubleSum) {
  constexpr float kMaxUlps = 1.0f;
  std::mt19937 rng(29);
  std::uniform_real_distribution<float> exponent(-30.0f, 10.0f);
  for (int64_t n : {1, 7, 32, 100, 2048, 5632}) {
    for (bool wide : {false, true}) {
      auto x = random_values(static_cast<size_t>(n), rng, 2.0f);
      if (wide) {
        for (float& v : x) v *= std::exp2(exponent(rng));  // magnitudes 2^-30 .. 2^10 in one row
      }
      double in_order = 0.0;
      for (float v : x) in_order += static_cast<double>(v * v);
      const float want = 1.0f / std::sqrt(static_cast<float>(in_order / static_cast<double>(n)) + 1e-5f);
      const float got = rms_scale(x.data(), n, 1e-5f);
      const float ulp = std::nextafter(want, INFINITY) - want;
      EXPECT_LE(std::fabs(got - want), kMaxUlps * ulp) << "n " << n << (wide ? " wide" : "");
    }
  }
}

// RMSNorm's scaling fused into the quantization (and the residual add into the norm's pass):
// the same bits as the separate ops, for the selected variant, the scalar twin, AVX2's and AVX-512's.
TEST(Packed, NormFusedIntoQuantizationEqualsSeparateOps) {
  std::mt19937 rng(17);
  for (int64_t n : {32, 96, 2048}) {
    const auto x0 = random_values(static_cast<size_t>(n), rng, 2.0f);
    const auto res = random_values(static_cast<size_t>(n), rng, 0.5f);
    const auto weight = random_values(static_cast<size_t>(n), rng);
    for (bool with_add : {false, true}) {
      const std::string where = "n " + std::to_string(n) + (with_add ? " with add" : " alone");
      // Separate: x += res, h = rms_norm(x), quantize_row_q8s(h).
      std::vector<float> x_sep = x0, h(static_cast<size_t>(n));
      if (with_add) add_inplace(x_sep.data(), res.data(), n);
      rms_norm(x_sep.data(), weight.data(), h.data(), n, 1e-5f);
      std::vector<BlockQ8S> want(static_cast<size_t>(n / kQK));
      quantize_row_q8s(h.data(), want.data(), n);

      std::vector<float> x_f32 = x0, h_f32(static_cast<size_t>(n));
      add_rms_norm(x_f32.data(), with_add ? res.data() : nullptr, weight.data(), h_f32.data(), n, 1e-5f);
      EXPECT_EQ(x_f32, x_sep) << where;
      EXPECT_EQ(h_f32, h) << where;

      std::vector<float> x_q = x0;
      std::vector<BlockQ8S> got(want.size());
      add_rms_norm_q8s(x_q.data(), with_add ? res.data() : nullptr, weight.data(), got.data(), n, 1e-5f);
      EXPECT_EQ(x_q, x_sep) << where;
      EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * sizeof(BlockQ8S))) << "selected, " << where;

      // Each variant from the same normed scale.
      const float scale = rms_scale(x_sep.data(), n, 1e-5f);
      std::vector<BlockQ8S> twin(want.size());
      ref::quantize_q8s_scaled(x_sep.data(), scale, weight.data(), twin.data(), n);
      EXPECT_EQ(0, std::memcmp(twin.data(), want.data(), want.size() * sizeof(BlockQ8S))) << "scalar twin, " << where;
      if (cpu_features().avx2) {
        std::vector<BlockQ8S> fast(want.size());
        avx2::quantize_q8s_scaled(x_sep.data(), scale, weight.data(), fast.data(), n);
        EXPECT_EQ(0, std::memcmp(fast.data(), want.data(), want.size() * sizeof(BlockQ8S))) << "avx2, " << where;
      }
      if (cpu_features().avx512_vnni) {
        std::vector<BlockQ8S> fast(want.size());
        avx512::quantize_q8s_scaled(x_sep.data(), scale, weight.data(), fast.data(), n);
        EXPECT_EQ(0, std::memcmp(fast.data(), want.data(), want.size() * sizeof(BlockQ8S))) << "avx512, " << where;
      }
    }
  }
}

// Every variant this CPU can run, with its scalar twin: the selected one in each BlockOrder,
// and each ISA's explicitly (on an AVX-512 machine the AVX2 tiles are not selected but must stay
// correct for machines without it).
struct TileVariant {
  std::string name;
  PackedTileFn fast, twin;
};

std::vector<TileVariant> tile_variants(DType type) {
  std::vector<TileVariant> v;
  for (BlockOrder order : {BlockOrder::kLlamaCpp, BlockOrder::kFastest}) {
    v.push_back({order == BlockOrder::kLlamaCpp ? "selected llamacpp" : "selected fastest", packed_tile_for(type, order),
                 reference_packed_tile_for(type, order)});
  }
  const auto pick = [type](PackedTileFn q4_0, PackedTileFn q4_1, PackedTileFn q8_0) {
    return type == DType::Q4_0 ? q4_0 : type == DType::Q4_1 ? q4_1 : q8_0;
  };
  const PackedTileFn twin = pick(ref::tile_q4_0, ref::tile_q4_1, ref::tile_q8_0);
  if (cpu_features().avx2) {
    v.push_back({"avx2", pick(avx2::tile_q4_0, avx2::tile_q4_1, avx2::tile_q8_0), twin});
    if (type == DType::Q8_0) v.push_back({"avx2 exact", avx2::tile_q8_0_exact, ref::tile_q8_0_exact});
  }
  if (cpu_features().avx512_vnni) {
    v.push_back({"avx512", pick(avx512::tile_q4_0, avx512::tile_q4_1, avx512::tile_q8_0), twin});
    if (type == DType::Q4_1) v.push_back({"avx512 exact", avx512::tile_q4_1_exact, ref::tile_q4_1_exact});
  }
  return v;
}

TEST(Packed, FastTilesEqualScalarTwins) {
  std::mt19937 rng(11);
  for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q8_0}) {
    for (int64_t nb : {1, 3, 64}) {
      const int64_t cols = nb * 32;
      auto wf = random_values(static_cast<size_t>(8 * cols), rng);
      wf[3] = -50.0f;  // a block whose largest weight is negative: its quant is -127
      const auto plain = quantized_matrix(type, wf, 8, cols);
      std::vector<uint8_t> packed(packed_bytes(type, 8, cols));
      pack_groups(type, plain.data(), 8, cols, packed.data(), 0, 1);
      std::vector<BlockQ8S> act(static_cast<size_t>(kMaxTileCols * nb));
      const auto x = random_values(static_cast<size_t>(kMaxTileCols * cols), rng);
      quantize_row_q8s(x.data(), act.data(), kMaxTileCols * cols);
      for (const TileVariant& t : tile_variants(type)) {
        ASSERT_NE(t.fast, nullptr) << t.name;
        ASSERT_NE(t.twin, nullptr) << t.name;
        for (int n_cols = 1; n_cols <= kMaxTileCols; ++n_cols) {
          float a[kMaxTileCols * 8], b[kMaxTileCols * 8];
          t.fast(nb, packed.data(), act.data(), nb, n_cols, a);
          t.twin(nb, packed.data(), act.data(), nb, n_cols, b);
          EXPECT_EQ(0, std::memcmp(a, b, sizeof(float) * static_cast<size_t>(8 * n_cols)))
              << t.name << " " << dtype_name(type) << " nb " << nb << " cols " << n_cols;
        }
      }
    }
  }
}

// The two Q8_0 orders compute the same sums with different roundings: each is within float
// rounding of the exact sum, relative to the terms' magnitudes.
TEST(Packed, Q8_0BlockOrdersAgreeToRounding) {
  std::mt19937 rng(17);
  const int64_t nb = 64, cols = nb * 32;
  const auto plain = quantized_matrix(DType::Q8_0, random_values(static_cast<size_t>(8 * cols), rng), 8, cols);
  std::vector<uint8_t> packed(packed_bytes(DType::Q8_0, 8, cols));
  pack_groups(DType::Q8_0, plain.data(), 8, cols, packed.data(), 0, 1);
  std::vector<BlockQ8S> act(static_cast<size_t>(nb));
  const auto x = random_values(static_cast<size_t>(cols), rng);
  quantize_row_q8s(x.data(), act.data(), cols);
  float llama[8], exact[8];
  ref::tile_q8_0(nb, packed.data(), act.data(), nb, 1, llama);
  ref::tile_q8_0_exact(nb, packed.data(), act.data(), nb, 1, exact);
  const auto* w = reinterpret_cast<const BlockQ8_0x8*>(packed.data());
  for (int r = 0; r < 8; ++r) {
    double sum = 0.0, mag = 0.0;
    for (int64_t b = 0; b < nb; ++b) {
      int64_t s = 0;
      for (int j = 0; j < 32; ++j) s += w[b].qs[32 * (j / 4) + 4 * r + j % 4] * act[static_cast<size_t>(b)].qs[j];
      const double scale = static_cast<double>(fp16_to_f32(w[b].d[r])) * static_cast<double>(act[static_cast<size_t>(b)].d);
      sum += static_cast<double>(s) * scale;
      mag += std::fabs(static_cast<double>(s) * scale);
    }
    EXPECT_NEAR(llama[r], sum, kQ8_0OrdersRelError * mag) << "llama.cpp's order, row " << r;
    EXPECT_NEAR(exact[r], sum, kQ8_0OrdersRelError * mag) << "exact order, row " << r;
  }
}

// A pair tile (16 rows from two consecutive groups) equals two scalar tiles bit for bit.
TEST(Packed, PairTilesEqualTwoScalarTiles) {
  std::mt19937 rng(13);
  for (const auto& [type, order] : {std::pair{DType::Q4_0, BlockOrder::kLlamaCpp}, std::pair{DType::Q4_1, BlockOrder::kLlamaCpp},
                                     std::pair{DType::Q4_1, BlockOrder::kFastest}, std::pair{DType::Q8_0, BlockOrder::kLlamaCpp},
                                     std::pair{DType::Q8_0, BlockOrder::kFastest}}) {
    const PackedPairTileFn pair = packed_pair_tile_for(type, order);
    if (pair == nullptr) continue;  // this CPU, type or order has none
    const PackedTileFn ref = reference_packed_tile_for(type, order);
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
  for (const auto& [type, order] : {std::pair{DType::Q4_0, BlockOrder::kLlamaCpp}, std::pair{DType::Q4_1, BlockOrder::kLlamaCpp},
                                     std::pair{DType::Q4_1, BlockOrder::kFastest}, std::pair{DType::Q8_0, BlockOrder::kLlamaCpp},
                                     std::pair{DType::Q8_0, BlockOrder::kFastest}}) {
    for (int64_t rows : {5, 8, 37, 200}) {
      for (int64_t m : {1, 3, 4, 9, 70}) {
        const int64_t cols = 128;
        const auto wf = random_values(static_cast<size_t>(rows * cols), rng);
        const auto plain = quantized_matrix(type, wf, rows, cols);
        const WeightMatrix w{type, rows, cols, plain.data(), false};
        PackedWeights store;
        WeightMatrix p = store.pack(w, pool);
        ASSERT_TRUE(p.packed);
        p.order = order;
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
                << dtype_name(type) << " order " << static_cast<int>(order) << " rows " << rows << " m " << m << " at " << i << "," << r;
            // Q4_1 and Q8_0 in llama.cpp's order sum as the row-major SIMD kernels do.
            if (type != DType::Q4_0 && active_features().avx2 && !fastest_differs(type, order)) {
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

// The fused products from activations quantized by their producer equal those from floats.
TEST(Packed, QuantizedActivationsGiveTheFloatPathsResults) {
  std::mt19937 rng(21);
  ThreadPool pool(2);
  const int64_t cols = 96, m = 5;
  for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q8_0}) {
    std::vector<std::vector<uint8_t>> plain;
    std::vector<WeightMatrix> packed;
    PackedWeights store;
    for (int64_t rows : {24, 13}) {
      plain.push_back(quantized_matrix(type, random_values(static_cast<size_t>(rows * cols), rng), rows, cols));
      packed.push_back(store.pack(WeightMatrix{type, rows, cols, plain.back().data(), false}, pool));
    }
    ASSERT_TRUE(takes_quantized({{&packed[0], nullptr}, {&packed[1], nullptr}})) << dtype_name(type);
    const auto x = random_values(static_cast<size_t>(m * cols), rng);
    std::vector<uint8_t> scratch(matmul_scratch_bytes(packed[0], m));
    std::vector<float> a0(static_cast<size_t>(m * 24), 0.0f), a1(static_cast<size_t>(m * 13), 0.0f), b0(a0.size(), 1.0f), b1(a1.size(), 1.0f);
    matmul_fused({{&packed[0], a0.data()}, {&packed[1], a1.data()}}, x.data(), m, pool, scratch.data(), scratch.size());
    std::vector<BlockQ8S> act(static_cast<size_t>(m * cols / kQK));  // [m, cols / 32]
    for (int64_t i = 0; i < m; ++i) quantize_q8s(x.data() + i * cols, act.data() + i * cols / kQK, cols);
    matmul_fused_quantized({{&packed[0], b0.data()}, {&packed[1], b1.data()}}, act.data(), m, pool);
    EXPECT_EQ(a0, b0) << dtype_name(type);
    EXPECT_EQ(a1, b1) << dtype_name(type);
  }
  // Row-major matrices read other activation types: no quantized entry for them.
  const auto plain = quantized_matrix(DType::Q4_0, random_values(16 * 64, rng), 16, 64);
  const WeightMatrix row_major{DType::Q4_0, 16, 64, plain.data(), false};
  EXPECT_FALSE(takes_quantized({{&row_major, nullptr}}));
  EXPECT_THROW(matmul_fused_quantized({{&row_major, nullptr}}, nullptr, 1, pool), std::exception);
}

// pack_all puts the packable matrices in one buffer, in the order given, each on a cache line
// right after the one before; the others stay as they are; products equal those of matrices
// packed one by one.
TEST(Packed, PackAllLaysMatricesOutInOrderInOneBuffer) {
  std::mt19937 rng(17);
  ThreadPool pool(2);
  const int64_t m = 3;
  struct Spec {
    DType type;
    int64_t rows, cols;
  };
  const std::vector<Spec> specs = {{DType::Q4_0, 13, 64}, {DType::F32, 8, 64}, {DType::Q8_0, 24, 96}, {DType::Q4_1, 5, 64}};
  std::vector<std::vector<uint8_t>> plain;
  std::vector<WeightMatrix> all, one_by_one;
  PackedWeights store, separate;
  for (const Spec& sp : specs) {
    const auto w = random_values(static_cast<size_t>(sp.rows * sp.cols), rng);
    if (sp.type == DType::F32) {
      plain.emplace_back(reinterpret_cast<const uint8_t*>(w.data()), reinterpret_cast<const uint8_t*>(w.data() + w.size()));
    } else {
      plain.push_back(quantized_matrix(sp.type, w, sp.rows, sp.cols));
    }
    all.push_back(WeightMatrix{sp.type, sp.rows, sp.cols, plain.back().data(), false});
    one_by_one.push_back(separate.pack(all.back(), pool));
  }
  std::vector<WeightMatrix*> ptrs;
  for (WeightMatrix& w : all) ptrs.push_back(&w);
  store.pack_all(ptrs, pool);

  EXPECT_FALSE(all[1].packed);
  EXPECT_EQ(all[1].data, plain[1].data());
  size_t expected_offset = 0;
  size_t total = 0;
  for (size_t i : {size_t{0}, size_t{2}, size_t{3}}) {
    ASSERT_TRUE(all[i].packed) << i;
    EXPECT_EQ(static_cast<size_t>(all[i].data - all[0].data), expected_offset) << i;
    const size_t bytes = packed_bytes(all[i].type, all[i].rows, all[i].cols);
    expected_offset += (bytes + 63) / 64 * 64;
    total += bytes;
    EXPECT_EQ(std::memcmp(all[i].data, one_by_one[i].data, bytes), 0) << i;
  }
  EXPECT_EQ(store.bytes(), total);
  for (size_t i = 0; i < all.size(); ++i) {
    const auto x = random_values(static_cast<size_t>(m * all[i].cols), rng);
    std::vector<uint8_t> scratch(std::max(matmul_scratch_bytes(all[i], m), matmul_scratch_bytes(one_by_one[i], m)));
    std::vector<float> a(static_cast<size_t>(m * all[i].rows), 0.0f), b(a.size(), 1.0f);
    matmul(all[i], x.data(), m, a.data(), pool, scratch.data(), scratch.size());
    matmul(one_by_one[i], x.data(), m, b.data(), pool, scratch.data(), scratch.size());
    EXPECT_EQ(a, b) << i;
  }
  // Already packed matrices are left where they are.
  WeightMatrix again = all[0];
  PackedWeights other;
  std::vector<WeightMatrix*> one = {&again};
  other.pack_all(one, pool);
  EXPECT_EQ(again.data, all[0].data);
  EXPECT_EQ(other.bytes(), 0u);
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

// Columns kept in runs (WeightMatrix::k_parts): each row's sum is the runs' partial sums added
// in order, the same for every batch size and thread split as one thread's
// matmul_packed_rows per run; the values stay within rounding of the one-run product, rows
// dequantize unchanged, and going back to one run restores the one-run product's bits.
TEST(Packed, ColumnRunsSumInOrderWhateverTheBatch) {
  std::mt19937 rng(29);
  ThreadPool pool(2);
  for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q8_0}) {
    for (int parts : {2, 4}) {
      SCOPED_TRACE(std::string(dtype_name(type)) + " runs " + std::to_string(parts));
      const int64_t rows = 37, cols = 128, nb = cols / 32;  // a ragged last group
      const auto wf = random_values(static_cast<size_t>(rows * cols), rng);
      const auto plain = quantized_matrix(type, wf, rows, cols);
      PackedWeights store;
      WeightMatrix w = store.pack(WeightMatrix{type, rows, cols, plain.data(), false}, pool);
      const int64_t m = 6;
      const auto x = random_values(static_cast<size_t>(m * cols), rng);
      std::vector<uint8_t> scratch(matmul_scratch_bytes(w, m));
      std::vector<float> one_run(static_cast<size_t>(m * rows)), runs(one_run.size());  // [m, rows]
      matmul(w, x.data(), m, one_run.data(), pool, scratch.data(), scratch.size());
      store.set_k_parts(w, parts);
      EXPECT_EQ(w.k_parts, parts);
      matmul(w, x.data(), m, runs.data(), pool, scratch.data(), scratch.size());
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = 0; r < rows; ++r) {
        dequantize_matrix_row(w, r, row.data());
        std::vector<float> back(static_cast<size_t>(cols));
        dequantize_row(type, plain.data() + static_cast<size_t>(r) * row_bytes(type, cols), back.data(), cols);
        EXPECT_EQ(row, back) << "row " << r;
      }
      bool any_differs = false;
      for (int64_t i = 0; i < m; ++i) {
        // One row at a time, run by run, as a split decode step's threads compute it.
        std::vector<BlockQ8S> act(static_cast<size_t>(nb));
        quantize_q8s(x.data() + i * cols, act.data(), cols);
        std::vector<float> sum(static_cast<size_t>(rows)), part(sum.size());
        for (int p = 0; p < parts; ++p) {
          matmul_packed_rows(w, act.data(), 0, (rows + 7) / 8, p, p == 0 ? sum.data() : part.data());
          if (p > 0) {
            for (int64_t r = 0; r < rows; ++r) sum[static_cast<size_t>(r)] += part[static_cast<size_t>(r)];
          }
        }
        for (int64_t r = 0; r < rows; ++r) {
          const float got = runs[static_cast<size_t>(i * rows + r)], one = one_run[static_cast<size_t>(i * rows + r)];
          EXPECT_EQ(got, sum[static_cast<size_t>(r)]) << "batch row " << i << " row " << r;
          double mag = 0.0;
          for (int64_t j = 0; j < cols; ++j) mag += std::fabs(static_cast<double>(wf[static_cast<size_t>(r * cols + j)]) * static_cast<double>(x[static_cast<size_t>(i * cols + j)]));
          EXPECT_NEAR(got, one, static_cast<double>(kPackedVsRowMajor) * mag) << "batch row " << i << " row " << r;
          any_differs = any_differs || got != one;
        }
      }
      EXPECT_TRUE(any_differs) << "the runs are summed separately";
      store.set_k_parts(w, 1);
      matmul(w, x.data(), m, runs.data(), pool, scratch.data(), scratch.size());
      EXPECT_EQ(runs, one_run);
    }
  }
}

}  // namespace
}  // namespace ts
