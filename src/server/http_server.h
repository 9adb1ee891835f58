#pragma once
// The OpenAI-compatible HTTP front end: /v1/completions and /v1/chat/completions (streaming over
// SSE or not), /v1/models, /health, /metrics and the chat page at /. Requests are validated
// here and handed to the engine; a client that goes away cancels its request.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "engine/engine.h"
#include "server/metrics.h"
#include "server/openai_api.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace httplib {
class Server;
struct Response;
}  // namespace httplib

namespace ts {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;             // 0: any free port (see port())
  std::string api_key;         // empty: no authentication
  std::string model_name;      // reported by /v1/models and in replies
  int64_t max_model_len = 2048;
  int http_threads = 256;      // each open stream holds one
};

class HttpServer {
 public:
  HttpServer(Engine& engine, const Tokenizer& tokenizer, const ChatTemplate& chat_template, ServerOptions options);
  ~HttpServer();

  // Binds the socket; throws naming the address if it cannot.
  void bind();
  int port() const { return port_; }
  // Serves until stop() (from another thread or a signal handler's thread).
  void serve();
  void stop();

 private:
  void routes();
  void count(int status);
  void completion(bool chat, const std::string& body, httplib::Response& res);

  Engine& engine_;
  const Tokenizer& tokenizer_;
  ChatTemplate chat_template_;
  ServerOptions options_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::mutex counters_mutex_;
  ServerCounters counters_;
  int64_t created_ = 0;
};

// The chat page served at "/".
const std::string& chat_page_html();

}  // namespace ts
