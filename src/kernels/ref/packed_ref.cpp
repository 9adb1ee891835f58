// Scalar twins of the packed kernels. Integer block sums are exact; the float steps (scale
// product, one fused multiply-add per block and row) are the ones the SIMD kernels perform, in
// the same order, so the fast kernels must match these bit for bit.
#include <cmath>
#include <cstring>

#include "base/fp16.h"
#include "kernels/packed.h"

namespace ts::ref {

namespace {

// Sum over one block of (unsigned nibble of row r) * activation quant.
int32_t nibble_dot(const uint8_t* qs, int r, const int8_t* y) {
  int32_t s = 0;
  for (int j = 0; j < 4; ++j) {
    for (int m = 0; m < 4; ++m) {
      const uint8_t byte = qs[32 * j + 4 * r + m];
      s += (byte & 0x0F) * y[4 * j + m] + (byte >> 4) * y[16 + 4 * j + m];
    }
  }
  return s;
}

}  // namespace

void tile_q4_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out) {
  const auto* w = static_cast<const BlockQ4_0x8*>(group);
  for (int c = 0; c < n_cols; ++c) {
    const BlockQ8S* a = act + c * act_stride;
    for (int r = 0; r < kPackRows; ++r) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const int32_t s = nibble_dot(w[b].qs, r, a[b].qs) - 8 * a[b].sum;
        acc = std::fma(static_cast<float>(s), fp16_to_f32(w[b].d[r]) * a[b].d, acc);
      }
      out[c * kPackRows + r] = acc;
    }
  }
}

// Q4_1 and Q8_0: 8 float lane accumulators per row (lane = 4 consecutive elements of the
// block), summed in llama.cpp's tree at the end; see the AVX2 kernels for why.
static float lane_tree(const float* l) { return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7])); }

void tile_q4_1(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out) {
  const auto* w = static_cast<const BlockQ4_1x8*>(group);
  for (int c = 0; c < n_cols; ++c) {
    const BlockQ8S* a = act + c * act_stride;
    for (int r = 0; r < kPackRows; ++r) {
      float lanes[8] = {};
      float summs = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const float scale = fp16_to_f32(w[b].d[r]) * a[b].d;
        for (int j = 0; j < 4; ++j) {
          int32_t lo = 0, hi = 0;
          for (int m = 0; m < 4; ++m) {
            const uint8_t byte = w[b].qs[32 * j + 4 * r + m];
            lo += (byte & 0x0F) * a[b].qs[4 * j + m];
            hi += (byte >> 4) * a[b].qs[16 + 4 * j + m];
          }
          lanes[j] = std::fma(static_cast<float>(lo), scale, lanes[j]);
          lanes[4 + j] = std::fma(static_cast<float>(hi), scale, lanes[4 + j]);
        }
        const float ms = fp16_to_f32(w[b].m[r]) * a[b].s;
        summs = summs + ms;
      }
      out[c * kPackRows + r] = lane_tree(lanes) + summs;
    }
  }
}

void tile_q8_0(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out) {
  const auto* w = static_cast<const BlockQ8_0x8*>(group);
  for (int c = 0; c < n_cols; ++c) {
    const BlockQ8S* a = act + c * act_stride;
    for (int r = 0; r < kPackRows; ++r) {
      float lanes[8] = {};
      for (int64_t b = 0; b < nb; ++b) {
        const float scale = fp16_to_f32(w[b].d[r]) * a[b].d;
        for (int st = 0; st < 8; ++st) {
          int32_t s = 0;
          for (int m = 0; m < 4; ++m) s += w[b].qs[32 * st + 4 * r + m] * a[b].qs[4 * st + m];
          lanes[st] = std::fma(static_cast<float>(s), scale, lanes[st]);
        }
      }
      out[c * kPackRows + r] = lane_tree(lanes);
    }
  }
}

// Q8_0 in the Q4_0 twin's order: each block's 32 products summed exactly, one fused
// multiply-add per block and row.
void tile_q8_0_exact(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out) {
  const auto* w = static_cast<const BlockQ8_0x8*>(group);
  for (int c = 0; c < n_cols; ++c) {
    const BlockQ8S* a = act + c * act_stride;
    for (int r = 0; r < kPackRows; ++r) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        int32_t s = 0;
        for (int st = 0; st < 8; ++st) {
          for (int m = 0; m < 4; ++m) s += w[b].qs[32 * st + 4 * r + m] * a[b].qs[4 * st + m];
        }
        acc = std::fma(static_cast<float>(s), fp16_to_f32(w[b].d[r]) * a[b].d, acc);
      }
      out[c * kPackRows + r] = acc;
    }
  }
}

// Q4_1 in the Q4_0 twin's order: each block's 32 products summed exactly, one fused
// multiply-add per block and row; the minimum's term per block as in llama.cpp's order.
void tile_q4_1_exact(int64_t nb, const void* group, const BlockQ8S* act, int64_t act_stride, int n_cols, float* out) {
  const auto* w = static_cast<const BlockQ4_1x8*>(group);
  for (int c = 0; c < n_cols; ++c) {
    const BlockQ8S* a = act + c * act_stride;
    for (int r = 0; r < kPackRows; ++r) {
      float acc = 0.0f;
      float summs = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        acc = std::fma(static_cast<float>(nibble_dot(w[b].qs, r, a[b].qs)), fp16_to_f32(w[b].d[r]) * a[b].d, acc);
        const float ms = fp16_to_f32(w[b].m[r]) * a[b].s;
        summs = summs + ms;
      }
      out[c * kPackRows + r] = acc + summs;
    }
  }
}

void quantize_q8s_scaled(const float* x, float scale, const float* weight, BlockQ8S* y, int64_t n) {
  float block[kQK];  // [32] one block of the normed row
  for (int64_t b = 0; b < n / kQK; ++b) {
    for (int j = 0; j < kQK; ++j) block[j] = x[b * kQK + j] * scale * weight[b * kQK + j];
    quantize_row_q8s(block, y + b, kQK);
  }
}

}  // namespace ts::ref
