#include "engine/generate.h"

#include <algorithm>

#include "base/error.h"
#include "base/timer.h"
#include "engine/text_stream.h"

namespace ts {

GenerateResult generate(Model& model, const Tokenizer& tokenizer, KvCache& kv, const std::vector<int32_t>& prompt,
                        const GenerateOptions& options, const std::function<void(const std::string&)>& on_text) {
  if (prompt.empty()) fail("the prompt is empty (no tokens to start from)");
  if (options.max_tokens < 0) fail("max tokens {} must be >= 0", options.max_tokens);
  const int64_t needed = static_cast<int64_t>(prompt.size()) + options.max_tokens;
  if (needed > kv.n_ctx) {
    fail("prompt ({} tokens) plus max tokens ({}) exceeds the context of {}", prompt.size(), options.max_tokens, kv.n_ctx);
  }
  const ModelConfig& c = model.config();
  GenerateResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  Sampler sampler(options.sampling, c.n_vocab);
  std::vector<float> logits(static_cast<size_t>(c.n_vocab));  // [n_vocab]
  std::vector<int32_t> history = prompt;
  history.reserve(prompt.size() + static_cast<size_t>(options.max_tokens));
  result.tokens.reserve(static_cast<size_t>(options.max_tokens));
  result.finish_reason = "length";
  if (options.max_tokens == 0) return result;

  const double t0 = now_ms();
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  for (int64_t pos = 0; pos < n_prompt; pos += model.max_batch()) {
    const int64_t n = std::min(model.max_batch(), n_prompt - pos);
    model.forward(prompt.data() + pos, n, pos, kv, logits.data(), false);
  }
  result.prefill_ms = now_ms() - t0;

  StopTextStream stream(tokenizer, options.stop);
  int64_t pos = n_prompt;
  double t_first = 0.0;
  auto emit = [&](const std::string& text) {
    result.text += text;
    if (on_text && !text.empty()) on_text(text);
  };
  for (int32_t i = 0; i < options.max_tokens; ++i) {
    const int32_t id = sampler.sample(logits.data(), history);
    if (i == 0) {
      t_first = now_ms();
      result.ttft_ms = t_first - t0;
    }
    if (!options.ignore_eos && tokenizer.is_end_of_generation(id)) {
      result.finish_reason = "stop";
      break;
    }
    result.tokens.push_back(id);
    history.push_back(id);
    emit(stream.push(id));
    if (stream.stopped()) {
      result.finish_reason = "stop";
      break;
    }
    if (i + 1 == options.max_tokens) break;
    model.forward(&id, 1, pos++, kv, logits.data(), false);
  }
  emit(stream.flush());
  result.decode_ms = t_first > 0.0 ? now_ms() - t_first : 0.0;
  return result;
}

}  // namespace ts
