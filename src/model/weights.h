#pragma once
// Typed views of model tensors with their shapes checked against the config.
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/matmul.h"

namespace ts {
namespace gguf { class GgufFile; }

// A [rows, cols] matrix (GGUF dims {cols, rows}); throws naming the tensor if the shape differs.
WeightMatrix load_matrix(const gguf::GgufFile& f, const std::string& name, int64_t rows, int64_t cols);
bool has_tensor(const gguf::GgufFile& f, const std::string& name);

// A vector of n floats (any supported type, converted once at load).
std::vector<float> load_vector(const gguf::GgufFile& f, const std::string& name, int64_t n);

}  // namespace ts
