#pragma once
// Elementwise and normalisation ops of the transformer blocks (scalar reference).
#include <cstdint>

#include "quant/repack.h"

namespace ts {

// 1 / sqrt(mean(x^2) + eps): the factor rms_norm scales x by (squares in float, summed in double).
float rms_scale(const float* x, int64_t n, float eps);
// out = x * rms_scale(x) * weight
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);
// x += add (a residual add; skipped when add is null), then out = rms_norm(x). Same bits as
// add_inplace then rms_norm.
void add_rms_norm(float* x, const float* add, const float* weight, float* out, int64_t n, float eps);
// add_rms_norm with the normed row quantized for the packed products (quantize_q8s, n / 32
// blocks) instead of stored as floats: the scaled values go from registers into int8. Same bits
// as add_rms_norm then quantize_q8s.
void add_rms_norm_q8s(float* x, const float* add, const float* weight, BlockQ8S* out, int64_t n, float eps);

// Rotary embedding in two steps, so all heads of a token share one table ([n_rot/2, 2] cos, sin).
// freq_factors (optional, [n_rot/2]) divide each frequency, as Llama 3.1-style scaling stores them.
void rope_table(float* cos_sin, int64_t n_rot, int64_t pos, float freq_base, float freq_scale,
                const float* freq_factors = nullptr);
// (The rotation itself is NumericKernels::rope, kernels/numerics.h.)

// out = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias (bias may be null)
void layer_norm(const float* x, const float* weight, const float* bias, float* out, int64_t n, float eps);

// x += y
void add_inplace(float* x, const float* y, int64_t n);

// gate[i] = gelu(gate[i]) * up[i] with the tanh approximation of GELU. Evaluated as llama.cpp's
// CPU backend does: the input rounded to f16 and the result looked up in a table of f16 values
// (inputs below -10 give 0, above 10 the input), so Gemma's FFN matches it closely.
void geglu(float* gate, const float* up, int64_t n);
// x[i] = gelu(x[i]), evaluated as geglu evaluates it (GPT-2's FFN).
void gelu(float* x, int64_t n);

}  // namespace ts
