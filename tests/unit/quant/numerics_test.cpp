// The attention/activation kernels: the fast twin must equal the scalar reference bit for bit
// (both reproduce llama.cpp's evaluation order), and the exp polynomial must be an accurate exp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "base/fp16.h"
#include "kernels/numerics.h"
#include "kernels/ops.h"
#include "kernels/ref/numerics_ref.h"
#include "quant/quantize.h"

namespace ts {
namespace {

// Named bound: the polynomial's error against exp, relative.
constexpr double kExpPolyRelError = 3e-7;
// Named bound: a Q8_0 weighted sum in f32 against the same sum in double, relative to sum |w v|.
constexpr double kQ8WeightedSumRelError = 1e-5;
// Named bound: online-softmax attention in f32 against softmax(q k * scale) v in double, relative
// to sum_p p_p |v_p| (f32 sums over a few hundred keys, rescaled as the maximum rises).
constexpr double kOnlineAttentionRelError = 2e-5;

std::vector<float> f16_values(int64_t n, float scale, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = fp16_to_f32(f32_to_fp16(d(rng)));
  return v;
}

// The same as f16 bits (how keys and values sit in the KV cache).
std::vector<uint16_t> f16_bits(int64_t n, float scale, std::mt19937& rng) {
  const auto v = f16_values(n, scale, rng);
  std::vector<uint16_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i) b[i] = f32_to_fp16(v[i]);
  return b;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(Numerics, ExpPolyIsAccurate) {
  for (float x = -87.0f; x <= 80.0f; x += 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    EXPECT_NEAR(static_cast<double>(ref::exp_poly(x)) / want, 1.0, kExpPolyRelError) << x;
  }
  EXPECT_EQ(ref::exp_poly(-200.0f), 0.0f);
  EXPECT_EQ(ref::exp_poly(-INFINITY), 0.0f);
  EXPECT_TRUE(std::isinf(ref::exp_poly(200.0f)));
  EXPECT_EQ(ref::exp_poly(0.0f), 1.0f);
}

void expect_twin_equals_reference(const NumericKernels& fast) {
  const NumericKernels& slow = reference_numeric_kernels();
  std::mt19937 rng(7);
  for (int64_t n : {8, 32, 40, 64, 80, 128, 256}) {
    const auto a = f16_values(n, 1.0f, rng);
    const auto b = f16_bits(n, 2.0f, rng);
    for (SumOrder o : {SumOrder::kBatch, SumOrder::kSingle}) {
      if (o == SumOrder::kBatch && n % 8 != 0) continue;
      EXPECT_TRUE(same_bits(fast.dot(a.data(), b.data(), n, o), slow.dot(a.data(), b.data(), n, o))) << n;
    }
  }
  // Weighted sums of several rows sharing v: each row exactly weighted_sum alone, for causal
  // (differing) lengths, chunked and fallback shapes; 40 keys fit one position chunk of the fast
  // twins (a short decode step, whose rows take turns on one row's accumulators), 150 do not.
  for (int64_t dim : {8, 24, 64, 128, 136}) {
   for (int64_t max_keys : {40, 100, 150}) {
    for (int64_t rows : {1, 3, 8, 9}) {
      const int64_t stride = dim + 5, w_stride = max_keys + 2, out_stride = dim + 1;
      const auto v = f16_bits(max_keys * stride, 1.0f, rng);
      const auto w = f16_values(rows * w_stride, 0.1f, rng);
      std::vector<int64_t> n_keys(static_cast<size_t>(rows));
      for (int64_t i = 0; i < rows; ++i) n_keys[static_cast<size_t>(i)] = max_keys - rows + 1 + i - (i % 2) * (max_keys / 2);
      for (SumOrder o : {SumOrder::kBatch, SumOrder::kSingle}) {
        std::vector<float> o1(static_cast<size_t>(rows * out_stride)), o2(o1.size()), o3(o1.size());
        const PagedRows pv = PagedRows::contiguous(v.data(), stride);
        fast.weighted_sums(w.data(), w_stride, n_keys.data(), rows, pv, dim, o1.data(), out_stride, o);
        slow.weighted_sums(w.data(), w_stride, n_keys.data(), rows, pv, dim, o2.data(), out_stride, o);
        for (int64_t i = 0; i < rows; ++i) {
          slow.weighted_sum(w.data() + i * w_stride, v.data(), stride, n_keys[static_cast<size_t>(i)], dim,
                            o3.data() + i * out_stride, o);
          for (int64_t d = 0; d < dim; ++d) {
            const size_t at = static_cast<size_t>(i * out_stride + d);
            EXPECT_TRUE(same_bits(o1[at], o2[at])) << dim << " " << rows << " " << i << " " << d;
            EXPECT_TRUE(same_bits(o1[at], o3[at])) << dim << " " << rows << " " << i << " " << d;
          }
        }
      }
    }
   }
  }
  // Paged rows: the same rows scattered over shuffled blocks (sizes that split the 8- and
  // 32-position slot cycles) give exactly the contiguous result; a lone row over 1100 keys
  // crosses the fast twin's position chunks too.
  for (int64_t block : {1, 5, 16, 40}) {
    for (int64_t dim : {12, 64, 128}) {
     for (int64_t rows : {1, 8}) {
      const int64_t max_keys = rows == 1 ? 1100 : 150, w_stride = max_keys, stride = dim + 3;
      const int64_t n_blocks = (max_keys + block - 1) / block;
      const auto v = f16_bits(max_keys * stride, 1.0f, rng);
      const auto w = f16_values(rows * w_stride, 0.1f, rng);
      std::vector<int32_t> table(static_cast<size_t>(n_blocks));
      std::iota(table.begin(), table.end(), 0);
      std::shuffle(table.begin(), table.end(), rng);  // a permutation: no two positions share a slot
      const int64_t block_stride = block * stride;
      std::vector<uint16_t> paged(static_cast<size_t>(n_blocks * block_stride));
      for (int64_t p = 0; p < max_keys; ++p) {
        std::copy_n(v.data() + p * stride, stride, paged.data() + table[static_cast<size_t>(p / block)] * block_stride + (p % block) * stride);
      }
      const PagedRows pv{paged.data(), table.data(), block, block_stride, stride};
      std::vector<int64_t> n_keys(static_cast<size_t>(rows));
      for (int64_t i = 0; i < rows; ++i) n_keys[static_cast<size_t>(i)] = max_keys - 9 * i;
      for (SumOrder o : {SumOrder::kBatch, SumOrder::kSingle}) {
        std::vector<float> o1(static_cast<size_t>(rows * dim)), o2(o1.size()), o3(o1.size());
        fast.weighted_sums(w.data(), w_stride, n_keys.data(), rows, pv, dim, o1.data(), dim, o);
        slow.weighted_sums(w.data(), w_stride, n_keys.data(), rows, pv, dim, o2.data(), dim, o);
        for (int64_t i = 0; i < rows; ++i) {
          slow.weighted_sum(w.data() + i * w_stride, v.data(), stride, n_keys[static_cast<size_t>(i)], dim, o3.data() + i * dim, o);
        }
        for (size_t at = 0; at < o1.size(); ++at) {
          EXPECT_TRUE(same_bits(o1[at], o2[at])) << block << " " << dim << " " << at;
          EXPECT_TRUE(same_bits(o1[at], o3[at])) << block << " " << dim << " " << at;
        }
      }
     }
    }
  }
  // Scores over many keys: per key exactly dot(q, k) * scale, in either order, whatever the
  // number of keys in flight.
  for (int64_t n : {8, 32, 40, 64, 128}) {
    const int64_t stride = n + 8;
    for (int64_t keys : {1, 2, 7, 8, 9, 17, 100}) {
      const auto q = f16_values(n, 1.0f, rng);
      const auto k = f16_bits(keys * stride, 2.0f, rng);
      for (SumOrder o : {SumOrder::kBatch, SumOrder::kSingle}) {
        if (o == SumOrder::kBatch && n % 8 != 0) continue;
        std::vector<float> s1(static_cast<size_t>(keys)), s2(static_cast<size_t>(keys));
        fast.scores(q.data(), k.data(), stride, keys, n, o, 0.125f, s1.data());
        slow.scores(q.data(), k.data(), stride, keys, n, o, 0.125f, s2.data());
        for (int64_t p = 0; p < keys; ++p) {
          EXPECT_TRUE(same_bits(s1[p], s2[p])) << n << " " << keys << " " << p;
          EXPECT_TRUE(same_bits(s1[p], slow.dot(q.data(), k.data() + p * stride, n, o) * 0.125f));
        }
      }
    }
  }
  // Scores of several query rows over paged keys in shuffled blocks: each row's key range
  // (a sliding window start, causal ends) gets exactly scores over the same keys alone, and
  // positions outside it stay untouched. 1100 keys cross the fast twins' position chunks.
  for (int64_t block : {3, 16, 40}) {
    for (int64_t n : {32, 64, 72, 128}) {
      for (int64_t rows : {1, 5, 8}) {
        const int64_t max_keys = 1100, stride = n + 4, n_blocks = (max_keys + block - 1) / block;
        const int64_t q_stride = n + 2, out_stride = max_keys + 3;
        const auto k = f16_bits(max_keys * stride, 2.0f, rng);
        const auto q = f16_values(rows * q_stride, 1.0f, rng);
        std::vector<int32_t> table(static_cast<size_t>(n_blocks));
        std::iota(table.begin(), table.end(), 0);
        std::shuffle(table.begin(), table.end(), rng);
        const int64_t block_stride = block * stride + 7;
        std::vector<uint16_t> paged(static_cast<size_t>(n_blocks * block_stride));
        for (int64_t p = 0; p < max_keys; ++p)
          std::copy_n(k.data() + p * stride, stride, paged.data() + table[static_cast<size_t>(p / block)] * block_stride + (p % block) * stride);
        const PagedRows pk{paged.data(), table.data(), block, block_stride, stride};
        std::vector<int64_t> first(static_cast<size_t>(rows)), last(static_cast<size_t>(rows));
        for (int64_t i = 0; i < rows; ++i) {
          last[static_cast<size_t>(i)] = max_keys - rows + 1 + i - (i % 2) * 333;
          first[static_cast<size_t>(i)] = i == 2 ? 0 : (i * 97) % 300;
        }
        for (SumOrder o : {SumOrder::kBatch, SumOrder::kSingle}) {
          if (o == SumOrder::kBatch && n % 8 != 0) continue;
          constexpr float kUntouched = 12345.0f;
          std::vector<float> s1(static_cast<size_t>(rows * out_stride), kUntouched), s2(s1);
          fast.scores_rows(q.data(), q_stride, rows, pk, first.data(), last.data(), n, o, 0.125f, s1.data(), out_stride);
          slow.scores_rows(q.data(), q_stride, rows, pk, first.data(), last.data(), n, o, 0.125f, s2.data(), out_stride);
          std::vector<float> alone(static_cast<size_t>(max_keys));
          for (int64_t i = 0; i < rows; ++i) {
            const int64_t a = first[static_cast<size_t>(i)], b = last[static_cast<size_t>(i)];
            slow.scores(q.data() + i * q_stride, k.data() + a * stride, stride, b - a, n, o, 0.125f, alone.data());
            for (int64_t p = 0; p < out_stride; ++p) {
              const size_t at = static_cast<size_t>(i * out_stride + p);
              ASSERT_TRUE(same_bits(s1[at], s2[at])) << block << " " << n << " " << rows << " " << i << " " << p;
              const float want = p >= a && p < b ? alone[static_cast<size_t>(p - a)] : kUntouched;
              ASSERT_TRUE(same_bits(s1[at], want)) << block << " " << n << " " << rows << " " << i << " " << p;
            }
          }
        }
      }
    }
  }
  for (int64_t n : {1, 5, 8, 9, 31, 200, 513}) {
    auto x = f16_values(n, 4.0f, rng);
    if (n > 3) x[2] = -1e4f;  // far below the max: exp underflows to 0
    auto y = x;
    fast.softmax(x.data(), n);
    slow.softmax(y.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_TRUE(same_bits(x[i], y[i])) << n << " " << i;
    double sum = 0.0;
    for (float v : x) sum += static_cast<double>(v);
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  // Rows the vector max must treat as the reference does: masked (-inf) positions, a maximum of
  // -0 next to +0, and the maximum in the scalar tail. (Rows holding a NaN are not compared: the
  // twins' exp polynomials map NaN differently, and such a row is garbage either way.)
  for (int64_t n : {16, 23, 40, 100}) {
    for (int variant = 0; variant < 3; ++variant) {
      auto x = f16_values(n, 1.0f, rng);
      for (auto& v : x) v = -std::fabs(v) - 0.5f;
      if (variant == 0) std::fill(x.begin(), x.begin() + n / 2, -INFINITY);
      if (variant == 1) x[3] = -0.0f, x[static_cast<size_t>(n - 9)] = 0.0f;
      if (variant == 2) x[static_cast<size_t>(n - 1)] = 3.0f;
      auto y = x;
      fast.softmax(x.data(), n);
      slow.softmax(y.data(), n);
      for (int64_t i = 0; i < n; ++i) EXPECT_TRUE(same_bits(x[i], y[i])) << n << " " << variant << " " << i;
    }
  }
  for (int64_t dim : {8, 12, 64, 100}) {
    for (int64_t n : {1, 7, 33, 64, 100, 130, 300}) {  // > 64: several key blocks of the blocked twin
      const int64_t stride = dim + 3;
      const auto w = f16_values(n, 0.1f, rng);
      const auto v = f16_bits(n * stride, 1.0f, rng);
      for (SumOrder o : {SumOrder::kBatch, SumOrder::kSingle}) {
        std::vector<float> o1(static_cast<size_t>(dim)), o2(static_cast<size_t>(dim));
        fast.weighted_sum(w.data(), v.data(), stride, n, dim, o1.data(), o);
        slow.weighted_sum(w.data(), v.data(), stride, n, dim, o2.data(), o);
        for (int64_t d = 0; d < dim; ++d) {
          EXPECT_TRUE(same_bits(o1[d], o2[d])) << dim << " " << n;
          double want = 0.0;
          for (int64_t p = 0; p < n; ++p) want += static_cast<double>(w[p]) * static_cast<double>(fp16_to_f32(v[p * stride + d]));
          EXPECT_NEAR(static_cast<double>(o1[d]), want, 1e-5);
        }
      }
    }
  }
  for (int64_t n : {1, 8, 13, 16, 29, 1536}) {
    auto g = f16_values(n, 3.0f, rng);
    const auto u = f16_values(n, 1.0f, rng);
    g[0] = -100.0f;  // exp overflow branch: silu -> -0
    if (n > 1) g[1] = 100.0f;
    if (n > 2) g[n - 1] = -100.0f;  // the same in a ragged tail
    auto h = g;
    fast.swiglu(g.data(), u.data(), n);
    slow.swiglu(h.data(), u.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_TRUE(same_bits(g[i], h[i])) << n << " " << i;
  }
}

TEST(Numerics, EveryTwinEqualsReferenceBitForBit) {
  const auto twins = numeric_kernel_twins();
  ASSERT_STREQ(twins.front().isa, "scalar");
  for (size_t i = 1; i < twins.size(); ++i) {
    SCOPED_TRACE(twins[i].isa);
    expect_twin_equals_reference(*twins[i].kernels);
  }
  // The table in use is one of them.
  EXPECT_TRUE(std::any_of(twins.begin(), twins.end(), [](const NumericTwin& t) { return t.kernels == &numeric_kernels(); }));
}

TEST(Numerics, RopeTwinsAgreeForBothPairingsAndPartialRotation) {
  const NumericKernels& fast = numeric_kernels();
  const NumericKernels& slow = reference_numeric_kernels();
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> pos(1.0f, 4096.0f);  // position 0 rotates nothing
  for (int64_t head_dim : {64, 128, 256}) {
    // Full rotation, partial rotation, and rotated lengths that leave a scalar tail.
    for (int64_t n_rot : {head_dim, head_dim / 2, int64_t{6}, int64_t{10}, int64_t{18}}) {
      for (bool neox : {false, true}) {
        std::vector<float> cs(static_cast<size_t>(n_rot));
        rope_table(cs.data(), n_rot, static_cast<int64_t>(pos(rng)), 10000.0f, 1.0f);
        auto x = f16_values(head_dim, 2.0f, rng);
        x[0] = 0.0f;  // zero products: the sign of zero must survive as in the reference
        x[1] = -0.0f;
        const auto before = x;
        auto y = x;
        fast.rope(x.data(), cs.data(), n_rot, neox);
        slow.rope(y.data(), cs.data(), n_rot, neox);
        for (int64_t i = 0; i < head_dim; ++i) {
          EXPECT_TRUE(same_bits(x[static_cast<size_t>(i)], y[static_cast<size_t>(i)])) << head_dim << " " << n_rot << " " << neox << " " << i;
        }
        // Dimensions past n_rot are left alone; the rotated ones moved.
        for (int64_t i = n_rot; i < head_dim; ++i) EXPECT_TRUE(same_bits(x[static_cast<size_t>(i)], before[static_cast<size_t>(i)]));
        EXPECT_NE(x[2], before[2]);
      }
    }
  }
}

TEST(Numerics, SumOrderFollowsBatchAndLength) {
  EXPECT_EQ(sum_order_for(1, 64), SumOrder::kSingle);
  EXPECT_EQ(sum_order_for(2, 64), SumOrder::kBatch);
  EXPECT_EQ(sum_order_for(5, 60), SumOrder::kSingle);
}

TEST(Numerics, RoundF16TwinsAgreeIncludingTiesAndSubnormals) {
  const NumericKernels& fast = numeric_kernels();
  const NumericKernels& ref = reference_numeric_kernels();
  std::vector<float> x = {0.0f, -0.0f, 1.0f, 1.0f + 1.0f / 2048.0f, 1.0f + 3.0f / 2048.0f, 65504.0f, 70000.0f,
                          -1e-7f, 6e-8f, 3.14159f, -2.71828f, 1e-5f, 12345.678f};
  for (int i = 0; i < 1000; ++i) x.push_back(static_cast<float>(i - 500) * 0.0371f);
  std::vector<float> a(x.size()), b(x.size());
  fast.round_f16(x.data(), static_cast<int64_t>(x.size()), a.data());
  ref.round_f16(x.data(), static_cast<int64_t>(x.size()), b.data());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(std::memcmp(&a[i], &b[i], sizeof(float)), 0) << "x = " << x[i] << ": " << a[i] << " vs " << b[i];
  }
  // to_f16 (what the KV cache stores) gives the bits of the same rounding.
  std::vector<uint16_t> h1(x.size()), h2(x.size());
  fast.to_f16(x.data(), static_cast<int64_t>(x.size()), h1.data());
  ref.to_f16(x.data(), static_cast<int64_t>(x.size()), h2.data());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(h1[i], h2[i]) << "x = " << x[i];
    const float back = fp16_to_f32(h1[i]);
    EXPECT_EQ(std::memcmp(&back, &b[i], sizeof(float)), 0) << "x = " << x[i];
  }
}

// Values from a Q8_0 KV cache: rows of `dim` values in blocks of 34 bytes, rows paged through a
// permuted block table; masked (zero) weights and a window start are included.
TEST(Numerics, WeightedSumQ8_0TwinsAgreeAndEqualTheDequantizedSum) {
  const NumericKernels& fast = numeric_kernels();
  const NumericKernels& ref = reference_numeric_kernels();
  std::mt19937 rng(7);
  for (int64_t dim : {32, 64, 128, 256}) {
    for (int64_t n : {1, 5, 16, 17, 100, 1100}) {
      const int64_t block_size = 16, blocks = (n + block_size - 1) / block_size;
      const int64_t row_bytes = dim / 32 * static_cast<int64_t>(sizeof(BlockQ8_0));
      std::vector<int32_t> table(static_cast<size_t>(blocks));
      std::iota(table.begin(), table.end(), 0);
      std::shuffle(table.begin(), table.end(), rng);
      std::vector<uint8_t> store(static_cast<size_t>(blocks * block_size * row_bytes));
      std::vector<float> x(static_cast<size_t>(dim));
      std::normal_distribution<float> nd(0.0f, 3.0f);
      const PagedBytes v{store.data(), table.data(), block_size, block_size * row_bytes, row_bytes};
      for (int64_t p = 0; p < n; ++p) {
        for (auto& e : x) e = nd(rng);
        quantize_activations_q8_0(x.data(), reinterpret_cast<BlockQ8_0*>(const_cast<uint8_t*>(v.row(p))), dim);
      }
      std::vector<float> w(static_cast<size_t>(n));
      std::uniform_real_distribution<float> ud(0.0f, 1.0f);
      for (auto& e : w) e = ud(rng) < 0.2f ? 0.0f : ud(rng) / static_cast<float>(n);
      const int64_t first = n / 3;
      std::vector<float> o1(static_cast<size_t>(dim), 99.0f), o2(static_cast<size_t>(dim), -99.0f);
      fast.weighted_sum_q8_0(w.data(), v, first, n, dim, o1.data());
      ref.weighted_sum_q8_0(w.data(), v, first, n, dim, o2.data());
      std::vector<float> row(static_cast<size_t>(dim));
      std::vector<double> exact(static_cast<size_t>(dim), 0.0), mag(static_cast<size_t>(dim), 0.0);
      for (int64_t p = first; p < n; ++p) {
        dequantize_row(DType::Q8_0, v.row(p), row.data(), dim);
        for (int64_t d = 0; d < dim; ++d) {
          const double term = static_cast<double>(w[static_cast<size_t>(p)]) * static_cast<double>(row[static_cast<size_t>(d)]);
          exact[static_cast<size_t>(d)] += term;
          mag[static_cast<size_t>(d)] += std::fabs(term);
        }
      }
      for (int64_t d = 0; d < dim; ++d) {
        const auto i = static_cast<size_t>(d);
        ASSERT_TRUE(same_bits(o1[i], o2[i])) << "dim " << dim << " n " << n << " d " << d << ": " << o1[i] << " vs " << o2[i];
        EXPECT_LE(std::fabs(static_cast<double>(o2[i]) - exact[i]), kQ8WeightedSumRelError * mag[i] + 1e-30) << "dim " << dim << " n " << n << " d " << d;
      }
    }
  }
}

// Keys and values [n, dim] f32 (stride dim + 3, as a widened or strided run), n_rows queries with
// ranges [lo, hi); scores rise along the keys now and then, so the maximum moves many times.
struct OnlineCase {
  int64_t dim, n, n_rows, stride;
  std::vector<float> q, k, v;
  std::vector<int64_t> lo, hi;
  float scale;
  OnlineCase(int64_t dim_, int64_t n_, int64_t rows, std::mt19937& rng) : dim(dim_), n(n_), n_rows(rows), stride(dim_ + 3) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    q.resize(static_cast<size_t>(rows * dim));
    for (auto& x : q) x = nd(rng);
    k.resize(static_cast<size_t>(n * stride));
    v.resize(k.size());
    for (int64_t p = 0; p < n; ++p) {
      const float ramp = 1.0f + 3.0f * static_cast<float>(p % 37) / 37.0f;  // scores grow within each stretch
      for (int64_t d = 0; d < dim; ++d) {
        k[static_cast<size_t>(p * stride + d)] = nd(rng) * ramp;
        v[static_cast<size_t>(p * stride + d)] = nd(rng);
      }
    }
    std::uniform_int_distribution<int64_t> pos(0, n);
    for (int64_t i = 0; i < rows; ++i) {
      int64_t a = pos(rng), b = pos(rng);
      if (i == 0) a = 0, b = n;  // one row sees every key
      lo.push_back(std::min(a, b));
      hi.push_back(std::max(a, b));
    }
    scale = 1.0f / std::sqrt(static_cast<float>(dim));
  }
  // Runs the kernel over the keys split at `cuts` (ascending), one call per piece.
  std::vector<float> run(const NumericKernels& kern, const std::vector<int64_t>& cuts) const {
    std::vector<float> m(static_cast<size_t>(n_rows), -INFINITY), l(static_cast<size_t>(n_rows), 0.0f);
    std::vector<float> acc(static_cast<size_t>(n_rows * dim), 0.0f);
    int64_t p0 = 0;
    for (size_t c = 0; c <= cuts.size(); ++c) {
      const int64_t p1 = c < cuts.size() ? cuts[c] : n;
      std::vector<int64_t> a(lo.size()), b(hi.size());
      for (size_t i = 0; i < lo.size(); ++i) {
        a[i] = std::clamp(lo[i], p0, p1);
        b[i] = std::clamp(hi[i], p0, p1);
      }
      kern.online_attention(q.data(), dim, n_rows, k.data(), v.data(), stride, a.data(), b.data(), dim, scale, m.data(),
                            l.data(), acc.data(), dim);
      p0 = p1;
    }
    for (int64_t i = 0; i < n_rows; ++i) {
      for (int64_t d = 0; d < dim; ++d) {
        if (lo[static_cast<size_t>(i)] < hi[static_cast<size_t>(i)]) acc[static_cast<size_t>(i * dim + d)] /= l[static_cast<size_t>(i)];
      }
    }
    return acc;
  }
};

TEST(Numerics, OnlineAttentionTwinsAgreeForAnySplitAndMatchSoftmax) {
  std::mt19937 rng(11);
  for (const NumericTwin& twin : numeric_kernel_twins()) {
    SCOPED_TRACE(twin.isa);
    for (int64_t dim : {8, 20, 64, 72, 128, 256}) {
      for (int64_t n : {1, 7, 64, 65, 300}) {
        const OnlineCase c(dim, n, 1 + static_cast<int64_t>(rng() % 8), rng);
        const auto whole = c.run(*twin.kernels, {});
        const auto ref = c.run(reference_numeric_kernels(), {});
        std::vector<int64_t> cuts;
        for (int64_t p = 1 + static_cast<int64_t>(rng() % 17); p < n; p += 1 + static_cast<int64_t>(rng() % 70)) cuts.push_back(p);
        const auto split = c.run(*twin.kernels, cuts);
        for (int64_t i = 0; i < c.n_rows; ++i) {
          const int64_t lo = c.lo[static_cast<size_t>(i)], hi = c.hi[static_cast<size_t>(i)];
          if (lo >= hi) continue;
          // softmax(q k * scale) v in double
          std::vector<double> sc(static_cast<size_t>(hi - lo));
          double mx = -INFINITY, sum = 0.0;
          for (int64_t p = lo; p < hi; ++p) {
            double dot = 0.0;
            for (int64_t d = 0; d < dim; ++d) dot += static_cast<double>(c.q[static_cast<size_t>(i * dim + d)]) * static_cast<double>(c.k[static_cast<size_t>(p * c.stride + d)]);
            sc[static_cast<size_t>(p - lo)] = dot * static_cast<double>(c.scale);
            mx = std::max(mx, sc[static_cast<size_t>(p - lo)]);
          }
          for (auto& x : sc) sum += (x = std::exp(x - mx));
          for (int64_t d = 0; d < dim; ++d) {
            double want = 0.0, mag = 0.0;
            for (int64_t p = lo; p < hi; ++p) {
              const double term = sc[static_cast<size_t>(p - lo)] / sum * static_cast<double>(c.v[static_cast<size_t>(p * c.stride + d)]);
              want += term;
              mag += std::fabs(term);
            }
            const auto at = static_cast<size_t>(i * dim + d);
            ASSERT_TRUE(same_bits(whole[at], ref[at])) << "dim " << dim << " n " << n << " row " << i << " d " << d;
            ASSERT_TRUE(same_bits(split[at], whole[at])) << "split: dim " << dim << " n " << n << " row " << i << " d " << d;
            EXPECT_LE(std::fabs(static_cast<double>(whole[at]) - want), kOnlineAttentionRelError * mag) << "dim " << dim << " n " << n << " d " << d;
          }
        }
      }
    }
  }
}

TEST(Numerics, FromF16TwinsWidenExactly) {
  std::vector<uint16_t> h;
  for (uint32_t b = 0; b < 65536; b += 7) h.push_back(static_cast<uint16_t>(b));
  for (const NumericTwin& twin : numeric_kernel_twins()) {
    std::vector<float> out(h.size());
    twin.kernels->from_f16(h.data(), static_cast<int64_t>(h.size()), out.data());
    for (size_t i = 0; i < h.size(); ++i) {
      const float want = fp16_to_f32(h[i]);
      ASSERT_TRUE(same_bits(out[i], want) || (std::isnan(out[i]) && std::isnan(want))) << twin.isa << " " << h[i];
    }
  }
}

}  // namespace
}  // namespace ts
