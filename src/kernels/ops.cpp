#include "kernels/ops.h"

#include <cmath>
#include <vector>

#include "base/error.h"
#include "base/fp16.h"
#include "kernels/packed.h"

namespace ts {

namespace {

// Sum of x[i]^2, each square rounded to float and summed in double, as llama.cpp does (a
// 2048-wide float sum loses digits), but in eight interleaved partial sums: as one chain of
// 2048 dependent double adds it was half of the fused norm-and-quantize pass over a 2048-wide
// row (2.6 µs against 1.3 µs, Zen 4). The partial sums differ from the in-order sum in the last
// bits of a double, which the float the scale is rounded to does not keep.
double sum_squares(const float* x, int64_t n) {
  double s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) s[j] += static_cast<double>(x[i + j] * x[i + j]);
  }
  for (; i < n; ++i) s[i % 8] += static_cast<double>(x[i] * x[i]);
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// rms_scale of x after x += add (add may be null).
float add_rms_scale(float* x, const float* add, int64_t n, float eps) {
  if (add != nullptr) {
    for (int64_t i = 0; i < n; ++i) x[i] += add[i];
  }
  return rms_scale(x, n, eps);
}

}  // namespace

float rms_scale(const float* x, int64_t n, float eps) {
  return 1.0f / std::sqrt(static_cast<float>(sum_squares(x, n) / static_cast<double>(n)) + eps);
}

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  const float scale = rms_scale(x, n, eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void add_rms_norm(float* x, const float* add, const float* weight, float* out, int64_t n, float eps) {
  const float scale = add_rms_scale(x, add, n, eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void add_rms_norm_q8s(float* x, const float* add, const float* weight, BlockQ8S* out, int64_t n, float eps) {
  quantize_q8s_scaled(x, add_rms_scale(x, add, n, eps), weight, out, n);
}

void layer_norm(const float* x, const float* weight, const float* bias, float* out, int64_t n, float eps) {
  // Sums in double, centred values and their squares in float, as llama.cpp's norm does.
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  double sum2 = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = x[i] - mean;
    sum2 += static_cast<double>(out[i] * out[i]);
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum2 / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = out[i] * scale * weight[i] + (bias != nullptr ? bias[i] : 0.0f);
}

void rope_table(float* cos_sin, int64_t n_rot, int64_t pos, float freq_base, float freq_scale,
                const float* freq_factors) {
  // theta_i = pos * base^(-2i/n_rot), accumulated in float by repeated multiplication the way
  // llama.cpp does: last-bit differences would otherwise flip f16 roundings of Q and K.
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
  float theta_base = static_cast<float>(pos);
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    const float ff = freq_factors != nullptr ? freq_factors[i] : 1.0f;
    const float theta = freq_scale * (theta_base / ff);
    theta_base *= theta_scale;
    cos_sin[2 * i] = std::cos(theta);
    cos_sin[2 * i + 1] = std::sin(theta);
  }
}

namespace {

// f16(gelu(x)) for every f16 bit pattern x: 128 KiB, built on first use.
const std::vector<uint16_t>& gelu_f16_table() {
  static const std::vector<uint16_t> table = [] {
    constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    constexpr float kCoef = 0.044715f;
    std::vector<uint16_t> t(size_t{1} << 16);
    for (size_t i = 0; i < t.size(); ++i) {
      const float x = fp16_to_f32(static_cast<uint16_t>(i));
      // The inner 1 + c x^2 as one fused multiply-add: llama.cpp's table is built by code its
      // compiler contracts this way on FMA targets (one entry differs otherwise).
      t[i] = f32_to_fp16(0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * std::fma(kCoef * x, x, 1.0f))));
    }
    return t;
  }();
  return table;
}

}  // namespace

void geglu(float* gate, const float* up, int64_t n) {
  const std::vector<uint16_t>& table = gelu_f16_table();
  for (int64_t i = 0; i < n; ++i) {
    const float x = gate[i];
    const float g = x <= -10.0f ? 0.0f : x >= 10.0f ? x : fp16_to_f32(table[f32_to_fp16(x)]);
    gate[i] = g * up[i];
  }
}

void gelu(float* x, int64_t n) {
  const std::vector<uint16_t>& table = gelu_f16_table();
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = v <= -10.0f ? 0.0f : v >= 10.0f ? v : fp16_to_f32(table[f32_to_fp16(v)]);
  }
}

void add_inplace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace ts
