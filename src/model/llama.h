#pragma once
#include <memory>

#include "model/model.h"

namespace ts {

// Llama-family decoder (Llama 2/3, TinyLlama, SmolLM2): RMSNorm, RoPE, grouped-query attention,
// SwiGLU feed-forward, tied or separate output matrix.
std::unique_ptr<Model> make_llama(const gguf::GgufFile& file, ThreadPool& pool, const ModelOptions& options);

}  // namespace ts
