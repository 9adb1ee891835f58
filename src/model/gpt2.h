#pragma once
#include <memory>

#include "model/model.h"

namespace ts {

// GPT-2 (GGUF `gpt2` layout; Hugging Face checkpoints through model/hf_import.h): learned
// positions, LayerNorm, fused QKV with biases, GELU MLP, tied output.
std::unique_ptr<Model> make_gpt2(const gguf::GgufFile& file, ThreadPool& pool, const ModelOptions& options);

}  // namespace ts
