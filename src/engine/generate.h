#pragma once
// Single-sequence generation: prefill the prompt, then sample token by token until a stop
// condition, streaming complete UTF-8 text as it is produced.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace ts {

struct GenerateOptions {
  int32_t max_tokens = 128;
  SamplingParams sampling;
  std::vector<std::string> stop;  // generation ends before the first occurrence of any of these
  bool ignore_eos = false;
};

struct GenerateResult {
  std::string text;
  std::vector<int32_t> tokens;      // generated ids (the one that ended generation excluded)
  int64_t prompt_tokens = 0;
  double prefill_ms = 0.0;
  double ttft_ms = 0.0;             // prompt submitted -> first token sampled
  double decode_ms = 0.0;           // after the first token, until the end
  std::string finish_reason;        // "stop" or "length"
};

// kv must be empty (positions start at 0) and large enough for prompt + max_tokens.
GenerateResult generate(Model& model, const Tokenizer& tokenizer, KvCache& kv, const std::vector<int32_t>& prompt,
                        const GenerateOptions& options, const std::function<void(const std::string&)>& on_text);

}  // namespace ts
