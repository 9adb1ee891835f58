#include "kernels/ref/dot_ref.h"

#include <cstring>

#include "base/fp16.h"
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

float dot_q4_k_q8_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const uint8_t* q4 = x[i].qs;
    const int8_t* q8 = y[i].qs;
    int sumi = 0, summ = 0;
    for (int group = 0; group < 4; ++group) {
      for (int half = 0; half < 2; ++half) {
        const int j = 2 * group + half;
        uint8_t sc = 0, mn = 0;
        if (j < 4) {
          sc = x[i].scales[j] & 63;
          mn = x[i].scales[j + 4] & 63;
        } else {
          sc = static_cast<uint8_t>((x[i].scales[j + 4] & 0xF) | ((x[i].scales[j - 4] >> 6) << 4));
          mn = static_cast<uint8_t>((x[i].scales[j + 4] >> 4) | ((x[i].scales[j] >> 6) << 4));
        }
        int s = 0;
        for (int l = 0; l < 32; ++l) {
          const int q = half == 0 ? (q4[l] & 0xF) : (q4[l] >> 4);
          s += q * q8[j * 32 + l];
        }
        sumi += sc * s;
        summ += mn * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
      }
      q4 += 32;
    }
    sum += y[i].d * (fp16_to_f32(x[i].d) * static_cast<float>(sumi) -
                     fp16_to_f32(x[i].dmin) * static_cast<float>(summ));
  }
  return sum;
}

float dot_q6_k_q8_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    int8_t q6[kQKK];  // unpacked to [-32, 31] in natural element order
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    for (int half = 0; half < 2; ++half) {
      int8_t* out = q6 + half * 128;
      for (int l = 0; l < 32; ++l) {
        out[l] = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        out[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        out[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        out[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
      ql += 64;
      qh += 32;
    }
    int sumi = 0;
    for (int g = 0; g < kQKK / 16; ++g) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += q6[g * 16 + l] * y[i].qs[g * 16 + l];
      sumi += x[i].scales[g] * s;
    }
    sum += fp16_to_f32(x[i].d) * y[i].d * static_cast<float>(sumi);
  }
  return sum;
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
