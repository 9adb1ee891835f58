#include "kernels/ref/dot_ref.h"

#include <cmath>
#include <cstring>

#include "base/fp16.h"
#include "kernels/k_quant_orders.h"
#include "quant/blocks.h"

namespace ts::ref {

// Integer sums are exact; blocks are combined in float in the same order as the GGUF reference
// implementation, so results agree to rounding.

float dot_q4_0_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sumi += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
      sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + kQK / 2];
    }
    sum += static_cast<float>(sumi) * fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d);
  }
  return sum;
}

float dot_q5_0_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint32_t qh = 0;
    std::memcpy(&qh, x[i].qh, sizeof(qh));
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (x[i].qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (x[i].qs[j] >> 4) | static_cast<int>(((qh >> (j + kQK / 2)) & 1u) << 4);
      sumi += (lo - 16) * y[i].qs[j] + (hi - 16) * y[i].qs[j + kQK / 2];
    }
    sum += static_cast<float>(sumi) * fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d);
  }
  return sum;
}

float dot_q4_1_q8_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sumi += (x[i].qs[j] & 0x0F) * y[i].qs[j];
      sumi += (x[i].qs[j] >> 4) * y[i].qs[j + kQK / 2];
    }
    sum += static_cast<float>(sumi) * fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d) +
           fp16_to_f32(x[i].m) * fp16_to_f32(y[i].s);
  }
  return sum;
}

float dot_q8_0_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK; ++j) sumi += x[i].qs[j] * y[i].qs[j];
    sum += static_cast<float>(sumi) * fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d);
  }
  return sum;
}

namespace {

// A Q4_K super-block's integer sums per 64-element step (sub-blocks 2s and 2s + 1): scaled
// quant products in sums[s], mins times activation sums in mins[s]. All exact in int32.
void q4_k_step_sums(const BlockQ4_K& x, const BlockQ8_K* const rows[1], int sums_rows[1][4], int mins_rows[1][4]) {
  const BlockQ8_K& y = *rows[0];
  int* sums = sums_rows[0];
  int* mins = mins_rows[0];
  uint8_t sc[8], mn[8];
  for (int j = 0; j < 4; ++j) {
    sc[j] = x.scales[j] & 63;
    mn[j] = x.scales[j + 4] & 63;
    sc[j + 4] = static_cast<uint8_t>((x.scales[j + 8] & 0xF) | ((x.scales[j] >> 6) << 4));
    mn[j + 4] = static_cast<uint8_t>((x.scales[j + 8] >> 4) | ((x.scales[j + 4] >> 6) << 4));
  }
  for (int s = 0; s < 4; ++s) {
    const uint8_t* q4 = x.qs + 32 * s;  // low nibbles: sub-block 2s, high nibbles: 2s + 1
    const int8_t* q8 = y.qs + 64 * s;
    int lo = 0, hi = 0;
    for (int l = 0; l < 32; ++l) {
      lo += (q4[l] & 0xF) * q8[l];
      hi += (q4[l] >> 4) * q8[l + 32];
    }
    sums[s] = sc[2 * s] * lo + sc[2 * s + 1] * hi;
    mins[s] = mn[2 * s] * (y.bsums[4 * s] + y.bsums[4 * s + 1]) + mn[2 * s + 1] * (y.bsums[4 * s + 2] + y.bsums[4 * s + 3]);
  }
}

// Q6_K quants as stored, value + 32 in [0, 63], in natural element order.
void q6_k_unpack(const BlockQ6_K& x, uint8_t q6[kQKK]) {
  const uint8_t* ql = x.ql;
  const uint8_t* qh = x.qh;
  for (int half = 0; half < 2; ++half) {
    uint8_t* out = q6 + half * 128;
    for (int l = 0; l < 32; ++l) {
      out[l] = static_cast<uint8_t>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4));
      out[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
      out[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      out[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
    ql += 64;
    qh += 32;
  }
}

// Lane l of llama.cpp's eight-lane Q6_K sum: elements 4l..4l+3 of every 32-element run, less
// 32 x (scale x activation sum) of groups 2l and 2l + 1. The eight lanes sum to the block's total.
int q6_k_lane_sum(const BlockQ6_K& x, const BlockQ8_K& y, const uint8_t q6[kQKK], int l) {
  int sum = 0;
  for (int run = 0; run < kQKK / 32; ++run) {
    for (int j = 0; j < 4; ++j) {
      const int e = run * 32 + 4 * l + j;
      sum += x.scales[e / 16] * (q6[e] * y.qs[e]);
    }
  }
  return sum - 32 * (x.scales[2 * l] * y.bsums[2 * l] + x.scales[2 * l + 1] * y.bsums[2 * l + 1]);
}

}  // namespace

float dot_q4_k_q8_k(int64_t n, const void* w, const void* a) {
  return q4_k_dot<q4_k_step_sums, fp16_to_f32, false>(n, w, a);
}

float dot_q4_k_q8_k_group4(int64_t n, const void* w, const void* a) {
  return q4_k_dot<q4_k_step_sums, fp16_to_f32, true>(n, w, a);
}

float dot_q6_k_q8_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float acc[8] = {};
  for (int64_t i = 0; i < n / kQKK; ++i) {
    uint8_t q6[kQKK];
    q6_k_unpack(x[i], q6);
    const float d = y[i].d * fp16_to_f32(x[i].d);
    for (int l = 0; l < 8; ++l) acc[l] = std::fma(d, static_cast<float>(q6_k_lane_sum(x[i], y[i], q6, l)), acc[l]);
  }
  float t[4];
  for (int l = 0; l < 4; ++l) t[l] = acc[l + 4] + acc[l];
  return (t[0] + t[2]) + (t[1] + t[3]);
}

float dot_q6_k_q8_k_wide(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    uint8_t q6[kQKK];
    q6_k_unpack(x[i], q6);
    int sum = 0;
    for (int l = 0; l < 8; ++l) sum += q6_k_lane_sum(x[i], y[i], q6, l);
    acc = std::fma(fp16_to_f32(x[i].d) * static_cast<float>(sum), y[i].d, acc);
  }
  return acc;
}

namespace {
// Eight partial sums let the compiler keep independent vector lanes without -ffast-math.
template <typename Load>
float dot_float_rows(int64_t n, const float* a, Load load) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += load(i + k) * a[i + k];
  }
  float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) sum += load(i) * a[i];
  return sum;
}
}  // namespace

float dot_f32_f32(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const float*>(w);
  return dot_float_rows(n, static_cast<const float*>(a), [x](int64_t i) { return x[i]; });
}

float dot_f16_f32(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  return dot_float_rows(n, static_cast<const float*>(a), [x](int64_t i) { return fp16_to_f32(x[i]); });
}

float dot_bf16_f32(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  return dot_float_rows(n, static_cast<const float*>(a), [x](int64_t i) { return bf16_to_f32(x[i]); });
}

}  // namespace ts::ref
