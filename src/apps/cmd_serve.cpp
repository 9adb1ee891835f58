// `serve`: the OpenAI-compatible server over the continuous-batching engine.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "apps/common.h"
#include "base/error.h"
#include "engine/engine.h"
#include "server/http_server.h"
#include "tokenizer/chat_template.h"

namespace ts {

namespace {

struct ServeFlags {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  int threads = 1;
  int64_t ctx = 2048;
  int64_t max_seqs = 32;
  int64_t max_batched_tokens = 256;
  int64_t kv_mb = 0;
  int64_t block_size = 16;
  KvType kv_type = KvType::kF16;
  AttentionMode attention = AttentionMode::kExact;
  std::optional<BlockOrder> block_order;  // unset: the architecture's default
};

void serve_command(const ServeFlags& f) {
  // SIGINT/SIGTERM are taken by one thread (sigwait) that stops the server: every other thread
  // inherits the blocked mask, so no handler runs in the middle of an engine step.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const std::string key = !f.api_key.empty() ? f.api_key : (std::getenv("TINYSERVE_API_KEY") ? std::getenv("TINYSERVE_API_KEY") : "");
  LoadedModel m = load_everything(f.model, f.threads, f.max_batched_tokens);
  m.model->set_attention_mode(f.attention);
  apply_block_order(*m.model, f.block_order);
  const ModelConfig& c = m.model->config();
  const int64_t ctx = std::min<int64_t>(f.ctx, c.n_ctx_train > 0 ? c.n_ctx_train : f.ctx);
  EngineConfig ec;
  ec.scheduler = {f.max_seqs, f.max_batched_tokens, ctx};
  ec.block_size = f.block_size;
  ec.kv_type = f.kv_type;
  // Default budget: every sequence at full context, capped at 2 GiB (pages are only committed
  // as sequences use them).
  const int64_t per_token = KvStore::bytes_per_block(c.n_layer, c.kv_dim(), 1, f.kv_type, c.head_dim);
  ec.kv_budget_bytes = f.kv_mb > 0 ? f.kv_mb << 20 : std::min<int64_t>(f.max_seqs * ctx * per_token, int64_t{2} << 30);
  Engine engine(*m.model, *m.tokenizer, ec);
  const ChatTemplate tmpl = ChatTemplate::detect(m.tokenizer->vocab().chat_template);

  ServerOptions so;
  so.host = f.host;
  so.port = f.port;
  so.api_key = key;
  so.model_name = std::filesystem::path(f.model).filename().string();
  so.max_model_len = ctx;
  so.http_threads = static_cast<int>(std::max<int64_t>(64, 4 * f.max_seqs + 16));
  HttpServer server(engine, *m.tokenizer, tmpl, so);
  server.bind();
  engine.start();
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::fprintf(stderr, "tinyserve: signal %d, shutting down\n", sig);
    server.stop();
  });
  std::printf("tinyserve: serving %s on http://%s:%d (chat page at /)\n", so.model_name.c_str(), f.host.c_str(), server.port());
  std::printf("tinyserve: %s chat template | context %lld | up to %lld sequences, %lld tokens per step | KV %lld blocks of %lld tokens (%.0f MiB, %s) | %d threads%s\n",
              tmpl.family_name(), static_cast<long long>(ctx), static_cast<long long>(f.max_seqs),
              static_cast<long long>(f.max_batched_tokens), static_cast<long long>(engine.num_kv_blocks()),
              static_cast<long long>(f.block_size),
              static_cast<double>(engine.num_kv_blocks() * KvStore::bytes_per_block(c.n_layer, c.kv_dim(), f.block_size, f.kv_type, c.head_dim)) / (1 << 20),
              std::string(kv_type_name(f.kv_type)).c_str(),
              m.pool->num_threads(), key.empty() ? "" : " | API key required");
  std::fflush(stdout);
  server.serve();
  // serve() returns after stop(): wake the waiter if the stop came from elsewhere.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  engine.stop();
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server with continuous batching and a chat page");
  cmd->add_option("-m,--model", f->model, "GGUF file or Hugging Face checkpoint directory")->required()->check(CLI::ExistingPath);
  cmd->add_option("--host", f->host, "Address to listen on");
  cmd->add_option("--port", f->port, "Port (0: any free port, printed at start)")->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", f->api_key, "Require 'Authorization: Bearer KEY' on /v1 routes (or set TINYSERVE_API_KEY)");
  cmd->add_option("-c,--ctx", f->ctx, "Context length per sequence (prompt + completion)")->check(CLI::Range(16, 1 << 20));
  cmd->add_option("--max-seqs", f->max_seqs, "Sequences decoded together at most")->check(CLI::Range(1, 1024));
  cmd->add_option("--max-batched-tokens", f->max_batched_tokens, "Tokens per engine step (decode tokens plus prompt chunks)")
      ->check(CLI::Range(1, 8192));
  cmd->add_option("--kv-mb", f->kv_mb, "KV cache budget in MiB (default: every sequence at full context, at most 2048)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--block-size", f->block_size, "Tokens per KV block")->check(CLI::Range(1, 4096));
  add_kv_type_flag(cmd, f->kv_type);
  add_attention_flag(cmd, f->attention);
  add_block_order_flag(cmd, f->block_order);
  add_threads_flag(cmd, f->threads);
  cmd->callback([f] {
    if (f->max_batched_tokens < f->max_seqs) fail("--max-batched-tokens {} must be at least --max-seqs {}", f->max_batched_tokens, f->max_seqs);
    serve_command(*f);
  });
}

}  // namespace ts
