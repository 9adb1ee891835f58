// Quantize -> dequantize round trips stay within each format's named error bound.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "quant/quantize.h"

namespace ts {
namespace {

std::vector<float> random_row(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

// Worst-case error relative to the block's largest magnitude: half a quantization step, except
// Q4_0 and Q5_0, whose scales map the largest magnitude to -8 (-16) so values of the other sign
// clip at 7/8 (15/16) of it.
struct Bound {
  DType type;
  float rel;
};

TEST(Quant, RoundTripWithinNamedBounds) {
  for (const Bound b : {Bound{DType::Q8_0, 0.5f / 127 + 1e-3f}, Bound{DType::Q4_0, 1.0f / 8 + 1e-3f}, Bound{DType::Q5_0, 1.0f / 16 + 1e-3f},
                        Bound{DType::Q4_1, 1.0f / 15 + 2e-3f}, Bound{DType::F16, 1e-3f}, Bound{DType::BF16, 8e-3f}}) {
    const int64_t n = 256 * 3;
    const auto x = random_row(n, 7);
    std::vector<uint8_t> q(row_bytes(b.type, n));
    quantize_row(b.type, x.data(), q.data(), n);
    std::vector<float> y(static_cast<size_t>(n));
    dequantize_row(b.type, q.data(), y.data(), n);
    for (int64_t blk = 0; blk < n / 32; ++blk) {
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[static_cast<size_t>(blk * 32 + j)]));
      for (int j = 0; j < 32; ++j) {
        const size_t i = static_cast<size_t>(blk * 32 + j);
        ASSERT_LE(std::fabs(x[i] - y[i]), b.rel * amax) << dtype_name(b.type) << " element " << i;
      }
    }
  }
}

TEST(Quant, Q4_0ScaleMapsLargestMagnitudeToMinusEight) {
  std::vector<float> x(32, 0.0f);
  x[3] = -2.0f;
  x[7] = 1.0f;
  BlockQ4_0 b;
  quantize_row_q4_0(x.data(), &b, 32);
  std::vector<float> y(32);
  dequantize_row(DType::Q4_0, &b, y.data(), 32);
  EXPECT_FLOAT_EQ(y[3], -2.0f);
  EXPECT_FLOAT_EQ(y[0], 0.0f);
}

TEST(Quant, RejectsRaggedRows) {
  std::vector<float> x(33);
  std::vector<uint8_t> q(64);
  EXPECT_THROW(quantize_row(DType::Q8_0, x.data(), q.data(), 33), std::exception);
  EXPECT_THROW(dequantize_row(DType::Q5_K, q.data(), x.data(), 256), std::exception);
}

TEST(Quant, Q8KBlockSumsMatchQuants) {
  const auto x = random_row(256, 3);
  BlockQ8_K b;
  quantize_row_q8_k(x.data(), &b, 256);
  for (int g = 0; g < 16; ++g) {
    int s = 0;
    for (int j = 0; j < 16; ++j) s += b.qs[g * 16 + j];
    EXPECT_EQ(s, b.bsums[g]);
  }
}

}  // namespace
}  // namespace ts
