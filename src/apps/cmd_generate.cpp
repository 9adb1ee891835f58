// `run` (one prompt) and `chat` (interactive, with the model's chat template).
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "apps/common.h"
#include "base/error.h"
#include "engine/generate.h"
#include "tokenizer/chat_template.h"

namespace ts {

namespace {

struct GenerateFlags {
  std::string model;
  std::string prompt;
  int32_t n_predict = 128;
  int threads = 1;
  int64_t ctx = 2048;
  bool chat = false;
  bool json = false;
  KvType kv_type = KvType::kF16;
  AttentionMode attention = AttentionMode::kExact;
  std::optional<BlockOrder> block_order;  // unset: the architecture's default
  std::vector<std::string> stop;
  SamplingParams sampling;
};

void add_sampling_flags(CLI::App* cmd, GenerateFlags& f) {
  cmd->add_option("--temp", f.sampling.temperature, "Temperature; 0 = greedy")->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-k", f.sampling.top_k, "Top-k (0 = off)")->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--top-p", f.sampling.top_p, "Top-p (1 = off)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-p", f.sampling.min_p, "Min-p (0 = off)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--repeat-penalty", f.sampling.repeat_penalty, "Repetition penalty (1 = off)")->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--presence-penalty", f.sampling.presence_penalty, "Presence penalty")->check(CLI::Range(-2.0, 2.0));
  cmd->add_option("--frequency-penalty", f.sampling.frequency_penalty, "Frequency penalty")->check(CLI::Range(-2.0, 2.0));
  cmd->add_option("--repeat-last-n", f.sampling.penalty_last_n, "Tokens the penalties look back over")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--seed", f.sampling.seed, "Random seed (same seed, same output)");
  cmd->add_option("--stop", f.stop, "Stop string (repeatable)");
  cmd->add_option("-c,--ctx", f.ctx, "Context length in tokens")->check(CLI::Range(16, 1 << 20));
  add_kv_type_flag(cmd, f.kv_type);
  add_attention_flag(cmd, f.attention);
  add_block_order_flag(cmd, f.block_order);
  add_threads_flag(cmd, f.threads);
}

void print_summary(const LoadedModel& m, const GenerateResult& r) {
  const double prefill_tps = r.prefill_ms > 0 ? 1000.0 * static_cast<double>(r.prompt_tokens) / r.prefill_ms : 0.0;
  const double n_decode = r.tokens.size() > 1 ? static_cast<double>(r.tokens.size() - 1) : 0.0;
  const double decode_tps = r.decode_ms > 0 ? 1000.0 * n_decode / r.decode_ms : 0.0;
  std::fprintf(stderr,
               "\n[summary] load %.1f ms | prompt %lld tokens | prefill %.1f tok/s | TTFT %.1f ms | "
               "decode %zu tokens %.1f tok/s | threads %d | finish %s\n",
               m.load_ms, static_cast<long long>(r.prompt_tokens), prefill_tps, r.ttft_ms, r.tokens.size(),
               decode_tps, m.pool->num_threads(), r.finish_reason.c_str());
}

void run_command(const GenerateFlags& f) {
  LoadedModel m = load_everything(f.model, f.threads, 512);
  m.model->set_attention_mode(f.attention);
  apply_block_order(*m.model, f.block_order);
  const int64_t ctx = std::min<int64_t>(f.ctx, m.model->config().n_ctx_train);
  std::string text = f.prompt;
  if (f.chat) text = ChatTemplate::detect(m.tokenizer->vocab().chat_template).apply({{"user", f.prompt}}, true);
  const std::vector<int32_t> prompt = m.tokenizer->encode(text, true, /*parse_special=*/f.chat);
  if (prompt.empty()) fail("the prompt is empty");
  if (static_cast<int64_t>(prompt.size()) + f.n_predict > ctx) {
    fail("prompt ({} tokens) + -n {} exceeds the context of {} (raise --ctx, up to {})", prompt.size(), f.n_predict,
         ctx, m.model->config().n_ctx_train);
  }
  KvCache kv(m.model->config(), static_cast<int64_t>(prompt.size()) + f.n_predict, f.kv_type);
  GenerateOptions opt;
  opt.max_tokens = f.n_predict;
  opt.sampling = f.sampling;
  opt.stop = f.stop;
  const GenerateResult r = generate(*m.model, *m.tokenizer, kv, prompt, opt, [&](const std::string& s) {
    if (!f.json) {
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::fflush(stdout);
    }
  });
  if (f.json) {
    const double n_decode = r.tokens.size() > 1 ? static_cast<double>(r.tokens.size() - 1) : 0.0;
    nlohmann::json j = {
        {"text", r.text},
        {"tokens", r.tokens},
        {"prompt_tokens", r.prompt_tokens},
        {"finish_reason", r.finish_reason},
        {"timings",
         {{"load_ms", m.load_ms},
          {"prefill_ms", r.prefill_ms},
          {"prefill_tok_s", r.prefill_ms > 0 ? 1000.0 * static_cast<double>(r.prompt_tokens) / r.prefill_ms : 0.0},
          {"ttft_ms", r.ttft_ms},
          {"decode_ms", r.decode_ms},
          {"decode_tok_s", r.decode_ms > 0 ? 1000.0 * n_decode / r.decode_ms : 0.0}}},
    };
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::printf("\n");
  }
  print_summary(m, r);
}

void chat_command(const GenerateFlags& f) {
  LoadedModel m = load_everything(f.model, f.threads, 512);
  m.model->set_attention_mode(f.attention);
  apply_block_order(*m.model, f.block_order);
  const ChatTemplate tmpl = ChatTemplate::detect(m.tokenizer->vocab().chat_template);
  const int64_t ctx = std::min<int64_t>(f.ctx, m.model->config().n_ctx_train);
  std::fprintf(stderr, "chat template: %s; context %lld tokens. Empty line or Ctrl-D ends.\n", tmpl.family_name(),
               static_cast<long long>(ctx));
  std::vector<ChatMessage> history;
  std::string line;
  for (;;) {
    std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line) || line.empty()) break;
    history.push_back({"user", line});
    const auto prompt = m.tokenizer->encode(tmpl.apply(history, true), true, true);
    const int64_t room = ctx - static_cast<int64_t>(prompt.size());
    if (room <= 0) {
      std::fprintf(stderr, "the conversation no longer fits in %lld tokens; start a new chat\n", static_cast<long long>(ctx));
      break;
    }
    KvCache kv(m.model->config(), ctx, f.kv_type);
    GenerateOptions opt;
    opt.max_tokens = static_cast<int32_t>(std::min<int64_t>(room, f.n_predict));
    opt.sampling = f.sampling;
    opt.stop = f.stop;
    const GenerateResult r = generate(*m.model, *m.tokenizer, kv, prompt, opt, [](const std::string& s) {
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::fflush(stdout);
    });
    std::printf("\n");
    history.push_back({"assistant", r.text});
    print_summary(m, r);
  }
}

}  // namespace

void add_generate_commands(CLI::App& app) {
  auto f = std::make_shared<GenerateFlags>();
  CLI::App* run = app.add_subcommand("run", "Generate text from a prompt");
  run->add_option("-m,--model", f->model, "GGUF file or Hugging Face checkpoint directory")->required()->check(CLI::ExistingPath);
  run->add_option("-p,--prompt", f->prompt, "Prompt text")->required();
  run->add_option("-n,--n-predict", f->n_predict, "Tokens to generate")->check(CLI::Range(0, 1 << 20));
  run->add_flag("--chat", f->chat, "Wrap the prompt in the model's chat template");
  run->add_flag("--json", f->json, "Print one JSON object with text, token ids and timings");
  add_sampling_flags(run, *f);
  run->callback([f] { run_command(*f); });

  auto g = std::make_shared<GenerateFlags>();
  g->n_predict = 512;
  CLI::App* chat = app.add_subcommand("chat", "Interactive chat using the model's chat template");
  chat->add_option("-m,--model", g->model, "GGUF file or Hugging Face checkpoint directory")->required()->check(CLI::ExistingPath);
  chat->add_option("-n,--n-predict", g->n_predict, "Most tokens per reply")->check(CLI::Range(1, 1 << 20));
  add_sampling_flags(chat, *g);
  chat->callback([g] { chat_command(*g); });
}

}  // namespace ts
