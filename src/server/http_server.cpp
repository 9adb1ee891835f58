#include "server/http_server.h"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>

#include "base/error.h"

namespace ts {

namespace {

using nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Updates of one request, passed from the engine thread to the HTTP thread that writes them.
struct Channel {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<RequestUpdate> updates;
};

// Constant-time comparison, so the key cannot be guessed byte by byte from response times.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

constexpr auto kPoll = std::chrono::milliseconds(50);  // how often a waiting writer checks its client

}  // namespace

HttpServer::HttpServer(Engine& engine, const Tokenizer& tokenizer, const ChatTemplate& chat_template, ServerOptions options)
    : engine_(engine), tokenizer_(tokenizer), chat_template_(chat_template), options_(std::move(options)),
      http_(std::make_unique<httplib::Server>()) {
  created_ = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const int threads = options_.http_threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http_->set_payload_max_length(16u << 20);
  http_->set_read_timeout(30, 0);
  routes();
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::bind() {
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host.c_str());
    if (port_ <= 0) fail("cannot listen on {} (any port)", options_.host);
  } else {
    if (!http_->bind_to_port(options_.host.c_str(), options_.port)) fail("cannot listen on {}:{}", options_.host, options_.port);
    port_ = options_.port;
  }
}

void HttpServer::serve() { http_->listen_after_bind(); }
void HttpServer::stop() {
  if (http_) http_->stop();
}

void HttpServer::count(int status) {
  std::lock_guard<std::mutex> lock(counters_mutex_);
  ++counters_.responses_by_status[status];
  if (status >= 400 && status < 500) ++counters_.rejected;
}

void HttpServer::routes() {
  auto send_error = [this](httplib::Response& res, const ApiError& e) {
    res.status = e.status();
    res.set_content(dump(e.body()), "application/json");
  };

  // Authentication for the API routes (the page, /health and /metrics stay open).
  http_->set_pre_routing_handler([this, send_error](const httplib::Request& req, httplib::Response& res) {
    if (options_.api_key.empty() || req.path.rfind("/v1/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) == 0 && same_secret(auth.substr(prefix.size()), options_.api_key)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    send_error(res, ApiError(401, auth.empty() ? "missing API key (send 'Authorization: Bearer <key>')" : "incorrect API key",
                             "", "invalid_api_key"));
    count(401);
    return httplib::Server::HandlerResponse::Handled;
  });
  // Anything else that ends in an error without a body gets the OpenAI error shape.
  http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string message = res.status == 404   ? fmt::format("no route for {} {}", req.method, req.path)
                                : res.status == 413 ? "the request body is too large"
                                                    : fmt::format("HTTP {}", res.status);
    res.set_content(dump(ApiError(res.status, message, "", res.status == 404 ? "not_found" : "").body()), "application/json");
    count(res.status);
  });
  http_->set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    res.status = 500;
    res.set_content(dump(ApiError(500, what, "", "internal_error", "server_error").body()), "application/json");
    count(500);
  });

  http_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
    count(200);
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    ServerCounters c;
    {
      std::lock_guard<std::mutex> lock(counters_mutex_);
      c = counters_;
    }
    res.set_content(prometheus_text(engine_.stats(), c), "text/plain; version=0.0.4");
    count(200);
  });
  http_->Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    const json model = {{"id", options_.model_name}, {"object", "model"}, {"created", created_}, {"owned_by", "tinyserve"},
                        {"max_model_len", options_.max_model_len}};
    res.set_content(dump({{"object", "list"}, {"data", json::array({model})}}), "application/json");
    count(200);
  });
  http_->Get("/", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(chat_page_html(), "text/html; charset=utf-8");
    count(200);
  });
  for (bool chat : {false, true}) {
    http_->Post(chat ? "/v1/chat/completions" : "/v1/completions",
                [this, chat, send_error](const httplib::Request& req, httplib::Response& res) {
                  try {
                    completion(chat, req.body, res);
                  } catch (const ApiError& e) {
                    send_error(res, e);
                    count(e.status());
                  }
                });
  }
}

void HttpServer::completion(bool chat, const std::string& body, httplib::Response& res) {
  ApiRequest r = parse_request(body, chat, tokenizer_, chat_template_, {options_.max_model_len});
  if (r.model.empty()) r.model = options_.model_name;
  auto channel = std::make_shared<Channel>();
  int64_t id = 0;
  try {
    id = engine_.submit(r.options, [channel](const RequestUpdate& u) {
      {
        std::lock_guard<std::mutex> lock(channel->mutex);
        channel->updates.push_back(u);
      }
      channel->cv.notify_all();
    });
  } catch (const RequestRejected& e) {
    throw ApiError(400, e.what(), chat ? "messages" : "prompt", "invalid_request");
  }
  const std::string reply_id = fmt::format("{}-{}", chat ? "chatcmpl" : "cmpl", id);
  count(200);

  // Both kinds of reply are written by a provider that waits for the engine and polls the
  // client: a client that disconnects aborts its request (and frees its KV blocks) at once.
  auto request = std::make_shared<ApiRequest>(std::move(r));
  auto finished = std::make_shared<bool>(false);
  auto provider = [this, channel, request, reply_id, id, finished](size_t, httplib::DataSink& sink) {
    const ApiRequest& rq = *request;
    std::string full_text;
    if (rq.stream && rq.chat) {
      const std::string first = sse_event(stream_chunk(rq, reply_id, created_, "", "", true));
      if (!sink.write(first.data(), first.size())) return false;
    }
    while (true) {
      std::deque<RequestUpdate> batch;
      {
        std::unique_lock<std::mutex> lock(channel->mutex);
        channel->cv.wait_for(lock, kPoll, [&] { return !channel->updates.empty(); });
        batch.swap(channel->updates);
      }
      if (batch.empty()) {
        if (!sink.is_writable()) return false;  // the client is gone
        continue;
      }
      for (const RequestUpdate& u : batch) {
        if (!rq.stream) {
          full_text += u.text;
        } else if (!u.text.empty() || u.finished) {
          const std::string ev = sse_event(stream_chunk(rq, reply_id, created_, u.text, u.finished ? u.finish_reason : ""));
          if (!sink.write(ev.data(), ev.size())) return false;
        }
        if (!u.finished) continue;
        *finished = true;
        const json usage = usage_json(u.prompt_tokens, u.completion_tokens, u.cached_tokens);
        std::string tail;
        if (!rq.stream) {
          tail = dump(full_reply(rq, reply_id, created_, full_text, u.finish_reason, usage));
        } else {
          if (rq.include_usage) {
            json chunk = stream_chunk(rq, reply_id, created_, "", "");
            chunk["choices"] = json::array();
            chunk["usage"] = usage;
            tail += sse_event(chunk);
          }
          tail += kSseDone;
        }
        if (!sink.write(tail.data(), tail.size())) return false;
        sink.done();
        return true;
      }
    }
  };
  auto on_done = [this, id, finished](bool /*success*/) {
    if (!*finished) {
      engine_.abort(id);
      std::lock_guard<std::mutex> lock(counters_mutex_);
      ++counters_.disconnects;
    }
  };
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(request->stream ? "text/event-stream" : "application/json", provider, on_done);
}

}  // namespace ts
