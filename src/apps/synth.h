#pragma once
// Random-weight models in the exact shapes of real ones, written as GGUF files that llama.cpp
// loads too (benchmarks and oracle tests without downloading weights).
#include <cstdint>
#include <string>

#include "quant/types.h"

namespace ts {

struct SynthPreset {
  std::string name;
  int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
  float rope_base;
};

// tinyllama-1.1b, smollm2-135m, tiny; throws listing the known names otherwise.
SynthPreset synth_preset(const std::string& name);

// Writes the model; weights ~ N(0, 0.02) (norm weights 1), matrices in `type` (f16, q8_0, q4_0),
// the tokenizer copied from vocab_path.
void write_synth_model(const SynthPreset& preset, DType type, const std::string& vocab_path, uint64_t seed,
                       const std::string& out_path);

}  // namespace ts
