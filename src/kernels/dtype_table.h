#pragma once
// Per-dtype kernel table: for each weight type, the format activations are converted to and
// the row dot product over (weight row, converted activation row).
#include <cstdint>

#include "quant/types.h"

namespace ts {

using VecDotFn = float (*)(int64_t n, const void* weight_row, const void* act_row);

struct DTypeKernels {
  DType act_type;    // format of the activation row handed to vec_dot
  VecDotFn vec_dot;
};

// Throws naming the type if no kernel exists for it.
const DTypeKernels& kernels_for(DType weight_type);
bool has_kernels(DType weight_type);
// The scalar reference twin, whatever the CPU supports.
const DTypeKernels& reference_kernels_for(DType weight_type);

}  // namespace ts
