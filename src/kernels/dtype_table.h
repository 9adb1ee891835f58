#pragma once
// Per-dtype kernel table: for each weight type, the format activations are converted to and
// the row dot product over (weight row, converted activation row).
#include <cstddef>
#include <cstdint>

#include "quant/types.h"

namespace ts {

using VecDotFn = float (*)(int64_t n, const void* weight_row, const void* act_row);
// Four activation rows (act_stride bytes apart) against one weight row, read once:
// out[c] = vec_dot(n, weight_row, act + c * act_stride) bit for bit. The register tile of the
// row-major matrix product for types whose order does not depend on the row's context.
using VecDot4Fn = void (*)(int64_t n, const void* weight_row, const void* act, size_t act_stride, float* out);

// Where an activation row sat in the batch llama.cpp would have computed it in. For some
// types llama.cpp sums a row's dot products in an order that depends on that: K-quant matrices
// take a tiled kernel for batches of 8 or more rows, and repacked Q4_K matrices a 4-row kernel
// for rows in full groups of four (the batch's last rows % 4 take the row kernel). Reproducing
// that keeps the last bits equal, which a model like Gemma 3 turns into visibly equal logits.
enum RowContext : uint8_t {
  kRowAlone = 0,          // a batch of fewer than 8 rows, not in a full group of four
  kRowInGroupOf4 = 1,     // in a full group of four rows of its batch
  kRowInWideBatch = 2,    // in a batch of 8 or more rows
};

// llama.cpp's default micro-batch: it computes a prompt in batches of this many tokens.
constexpr int64_t kLlamaCppUbatch = 512;

// The RowContext llama.cpp computes the token at pos in: a prompt (positions below prompt_end,
// counted from position 0) in micro-batches of kLlamaCppUbatch tokens, each generated token
// (pos >= prompt_end) alone. It depends only on the token's own sequence, so a token's result
// stays independent of what else shares our batch and of how its prompt was chunked.
inline uint8_t llama_cpp_row_context(int64_t pos, int64_t prompt_end) {
  if (pos >= prompt_end) return kRowAlone;
  const int64_t first = pos / kLlamaCppUbatch * kLlamaCppUbatch;
  const int64_t m = prompt_end - first < kLlamaCppUbatch ? prompt_end - first : kLlamaCppUbatch;  // pos's micro-batch
  uint8_t ctx = kRowAlone;
  if (pos - first < m - m % 4) ctx |= kRowInGroupOf4;
  if (m >= 8) ctx |= kRowInWideBatch;
  return ctx;
}

struct DTypeKernels {
  DType act_type;    // format of the activation row handed to vec_dot
  VecDotFn vec_dot;  // the row kernel's order (a batch of one)
  VecDotFn vec_dot_group4 = nullptr;  // for rows kRowInGroupOf4, where the order differs
  VecDotFn vec_dot_wide = nullptr;    // for rows kRowInWideBatch, where the order differs
  // Four rows at once, in each of the orders above (null: no tile for that order).
  VecDot4Fn vec_dot4 = nullptr;
  VecDot4Fn vec_dot4_group4 = nullptr;
  VecDot4Fn vec_dot4_wide = nullptr;

  // The dot product for a row in context ctx (a RowContext bit set).
  VecDotFn dot_for(uint8_t ctx) const {
    if ((ctx & kRowInGroupOf4) != 0 && vec_dot_group4 != nullptr) return vec_dot_group4;
    if ((ctx & kRowInWideBatch) != 0 && vec_dot_wide != nullptr) return vec_dot_wide;
    return vec_dot;
  }
  // The four-row tile in dot_for(ctx)'s order, or null.
  VecDot4Fn dot4_for(uint8_t ctx) const {
    if ((ctx & kRowInGroupOf4) != 0 && vec_dot_group4 != nullptr) return vec_dot4_group4;
    if ((ctx & kRowInWideBatch) != 0 && vec_dot_wide != nullptr) return vec_dot4_wide;
    return vec_dot4;
  }
};

// Throws naming the type if no kernel exists for it.
const DTypeKernels& kernels_for(DType weight_type);
bool has_kernels(DType weight_type);
// The scalar reference twin, whatever the CPU supports.
const DTypeKernels& reference_kernels_for(DType weight_type);

}  // namespace ts
