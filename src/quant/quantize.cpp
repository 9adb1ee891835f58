#include "quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "base/fp16.h"

namespace ts {

namespace {

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(x[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[i * kQK + j] = static_cast<float>((x[i].qs[j] & 0x0F) - 8) * d;
      y[i * kQK + j + kQK / 2] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(x[i].d);
    const float m = fp16_to_f32(x[i].m);
    for (int j = 0; j < kQK / 2; ++j) {
      y[i * kQK + j] = static_cast<float>(x[i].qs[j] & 0x0F) * d + m;
      y[i * kQK + j + kQK / 2] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(x[i].d);
    uint32_t qh = 0;
    std::memcpy(&qh, x[i].qh, sizeof(qh));
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (x[i].qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (x[i].qs[j] >> 4) | static_cast<int>(((qh >> (j + kQK / 2)) & 1u) << 4);
      y[i * kQK + j] = static_cast<float>(lo - 16) * d;
      y[i * kQK + j + kQK / 2] = static_cast<float>(hi - 16) * d;
    }
  }
}

void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(x[i].d);
    for (int j = 0; j < kQK; ++j) y[i * kQK + j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(x[i].d);
    const float dmin = fp16_to_f32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    float* out = y + i * kQKK;
    for (int group = 0; group < 4; ++group) {  // 64 elements: two sub-blocks share 32 bytes
      uint8_t sc = 0, mn = 0;
      q4_k_scale_min(2 * group, x[i].scales, &sc, &mn);
      const float d1 = d * sc, m1 = dmin * mn;
      q4_k_scale_min(2 * group + 1, x[i].scales, &sc, &mn);
      const float d2 = d * sc, m2 = dmin * mn;
      for (int l = 0; l < 32; ++l) out[l] = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) out[l + 32] = d2 * static_cast<float>(q[l] >> 4) - m2;
      out += 64;
      q += 32;
    }
  }
}

void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    float* out = y + i * kQKK;
    for (int half = 0; half < 2; ++half) {  // 128 elements from 64 ql bytes and 32 qh bytes
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        out[l] = d * sc[is + 0] * static_cast<float>(q1);
        out[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
        out[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
        out[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
      }
      out += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

void check_multiple(int64_t n, int block, const char* what) {
  if (n % block != 0) fail("{}: row length {} is not a multiple of {}", what, n, block);
}

}  // namespace

float block_amax(const float* b) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(b[j]));
  return amax;
}

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::F16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::Q4_0:
      check_multiple(n, kQK, "q4_0");
      return dequantize_q4_0(static_cast<const BlockQ4_0*>(src), dst, n / kQK);
    case DType::Q4_1:
      check_multiple(n, kQK, "q4_1");
      return dequantize_q4_1(static_cast<const BlockQ4_1*>(src), dst, n / kQK);
    case DType::Q5_0:
      check_multiple(n, kQK, "q5_0");
      return dequantize_q5_0(static_cast<const BlockQ5_0*>(src), dst, n / kQK);
    case DType::Q8_0:
      check_multiple(n, kQK, "q8_0");
      return dequantize_q8_0(static_cast<const BlockQ8_0*>(src), dst, n / kQK);
    case DType::Q4_K:
      check_multiple(n, kQKK, "q4_k");
      return dequantize_q4_k(static_cast<const BlockQ4_K*>(src), dst, n / kQKK);
    case DType::Q6_K:
      check_multiple(n, kQKK, "q6_k");
      return dequantize_q6_k(static_cast<const BlockQ6_K*>(src), dst, n / kQKK);
    default:
      fail("dequantize: tensor type {} is not supported", dtype_name(type));
  }
}

namespace {

// The block's value of largest magnitude, with its sign (the first such value on ties).
float signed_absmax(const float* b) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    if (std::fabs(b[j]) > amax) {
      amax = std::fabs(b[j]);
      max = b[j];
    }
  }
  return max;
}

}  // namespace

void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n) {
  check_multiple(n, kQK, "q4_0");
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* b = x + i * kQK;
    // The scale carries the sign of the largest-magnitude value so that it maps to -8 exactly.
    const float d = signed_absmax(b) / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = std::min(15, static_cast<int>(static_cast<int8_t>(b[j] * id + 8.5f)));
      const int hi = std::min(15, static_cast<int>(static_cast<int8_t>(b[j + kQK / 2] * id + 8.5f)));
      y[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void quantize_row_q5_0(const float* x, BlockQ5_0* y, int64_t n) {
  check_multiple(n, kQK, "q5_0");
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* b = x + i * kQK;
    // As Q4_0: the signed largest-magnitude value maps to -16 exactly.
    const float d = signed_absmax(b) / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = std::min(31, static_cast<int>(static_cast<int8_t>(b[j] * id + 16.5f)));
      const int hi = std::min(31, static_cast<int>(static_cast<int8_t>(b[j + kQK / 2] * id + 16.5f)));
      y[i].qs[j] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
      qh |= static_cast<uint32_t>((lo >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((hi >> 4) & 1) << (j + kQK / 2);
    }
    std::memcpy(y[i].qh, &qh, sizeof(qh));
  }
}

void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t n) {
  check_multiple(n, kQK, "q4_1");
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* b = x + i * kQK;
    float lo = b[0], hi = b[0];
    for (int j = 1; j < kQK; ++j) {
      lo = std::min(lo, b[j]);
      hi = std::max(hi, b[j]);
    }
    const float d = (hi - lo) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    y[i].m = f32_to_fp16(lo);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>((b[j] - lo) * id + 0.5f)));
      const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>((b[j + kQK / 2] - lo) * id + 0.5f)));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  check_multiple(n, kQK, "q8_0");
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* b = x + i * kQK;
    const float amax = block_amax(b);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    for (int j = 0; j < kQK; ++j) y[i].qs[j] = static_cast<int8_t>(std::round(b[j] * id));
  }
}

// Activations (Q8_0 as a dot partner, Q8_1, Q8_K) are quantized the way llama.cpp's CPU
// backend does at run time: scale 127/amax and round half to even. One flipped tie moves a
// whole block by a step, which shows up as a measurable logit difference against it.
void quantize_activations_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  check_multiple(n, kQK, "q8_0");
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* b = x + i * kQK;
    const float amax = block_amax(b);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    y[i].d = f32_to_fp16(amax / 127.0f);
    for (int j = 0; j < kQK; ++j) y[i].qs[j] = static_cast<int8_t>(std::nearbyint(b[j] * id));
  }
}

void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n) {
  check_multiple(n, kQK, "q8_1");
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* b = x + i * kQK;
    const float amax = block_amax(b);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
      y[i].qs[j] = static_cast<int8_t>(std::nearbyint(b[j] * id));
      sum += y[i].qs[j];
    }
    y[i].d = f32_to_fp16(d);
    y[i].s = f32_to_fp16(static_cast<float>(sum) * d);
  }
}

// The scale follows the signed extreme (its first occurrence), so that value maps to -127 and
// the opposite side may reach +128, which is clamped to 127.
void quantize_row_q8_k(const float* x, BlockQ8_K* y, int64_t n) {
  check_multiple(n, kQKK, "q8_k");
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float* b = x + i * kQKK;
    float amax = 0.0f, extreme = 0.0f;
    for (int j = 0; j < kQKK; ++j) {
      if (std::fabs(b[j]) > amax) {
        amax = std::fabs(b[j]);
        extreme = b[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.0f / extreme;
    for (int j = 0; j < kQKK; ++j) {
      y[i].qs[j] = static_cast<int8_t>(std::min(127, static_cast<int>(std::nearbyint(iscale * b[j]))));
    }
    for (int g = 0; g < kQKK / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += y[i].qs[g * 16 + j];
      y[i].bsums[g] = static_cast<int16_t>(sum);
    }
    y[i].d = 1.0f / iscale;
  }
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
  switch (type) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::F16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_fp16(src[i]);
      return;
    }
    case DType::BF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::Q4_0: return quantize_row_q4_0(src, static_cast<BlockQ4_0*>(dst), n);
    case DType::Q4_1: return quantize_row_q4_1(src, static_cast<BlockQ4_1*>(dst), n);
    case DType::Q5_0: return quantize_row_q5_0(src, static_cast<BlockQ5_0*>(dst), n);
    case DType::Q8_0: return quantize_row_q8_0(src, static_cast<BlockQ8_0*>(dst), n);
    case DType::Q8_1: return quantize_row_q8_1(src, static_cast<BlockQ8_1*>(dst), n);
    case DType::Q8_K: return quantize_row_q8_k(src, static_cast<BlockQ8_K*>(dst), n);
    default:
      fail("quantize: no quantizer for type {}", dtype_name(type));
  }
}

void quantize_activations(DType type, const float* src, void* dst, int64_t n) {
  if (type == DType::Q8_0) return quantize_activations_q8_0(src, static_cast<BlockQ8_0*>(dst), n);
  quantize_row(type, src, dst, n);
}

}  // namespace ts
