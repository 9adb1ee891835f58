#pragma once
#include <memory>

#include "model/model.h"

namespace ts {

// Gemma 3 text decoder (270M, 1B, ...): sandwich RMSNorms, QK-norm, GeGLU, sliding-window local
// layers between global ones, tied embeddings (see gemma3.cpp).
std::unique_ptr<Model> make_gemma3(const gguf::GgufFile& file, ThreadPool& pool, const ModelOptions& options);

}  // namespace ts
