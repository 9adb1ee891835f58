#pragma once
// Hugging Face checkpoints (config.json + SafeTensors) imported into the GGUF key and tensor
// namespace, so each architecture has a single loader. The import does what llama.cpp's
// converter does to the weights, and no more: Llama's Q/K rows are permuted from the
// rotate-half to the adjacent-pair RoPE layout, Gemma's RMSNorm weights w become 1 + w, and
// GPT-2's Conv1D weights ([in, out]) are transposed to [out, in]. Every other tensor is a view
// into the mapped files (copied only when its bytes are misaligned for its element type).
#include <memory>
#include <string>

namespace ts {
namespace gguf { class GgufFile; }

// True when path names a Hugging Face checkpoint rather than a GGUF file: a directory, a
// .safetensors file, a model.safetensors.index.json or a config.json.
bool is_hf_checkpoint(const std::string& path);

// Reads config.json beside the weights and maps model_type llama, gemma3_text (or
// gemma3 with a text_config) and gpt2. Throws naming the file, key or tensor that is wrong,
// missing, unused or of an unsupported type.
std::unique_ptr<gguf::GgufFile> import_hf_checkpoint(const std::string& path);

// A GGUF file, or a Hugging Face checkpoint through import_hf_checkpoint.
std::unique_ptr<gguf::GgufFile> open_model_file(const std::string& path);

}  // namespace ts
