#pragma once
// llama.cpp's float steps for the Q4_K dot product, in the two orders it uses (see RowContext in
// kernels/dtype_table.h), over integer sums that each ISA's kernel computes its own way:
//   row kernel:    acc += sums(block) * (d_w * d_a), acc_min likewise, per super-block
//   4-row kernel:  the same per 64-element step (four per super-block)
// and acc - acc_min at the end. The integer sums are exact, so twins that share these steps
// agree bit for bit.
//
// Internal linkage on purpose: the ISA files include this under their own target flags, and each
// must keep its own copy (one shared inline copy could carry FMA instructions into the scalar path).
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "quant/blocks.h"

namespace ts {
namespace {  // NOLINT(cert-dcl59-cpp,google-build-namespaces): one copy per ISA file, see above

// StepSums(x, y, sums, mins) fills a super-block's scaled quant sums and mins x activation sums
// per 64-element step; F16 widens an f16 scale.
using Q4KStepSums = void (*)(const BlockQ4_K& x, const BlockQ8_K& y, int sums[4], int mins[4]);
using F16ToF32 = float (*)(uint16_t h);

template <Q4KStepSums StepSums, F16ToF32 F16, bool kPerStep>
float q4_k_dot_in_order(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float acc = 0.0f, acc_min = 0.0f;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    int sums[4], mins[4];
    StepSums(x[i], y[i], sums, mins);
    const float d = F16(x[i].d) * y[i].d, dmin = F16(x[i].dmin) * y[i].d;
    if constexpr (kPerStep) {
      for (int s = 0; s < 4; ++s) {
        acc = std::fma(static_cast<float>(sums[s]), d, acc);
        acc_min = std::fma(static_cast<float>(mins[s]), dmin, acc_min);
      }
    } else {
      acc = std::fma(static_cast<float>(sums[0] + sums[1] + sums[2] + sums[3]), d, acc);
      acc_min = std::fma(static_cast<float>(mins[0] + mins[1] + mins[2] + mins[3]), dmin, acc_min);
    }
  }
  return acc - acc_min;
}

// The same for four activation rows (a_stride bytes apart) sharing the weight row: StepSums4
// fills sums[row][step] and mins[row][step] with the weights unpacked once.
using Q4KStepSums4 = void (*)(const BlockQ4_K& x, const BlockQ8_K* const y[4], int sums[4][4], int mins[4][4]);

template <Q4KStepSums4 StepSums4, F16ToF32 F16, bool kPerStep>
void q4_k_dot4_in_order(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_K* y[4];
  for (int c = 0; c < 4; ++c) y[c] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + c * a_stride);
  float acc[4] = {}, acc_min[4] = {};
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const BlockQ8_K* yi[4] = {y[0] + i, y[1] + i, y[2] + i, y[3] + i};
    int sums[4][4], mins[4][4];
    StepSums4(x[i], yi, sums, mins);
    const float dx = F16(x[i].d), dminx = F16(x[i].dmin);
    for (int c = 0; c < 4; ++c) {
      const float d = dx * yi[c]->d, dmin = dminx * yi[c]->d;
      if constexpr (kPerStep) {
        for (int s = 0; s < 4; ++s) {
          acc[c] = std::fma(static_cast<float>(sums[c][s]), d, acc[c]);
          acc_min[c] = std::fma(static_cast<float>(mins[c][s]), dmin, acc_min[c]);
        }
      } else {
        acc[c] = std::fma(static_cast<float>(sums[c][0] + sums[c][1] + sums[c][2] + sums[c][3]), d, acc[c]);
        acc_min[c] = std::fma(static_cast<float>(mins[c][0] + mins[c][1] + mins[c][2] + mins[c][3]), dmin, acc_min[c]);
      }
    }
  }
  for (int c = 0; c < 4; ++c) out[c] = acc[c] - acc_min[c];
}

}  // namespace
}  // namespace ts
