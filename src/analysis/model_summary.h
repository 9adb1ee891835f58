#pragma once
// What a benchmark row says about a model file: architecture, size class, dominant weight type.
#include "analysis/bench_speed.h"
#include "formats/gguf/gguf_reader.h"

namespace ts {

// name like llama-bench's: "llama 1.1B Q4_0" (the type holding most matrix bytes).
ModelSummary summarize_model(const gguf::GgufFile& file);

}  // namespace ts
