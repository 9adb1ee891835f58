// Every kernel in the table against its scalar reference twin and against float math on the
// dequantized rows, over ragged lengths.
#include <gtest/gtest.h>

#include <bit>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "base/fp16.h"
#include "kernels/dtype_table.h"
#include "kernels/ref/dot_ref.h"
#include "quant/quantize.h"

namespace ts {
namespace {

// Named bounds, relative to sum(|w_i * a_i|) over the row.
constexpr float kKernelVsReference = 1e-5f;   // same integer sums, float combination order differs
constexpr float kQuantizedVsFloat = 2e-2f;    // activation quantization to 8 bits

std::vector<float> random_row(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

// Random bytes are valid Q4_K/Q6_K blocks once the f16 scales are set to sane values.
std::vector<uint8_t> random_k_blocks(DType type, int64_t n, std::mt19937& rng) {
  std::vector<uint8_t> bytes(row_bytes(type, n));
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  const int64_t nb = n / 256;
  for (int64_t i = 0; i < nb; ++i) {
    if (type == DType::Q4_K) {
      auto* blk = reinterpret_cast<BlockQ4_K*>(bytes.data()) + i;
      blk->d = f32_to_fp16(0.01f);
      blk->dmin = f32_to_fp16(0.005f);
    } else {
      auto* blk = reinterpret_cast<BlockQ6_K*>(bytes.data()) + i;
      blk->d = f32_to_fp16(0.01f);
    }
  }
  return bytes;
}

TEST(Dot, KernelsMatchReferenceAndFloat) {
  std::mt19937 rng(1234);
  for (DType w_type : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F32, DType::F16,
                       DType::BF16}) {
    const DTypeKernels& fast = kernels_for(w_type);
    const DTypeKernels& ref = reference_kernels_for(w_type);
    const int64_t block = dtype_info(w_type).block_size == 1 ? 1 : std::max<int64_t>(32, dtype_info(w_type).block_size);
    for (int64_t blocks : {1, 3, 7, 18}) {
      const int64_t n = std::max<int64_t>(block, 32) * blocks + (block == 1 ? 5 : 0);  // ragged for float types
      const auto w_f = random_row(n, rng);
      const auto a_f = random_row(n, rng);
      std::vector<uint8_t> w;
      if (w_type == DType::Q4_K || w_type == DType::Q6_K) {
        if (n % 256 != 0) continue;
        w = random_k_blocks(w_type, n, rng);
      } else {
        w.resize(row_bytes(w_type, n));
        quantize_row(w_type, w_f.data(), w.data(), n);
      }
      std::vector<float> w_deq(static_cast<size_t>(n));
      dequantize_row(w_type, w.data(), w_deq.data(), n);
      std::vector<uint8_t> a(row_bytes(fast.act_type, n));
      quantize_row(fast.act_type, a_f.data(), a.data(), n);
      double exact = 0.0, magnitude = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        exact += static_cast<double>(w_deq[static_cast<size_t>(i)]) * static_cast<double>(a_f[static_cast<size_t>(i)]);
        magnitude += std::fabs(static_cast<double>(w_deq[static_cast<size_t>(i)]) * static_cast<double>(a_f[static_cast<size_t>(i)]));
      }
      // Every summation order the type has (the row kernel's, and those of llama.cpp's 4-row and
      // wide-batch kernels where they differ).
      for (uint8_t ctx : {uint8_t{kRowAlone}, uint8_t{kRowInGroupOf4}, uint8_t{kRowInWideBatch},
                          uint8_t{kRowInGroupOf4 | kRowInWideBatch}}) {
        const float got = fast.dot_for(ctx)(n, w.data(), a.data());
        const float want = ref.dot_for(ctx)(n, w.data(), a.data());
        const std::string what = std::string(dtype_name(w_type)) + " n=" + std::to_string(n) + " ctx=" + std::to_string(ctx);
        EXPECT_NEAR(got, want, static_cast<double>(kKernelVsReference) * magnitude + 1e-6) << what;
        if (w_type == DType::Q4_K || w_type == DType::Q6_K) {
          // Exact integer super-block sums and the reference's float steps: the same bits.
          EXPECT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want)) << what;
        }
        EXPECT_NEAR(static_cast<double>(want), exact, static_cast<double>(kQuantizedVsFloat) * magnitude + 1e-6) << what;
      }
    }
  }
}

// The K formats have a second order where llama.cpp has a second kernel; on random rows the
// orders round differently somewhere, so a table entry pointing at the wrong twin shows.
TEST(Dot, KQuantOrdersAreDistinct) {
  std::mt19937 rng(99);
  for (auto [w_type, ctx] : {std::pair{DType::Q4_K, kRowInGroupOf4}, std::pair{DType::Q6_K, kRowInWideBatch}}) {
    const DTypeKernels& k = kernels_for(w_type);
    EXPECT_NE(k.dot_for(ctx), k.vec_dot) << dtype_name(w_type);
    int differing = 0;
    for (int trial = 0; trial < 50; ++trial) {
      const int64_t n = 256 * 8;
      const auto w = random_k_blocks(w_type, n, rng);
      const auto a_f = random_row(n, rng);
      std::vector<uint8_t> a(row_bytes(DType::Q8_K, n));
      quantize_row(DType::Q8_K, a_f.data(), a.data(), n);
      const float alone = k.vec_dot(n, w.data(), a.data());
      const float batched = k.dot_for(ctx)(n, w.data(), a.data());
      EXPECT_NEAR(alone, batched, 1e-4f * (std::fabs(alone) + 1.0f));
      differing += alone != batched ? 1 : 0;
    }
    EXPECT_GT(differing, 0) << dtype_name(w_type);
  }
}

// llama.cpp computes prompts in 512-token micro-batches, generated tokens alone.
TEST(Dot, RowContextFollowsLlamaCppBatching) {
  const uint8_t both = kRowInGroupOf4 | kRowInWideBatch;
  EXPECT_EQ(llama_cpp_row_context(0, 1), kRowAlone);  // a one-token prompt
  EXPECT_EQ(llama_cpp_row_context(5, 5), kRowAlone);  // generated
  EXPECT_EQ(llama_cpp_row_context(3, 5), kRowInGroupOf4);  // 5 rows: 0..3 grouped, 4 alone
  EXPECT_EQ(llama_cpp_row_context(4, 5), kRowAlone);
  EXPECT_EQ(llama_cpp_row_context(7, 10), both);  // 10 rows: wide, 0..7 grouped
  EXPECT_EQ(llama_cpp_row_context(8, 10), kRowInWideBatch);
  EXPECT_EQ(llama_cpp_row_context(511, 1030), both);  // micro-batches of 512, 512, 6
  EXPECT_EQ(llama_cpp_row_context(1023, 1030), both);
  EXPECT_EQ(llama_cpp_row_context(1027, 1030), kRowInGroupOf4);
  EXPECT_EQ(llama_cpp_row_context(1028, 1030), kRowAlone);
  EXPECT_EQ(llama_cpp_row_context(2000, 1030), kRowAlone);
}

// The four-row tiles give each row the single-row kernel's bits in every order the type has,
// over ragged lengths and rows that are not adjacent in memory.
TEST(Dot, FourRowTilesEqualTheRowKernel) {
  std::mt19937 rng(7);
  for (DType w_type : {DType::F32, DType::F16, DType::BF16, DType::Q4_K, DType::Q6_K}) {
    const DTypeKernels& k = kernels_for(w_type);
    const bool k_quant = w_type == DType::Q4_K || w_type == DType::Q6_K;
    for (int64_t n : {8, 16, 40, 256, 2048, 2053}) {
      if (k_quant && n % 256 != 0) continue;
      const auto w_f = random_row(n, rng);
      std::vector<uint8_t> w;
      if (k_quant) {
        w = random_k_blocks(w_type, n, rng);
      } else {
        w.resize(row_bytes(w_type, n));
        quantize_row(w_type, w_f.data(), w.data(), n);
      }
      const size_t row = row_bytes(k.act_type, n);
      const size_t stride = row + 12;  // not the row length
      std::vector<uint8_t> act(4 * stride);
      for (int c = 0; c < 4; ++c) quantize_row(k.act_type, random_row(n, rng).data(), act.data() + c * stride, n);
      for (uint8_t ctx : {uint8_t{kRowAlone}, uint8_t{kRowInGroupOf4}, uint8_t{kRowInWideBatch},
                          uint8_t{kRowInGroupOf4 | kRowInWideBatch}}) {
        const VecDot4Fn dot4 = k.dot4_for(ctx);
        if (dot4 == nullptr) continue;  // no tile for this order on this CPU
        float out[4];
        dot4(n, w.data(), act.data(), stride, out);
        for (int c = 0; c < 4; ++c) {
          const float want = k.dot_for(ctx)(n, w.data(), act.data() + c * stride);
          EXPECT_EQ(std::bit_cast<uint32_t>(out[c]), std::bit_cast<uint32_t>(want))
              << dtype_name(w_type) << " n=" << n << " c=" << c << " ctx=" << int{ctx};
        }
      }
    }
  }
}

TEST(Dot, UnsupportedTypeIsNamed) {
  try {
    kernels_for(DType::Q5_K);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("q5_k"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ts
