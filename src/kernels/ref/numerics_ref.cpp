#include "kernels/ref/numerics_ref.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/fp16.h"
#include "quant/blocks.h"

namespace ts::ref {

namespace {

// (l, l+4) pairs, then (0+2) + (1+3): how an 8-lane register is summed.
float reduce8_batch(const float* a) {
  float t[4];
  for (int l = 0; l < 4; ++l) t[l] = a[l + 4] + a[l];
  return (t[0] + t[2]) + (t[1] + t[3]);
}

// Four 8-lane accumulators: (0+2), (1+3), then together, then halves, then pairwise adds.
float reduce32_single(float acc[4][8]) {
  float s[8];
  for (int l = 0; l < 8; ++l) s[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
  float t[4];
  for (int l = 0; l < 4; ++l) t[l] = s[l] + s[l + 4];
  return (t[0] + t[1]) + (t[2] + t[3]);
}

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

}  // namespace

float exp_poly(float x) {
  // exp(x) = 2^n * e^b with n = round(x / ln 2), b = x - n ln 2 (ln 2 split in two parts), and
  // e^b - 1 from a degree-5 polynomial; 2^n is built in the exponent bits.
  const float shift = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, shift);
  const float n = z - shift;
  if (std::fabs(n) > 126.0f) return n > 0.0f ? INFINITY : 0.0f;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const float k = bits_to_float((float_to_bits(z) << 23) + float_to_bits(1.0f));
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                                    std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                           u, 0x1.ffffecp-1f * b);
  return std::fma(j, k, k);
}

float attn_dot(const float* a, const uint16_t* b16, int64_t n, SumOrder order) {
  auto b = [b16](int64_t i) { return fp16_to_f32(b16[i]); };
  if (order == SumOrder::kBatch) {
    float acc[8] = {};
    for (int64_t i = 0; i < n; i += 8) {
      for (int l = 0; l < 8; ++l) acc[l] = std::fma(a[i + l], b(i + l), acc[l]);
    }
    return reduce8_batch(acc);
  }
  float acc[4][8] = {};
  const int64_t full = n / 32 * 32;
  for (int64_t i = 0; i < full; i += 32) {
    for (int j = 0; j < 4; ++j) {
      for (int l = 0; l < 8; ++l) acc[j][l] = std::fma(a[i + 8 * j + l], b(i + 8 * j + l), acc[j][l]);
    }
  }
  double sum = reduce32_single(acc);
  for (int64_t i = full; i < n; ++i) sum += static_cast<double>(a[i] * b(i));
  return static_cast<float>(sum);
}

void attn_scores(const float* q, const uint16_t* k, int64_t k_stride, int64_t n_keys, int64_t n, SumOrder order, float scale,
                 float* out) {
  for (int64_t p = 0; p < n_keys; ++p) out[p] = attn_dot(q, k + p * k_stride, n, order) * scale;
}

void attn_scores_rows(const float* q, int64_t q_stride, int64_t n_rows, const PagedRows& k, const int64_t* first_key,
                      const int64_t* n_keys, int64_t n, SumOrder order, float scale, float* out, int64_t out_stride) {
  scores_rows_by_runs(attn_scores, q, q_stride, n_rows, k, first_key, n_keys, n, order, scale, out, out_stride);
}

void attn_softmax(float* x, int64_t n_valid) {
  const float max = *std::max_element(x, x + n_valid);
  double sum = 0.0;
  for (int64_t i = 0; i < n_valid; i += 8) {
    float e[8] = {};
    for (int l = 0; l < 8 && i + l < n_valid; ++l) {
      e[l] = exp_poly(x[i + l] - max);
      x[i + l] = e[l];
    }
    sum += static_cast<double>(reduce8_batch(e));
  }
  const auto scale = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n_valid; ++i) x[i] *= scale;
}

namespace {
// One row: acc slot p % 8 (batch order) or p % 32 (single-row order) per output column.
template <typename RowAt>
void weighted_sum_rows(const float* w, RowAt row_at, int64_t n, int64_t dim, float* out, SumOrder order) {
  for (int64_t d = 0; d < dim; ++d) {
    if (order == SumOrder::kBatch) {
      float acc[8] = {};
      for (int64_t p = 0; p < n; ++p) acc[p % 8] = std::fma(w[p], fp16_to_f32(row_at(p)[d]), acc[p % 8]);
      out[d] = reduce8_batch(acc);
    } else {
      float acc[4][8] = {};
      for (int64_t p = 0; p < n; ++p) {
        float& a = acc[(p % 32) / 8][p % 8];
        a = std::fma(w[p], fp16_to_f32(row_at(p)[d]), a);
      }
      out[d] = reduce32_single(acc);
    }
  }
}
}  // namespace

void attn_weighted_sum(const float* w, const uint16_t* v, int64_t v_stride, int64_t n, int64_t dim, float* out,
                       SumOrder order) {
  weighted_sum_rows(w, [&](int64_t p) { return v + p * v_stride; }, n, dim, out, order);
}

void attn_weighted_sums(const float* w, int64_t w_stride, const int64_t* n_keys, int64_t n_rows, const PagedRows& v,
                        int64_t dim, float* out, int64_t out_stride, SumOrder order) {
  for (int64_t i = 0; i < n_rows; ++i) {
    weighted_sum_rows(w + i * w_stride, [&](int64_t p) { return v.row(p); }, n_keys[i], dim, out + i * out_stride, order);
  }
}

void weighted_sum_q8_0(const float* w, const PagedBytes& v, int64_t first, int64_t n, int64_t dim, float* out) {
  std::fill(out, out + dim, 0.0f);
  for (int64_t p = first; p < n; ++p) {
    if (w[p] == 0.0f) continue;  // masked or underflowed: adds nothing
    const auto* blocks = reinterpret_cast<const BlockQ8_0*>(v.row(p));
    for (int64_t b = 0; b < dim / kQK; ++b) {
      const float s = w[p] * fp16_to_f32(blocks[b].d);
      for (int i = 0; i < kQK; ++i) {
        float& o = out[b * kQK + i];
        o = std::fma(s, static_cast<float>(blocks[b].qs[i]), o);
      }
    }
  }
}

void online_attention(const float* q, int64_t q_stride, int64_t n_rows, const float* k, const float* v, int64_t kv_stride,
                      const int64_t* lo, const int64_t* hi, int64_t dim, float scale, float* m, float* l, float* acc,
                      int64_t acc_stride) {
  const int64_t whole = dim / 8 * 8;
  for (int64_t i = 0; i < n_rows; ++i) {
    const float* qi = q + i * q_stride;
    float* a = acc + i * acc_stride;
    for (int64_t p = lo[i]; p < hi[i]; ++p) {
      const float* kp = k + p * kv_stride;
      float lanes[8] = {};
      for (int64_t d = 0; d < whole; ++d) lanes[d % 8] = std::fma(qi[d], kp[d], lanes[d % 8]);
      float s = reduce8_batch(lanes);
      for (int64_t d = whole; d < dim; ++d) s = std::fma(qi[d], kp[d], s);
      s *= scale;
      if (s > m[i]) {
        const float c = exp_poly(m[i] - s);  // 0 at the first key (m = -inf)
        m[i] = s;
        for (int64_t d = 0; d < dim; ++d) a[d] *= c;
        l[i] *= c;
      }
      const float e = exp_poly(s - m[i]);
      const float* vp = v + p * kv_stride;
      for (int64_t d = 0; d < dim; ++d) a[d] = std::fma(e, vp[d], a[d]);
      l[i] += e;
    }
  }
}

void from_f16(const uint16_t* in, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_f32(in[i]);
}

void swiglu(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + exp_poly(0.0f - gate[i])) * up[i];
}

void round_f16(const float* in, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_f32(f32_to_fp16(in[i]));
}

void to_f16(const float* in, int64_t n, uint16_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_fp16(in[i]);
}

void rope(float* head, const float* cos_sin, int64_t n_rot, bool neox) { rope_from(head, cos_sin, 0, n_rot, neox); }

void rope_from(float* head, const float* cos_sin, int64_t first, int64_t n_rot, bool neox) {
  const int64_t half = n_rot / 2;
  for (int64_t i = first; i < half; ++i) {
    const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
    const int64_t a = neox ? i : 2 * i;
    const int64_t b = neox ? i + half : 2 * i + 1;
    const float x0 = head[a], x1 = head[b];
    // Fused multiply-adds with this exact grouping reproduce llama.cpp's rotated values bit for
    // bit (its compiler contracts the expressions this way).
    head[a] = std::fma(x0, c, -(x1 * s));
    head[b] = std::fma(x0, s, x1 * c);
  }
}

}  // namespace ts::ref
