#include "server/openai_api.h"

#include <cmath>
#include <limits>
#include <random>

#include <fmt/format.h>

namespace ts {

nlohmann::json ApiError::body() const {
  nlohmann::json e = {{"message", what()}, {"type", type_}, {"param", nullptr}, {"code", nullptr}};
  if (!param_.empty()) e["param"] = param_;
  if (!code_.empty()) e["code"] = code_;
  return {{"error", e}};
}

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& param, const std::string& message, const std::string& code = "invalid_value") {
  throw ApiError(400, message, param, code);
}

const char* type_name(const json& v) { return v.type_name(); }

// A number field within [lo, hi], or the default when absent or null.
double number(const json& body, const char* key, double def, double lo, double hi) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return def;
  if (!it->is_number()) bad(key, fmt::format("'{}' must be a number, not {}", key, type_name(*it)), "invalid_type");
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) bad(key, fmt::format("'{}' is {}; it must be between {} and {}", key, v, lo, hi));
  return v;
}

// An integer field within [lo, hi], or the default.
int64_t integer(const json& body, const char* key, int64_t def, int64_t lo, int64_t hi) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return def;
  if (!it->is_number_integer() && !(it->is_number_float() && std::floor(it->get<double>()) == it->get<double>())) {
    bad(key, fmt::format("'{}' must be an integer, not {}", key, type_name(*it)), "invalid_type");
  }
  const double d = it->get<double>();
  if (d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
    bad(key, fmt::format("'{}' is {}; it must be between {} and {}", key, it->dump(), lo, hi));
  }
  return it->is_number_unsigned() ? static_cast<int64_t>(it->get<uint64_t>()) : it->get<int64_t>();
}

bool boolean(const json& body, const char* key, bool def) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return def;
  if (!it->is_boolean()) bad(key, fmt::format("'{}' must be a boolean, not {}", key, type_name(*it)), "invalid_type");
  return it->get<bool>();
}

std::vector<std::string> stop_strings(const json& body) {
  const auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return {};
  if (it->is_string()) {
    if (it->get<std::string>().empty()) bad("stop", "'stop' must not be an empty string");
    return {it->get<std::string>()};
  }
  if (!it->is_array()) bad("stop", fmt::format("'stop' must be a string or an array of strings, not {}", type_name(*it)), "invalid_type");
  if (it->size() > 4) bad("stop", fmt::format("'stop' has {} entries; at most 4 are allowed", it->size()));
  std::vector<std::string> out;
  for (const auto& s : *it) {
    if (!s.is_string() || s.get<std::string>().empty()) bad("stop", "every 'stop' entry must be a non-empty string", "invalid_type");
    out.push_back(s.get<std::string>());
  }
  return out;
}

std::string message_content(const json& m, size_t i) {
  const std::string param = fmt::format("messages[{}].content", i);
  const auto it = m.find("content");
  if (it == m.end() || it->is_null()) bad(param, fmt::format("message {} has no content", i));
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) bad(param, fmt::format("message {} content must be a string or an array of text parts", i), "invalid_type");
  std::string text;
  for (const auto& part : *it) {
    if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text") || !part["text"].is_string()) {
      bad(param, fmt::format("message {} content parts must be {{\"type\": \"text\", \"text\": string}}", i), "invalid_type");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

std::vector<ChatMessage> chat_messages(const json& body) {
  const auto it = body.find("messages");
  if (it == body.end()) bad("messages", "'messages' is required");
  if (!it->is_array()) bad("messages", fmt::format("'messages' must be an array, not {}", type_name(*it)), "invalid_type");
  if (it->empty()) bad("messages", "'messages' must not be empty");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    if (!m.is_object()) bad(fmt::format("messages[{}]", i), fmt::format("message {} must be an object", i), "invalid_type");
    const auto role = m.find("role");
    if (role == m.end() || !role->is_string()) bad(fmt::format("messages[{}].role", i), fmt::format("message {} needs a string 'role'", i));
    std::string r = role->get<std::string>();
    if (r == "developer") r = "system";
    if (r != "system" && r != "user" && r != "assistant") {
      bad(fmt::format("messages[{}].role", i), fmt::format("message {} has role '{}' (expected system, user or assistant)", i, r));
    }
    out.push_back({r, message_content(m, i)});
  }
  return out;
}

std::vector<int32_t> completion_prompt(const json& body, const Tokenizer& tokenizer) {
  const auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) bad("prompt", "'prompt' is required");
  if (it->is_string()) return tokenizer.encode(it->get<std::string>(), true, true);
  if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) return tokenizer.encode((*it)[0].get<std::string>(), true, true);
  if (it->is_array() && !it->empty() && (*it)[0].is_number_integer()) {
    std::vector<int32_t> ids;
    for (const auto& v : *it) {
      if (!v.is_number_integer()) bad("prompt", "a token-id prompt must contain only integers", "invalid_type");
      const int64_t id = v.get<int64_t>();
      if (id < 0 || id >= tokenizer.size()) bad("prompt", fmt::format("token id {} is outside the vocabulary of {}", id, tokenizer.size()));
      ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
  }
  if (it->is_array() && it->size() > 1) bad("prompt", "only one prompt per request is supported", "unsupported_value");
  bad("prompt", "'prompt' must be a non-empty string, a one-string array or an array of token ids", "invalid_type");
}

}  // namespace

ApiRequest parse_request(const std::string& body_text, bool chat, const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                         const ApiLimits& limits) {
  json body;
  try {
    body = json::parse(body_text);
  } catch (const json::exception& e) {
    throw ApiError(400, fmt::format("the body is not valid JSON: {}", e.what()), "", "invalid_json");
  }
  if (!body.is_object()) throw ApiError(400, "the body must be a JSON object", "", "invalid_type");
  ApiRequest r;
  r.chat = chat;
  if (body.contains("model") && !body["model"].is_null()) {
    if (!body["model"].is_string()) bad("model", "'model' must be a string", "invalid_type");
    r.model = body["model"].get<std::string>();
  }
  if (integer(body, "n", 1, 1, 1) != 1) bad("n", "only n = 1 is supported");
  r.stream = boolean(body, "stream", false);
  if (const auto so = body.find("stream_options"); so != body.end() && !so->is_null()) {
    if (!so->is_object()) bad("stream_options", "'stream_options' must be an object", "invalid_type");
    r.include_usage = boolean(*so, "include_usage", false);
  }
  if (boolean(body, "echo", false)) bad("echo", "'echo' is not supported", "unsupported_value");
  if (body.contains("logprobs") && !body["logprobs"].is_null() && body["logprobs"] != false) {
    bad("logprobs", "'logprobs' is not supported", "unsupported_value");
  }

  RequestOptions& o = r.options;
  if (chat) {
    const std::string text = chat_template.apply(chat_messages(body), true);
    o.prompt = tokenizer.encode(text, true, true);
  } else {
    o.prompt = completion_prompt(body, tokenizer);
  }
  if (o.prompt.empty()) bad(chat ? "messages" : "prompt", "the prompt is empty");
  const auto n_prompt = static_cast<int64_t>(o.prompt.size());
  if (n_prompt >= limits.max_model_len) {
    throw ApiError(400,
                   fmt::format("the prompt has {} tokens; this server's context length is {} (prompt plus completion)",
                               n_prompt, limits.max_model_len),
                   chat ? "messages" : "prompt", "context_length_exceeded");
  }
  // Chat replies run to the end of the context unless limited; completions default to 16 (as OpenAI).
  const int64_t room = limits.max_model_len - n_prompt;
  const char* max_key = chat && body.contains("max_completion_tokens") && !body.contains("max_tokens") ? "max_completion_tokens" : "max_tokens";
  const int64_t max_tokens = integer(body, max_key, chat ? room : 16, 1, std::numeric_limits<int32_t>::max());
  if (max_tokens > room) {
    throw ApiError(400,
                   fmt::format("the prompt ({} tokens) plus {} ({}) exceeds this server's context length of {}", n_prompt,
                               max_key, max_tokens, limits.max_model_len),
                   max_key, "context_length_exceeded");
  }
  o.max_tokens = static_cast<int32_t>(max_tokens);
  o.stop = stop_strings(body);
  SamplingParams& s = o.sampling;
  s.temperature = static_cast<float>(number(body, "temperature", 1.0, 0.0, 2.0));
  s.top_p = static_cast<float>(number(body, "top_p", 1.0, 0.0, 1.0));
  if (s.top_p <= 0.0f) bad("top_p", "'top_p' must be greater than 0");
  s.top_k = static_cast<int32_t>(integer(body, "top_k", 0, -1, 1 << 30));
  s.min_p = static_cast<float>(number(body, "min_p", 0.0, 0.0, 1.0));
  s.presence_penalty = static_cast<float>(number(body, "presence_penalty", 0.0, -2.0, 2.0));
  s.frequency_penalty = static_cast<float>(number(body, "frequency_penalty", 0.0, -2.0, 2.0));
  s.repeat_penalty = static_cast<float>(number(body, "repetition_penalty", 1.0, 0.0, 10.0));
  if (s.repeat_penalty <= 0.0f) bad("repetition_penalty", "'repetition_penalty' must be greater than 0");
  s.penalty_last_n = static_cast<int32_t>(std::min<int64_t>(limits.max_model_len, 1 << 20));
  const int64_t seed = integer(body, "seed", -1, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  s.seed = seed >= 0 ? static_cast<uint64_t>(seed) : static_cast<uint64_t>(std::random_device{}());
  o.ignore_eos = boolean(body, "ignore_eos", false);
  return r;
}

nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

nlohmann::json full_reply(const ApiRequest& r, const std::string& id, int64_t created, const std::string& text,
                          const std::string& finish_reason, const nlohmann::json& usage) {
  json choice = {{"index", 0}, {"finish_reason", finish_reason}, {"logprobs", nullptr}};
  if (r.chat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  return {{"id", id},
          {"object", r.chat ? "chat.completion" : "text_completion"},
          {"created", created},
          {"model", r.model},
          {"choices", json::array({choice})},
          {"usage", usage}};
}

nlohmann::json stream_chunk(const ApiRequest& r, const std::string& id, int64_t created, const std::string& text,
                            const std::string& finish_reason, bool role_only) {
  json choice = {{"index", 0}, {"logprobs", nullptr}};
  choice["finish_reason"] = finish_reason.empty() ? json(nullptr) : json(finish_reason);
  if (r.chat) {
    if (role_only) {
      choice["delta"] = {{"role", "assistant"}, {"content", ""}};
    } else if (finish_reason.empty() || !text.empty()) {
      choice["delta"] = {{"content", text}};
    } else {
      choice["delta"] = json::object();
    }
  } else {
    choice["text"] = text;
  }
  return {{"id", id},
          {"object", r.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", r.model},
          {"choices", json::array({choice})}};
}

std::string sse_event(const nlohmann::json& j) {
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace ts
