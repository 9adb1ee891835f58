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

// StepSums(x, y, sums, mins) fills, for each of NR activation rows y[c] sharing the weight block
// x, its scaled quant sums and mins x activation sums per 64-element step; F16 widens an f16 scale.
template <int NR>
using Q4KStepSums = void (*)(const BlockQ4_K& x, const BlockQ8_K* const y[NR], int sums[NR][4], int mins[NR][4]);
using F16ToF32 = float (*)(uint16_t h);

// out[c] for NR activation rows a_stride bytes apart (one row: out[0], stride unused).
template <int NR, Q4KStepSums<NR> StepSums, F16ToF32 F16, bool kPerStep>
void q4_k_dot_rows(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_K* y[NR];
  for (int c = 0; c < NR; ++c) y[c] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + c * a_stride);
  float acc[NR] = {}, acc_min[NR] = {};
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const BlockQ8_K* yi[NR];
    for (int c = 0; c < NR; ++c) yi[c] = y[c] + i;
    int sums[NR][4], mins[NR][4];
    StepSums(x[i], yi, sums, mins);
    const float dx = F16(x[i].d), dminx = F16(x[i].dmin);
    for (int c = 0; c < NR; ++c) {
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
  for (int c = 0; c < NR; ++c) out[c] = acc[c] - acc_min[c];
}

// The single-row form (VecDotFn).
template <Q4KStepSums<1> StepSums, F16ToF32 F16, bool kPerStep>
float q4_k_dot(int64_t n, const void* w, const void* a) {
  float out;
  q4_k_dot_rows<1, StepSums, F16, kPerStep>(n, w, a, 0, &out);
  return out;
}

}  // namespace
}  // namespace ts
