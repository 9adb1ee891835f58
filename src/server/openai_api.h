#pragma once
// The OpenAI-compatible request and response shapes: parsing with a 400 naming the field for
// anything malformed, and the JSON of replies, stream chunks and errors.
#include <cstdint>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace ts {

// An error reply: {"error": {"message", "type", "param", "code"}} with an HTTP status.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = {}, std::string code = {},
           std::string type = "invalid_request_error")
      : std::runtime_error(message), status_(status), param_(std::move(param)), code_(std::move(code)),
        type_(std::move(type)) {}
  int status() const { return status_; }
  nlohmann::json body() const;

 private:
  int status_;
  std::string param_, code_, type_;
};

struct ApiRequest {
  bool chat = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with the usage
  std::string model;
  RequestOptions options;      // tokens, limits and sampling for the engine
};

struct ApiLimits {
  int64_t max_model_len = 2048;  // prompt + completion
};

// Parses a /v1/completions (chat = false) or /v1/chat/completions body; throws ApiError(400).
ApiRequest parse_request(const std::string& body, bool chat, const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                         const ApiLimits& limits);

// Reply bodies. id: "cmpl-..." or "chatcmpl-..."; created: Unix seconds.
nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens);
nlohmann::json full_reply(const ApiRequest& r, const std::string& id, int64_t created, const std::string& text,
                          const std::string& finish_reason, const nlohmann::json& usage);
// One streamed chunk: delta text, and finish_reason once (null before). role_only: the chat
// stream's opening chunk carrying the assistant role.
nlohmann::json stream_chunk(const ApiRequest& r, const std::string& id, int64_t created, const std::string& text,
                            const std::string& finish_reason, bool role_only = false);
std::string sse_event(const nlohmann::json& j);
inline const char* kSseDone = "data: [DONE]\n\n";

}  // namespace ts
