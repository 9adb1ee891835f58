// `perplexity`: llama.cpp-compatible perplexity and KL-divergence.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "apps/common.h"
#include "base/error.h"
#include "engine/perplexity.h"

namespace ts {

namespace {

struct PerplexityFlags {
  std::string model, text_file, kl_base_out, kl_base_in;
  int64_t ctx = 512;
  int64_t chunks = -1;
  int threads = 1;
  bool compare_kl = false;
  KvType kv_type = KvType::kF16;
  AttentionMode attention = AttentionMode::kExact;
  std::optional<BlockOrder> block_order;  // unset: the architecture's default
};

void perplexity_command(const PerplexityFlags& f) {
  if (f.text_file.empty() && f.kl_base_in.empty()) fail("give -f TEXT (or --kl-divergence-base FILE --kl-divergence)");
  LoadedModel m = load_everything(f.model, f.threads, f.ctx);
  m.model->set_attention_mode(f.attention);
  apply_block_order(*m.model, f.block_order);
  const std::string text = f.text_file.empty() ? std::string() : read_text_file(f.text_file);
  PerplexityOptions opt;
  opt.n_ctx = f.ctx;
  opt.max_chunks = f.chunks;
  opt.kl_base_out = f.kl_base_out;
  opt.kl_base_in = f.kl_base_in;
  opt.kv_type = f.kv_type;
  const bool online = attends_online(f.attention, f.kv_type);
  std::fprintf(stderr, "perplexity: ctx %lld, threads %d, KV %s, %s attention\n", static_cast<long long>(f.ctx),
               m.pool->num_threads(), std::string(kv_type_name(f.kv_type)).c_str(), online ? "online" : "exact");
  const PerplexityResult r = compute_perplexity(*m.model, *m.tokenizer, text, opt, [](int64_t chunk, double ppl) {
    std::printf("[%lld]%.4f,", static_cast<long long>(chunk), ppl);
    std::fflush(stdout);
  });
  std::printf("\n");
  std::printf("chunks %lld, scored tokens %lld\n", static_cast<long long>(r.n_chunks), static_cast<long long>(r.n_scored));
  if (r.has_kl) {
    const KlStats& k = r.kl;
    std::printf("====== KL divergence statistics ======\n");
    std::printf("PPL(base)       : %10.6f\n", k.base_ppl);
    std::printf("Mean    KLD:   %10.6f ± %10.6f\n", k.mean, k.mean_err);
    std::printf("Maximum KLD:   %10.6f\n", k.max);
    std::printf("99.0%%   KLD:   %10.6f\n", k.p99);
    std::printf("95.0%%   KLD:   %10.6f\n", k.p95);
    std::printf("90.0%%   KLD:   %10.6f\n", k.p90);
    std::printf("Median  KLD:   %10.6f\n", k.median);
    std::printf("Minimum KLD:   %10.6f\n", k.min);
    std::printf("Same top p: %6.3f ± %5.3f %%\n", 100.0 * k.same_top,
                100.0 * std::sqrt(k.same_top * (1.0 - k.same_top) / static_cast<double>(std::max<int64_t>(1, k.count - 1))));
  }
  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_err);
  std::printf("PPL = %.6f\n", r.ppl);
}

}  // namespace

void add_perplexity_command(CLI::App& app) {
  auto f = std::make_shared<PerplexityFlags>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Perplexity of a text, computed as llama.cpp's perplexity tool does");
  cmd->add_option("-m,--model", f->model, "GGUF file or Hugging Face checkpoint directory")->required()->check(CLI::ExistingPath);
  cmd->add_option("-f,--file", f->text_file, "Text file")->check(CLI::ExistingFile);
  cmd->add_option("-c,--ctx", f->ctx, "Tokens per chunk")->check(CLI::Range(16, 8192));
  cmd->add_option("--chunks", f->chunks, "Most chunks to evaluate (default: all)")->check(CLI::Range(1, 1 << 20));
  add_kv_type_flag(cmd, f->kv_type);
  add_attention_flag(cmd, f->attention);
  add_block_order_flag(cmd, f->block_order);
  cmd->add_option("--kl-divergence-base", f->kl_base_out, "Write (or, with --kl-divergence, read) a base log-prob file");
  cmd->add_flag("--kl-divergence", f->compare_kl, "Compare against the --kl-divergence-base file instead of writing it");
  add_threads_flag(cmd, f->threads);
  cmd->callback([f] {
    PerplexityFlags flags = *f;
    if (flags.compare_kl) {
      if (flags.kl_base_out.empty()) fail("--kl-divergence needs --kl-divergence-base FILE");
      if (!std::filesystem::exists(flags.kl_base_out)) fail("KL-divergence base file '{}' does not exist", flags.kl_base_out);
      flags.kl_base_in = flags.kl_base_out;
      flags.kl_base_out.clear();
    }
    perplexity_command(flags);
  });
}

}  // namespace ts
