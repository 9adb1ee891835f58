// tinyserve sweep: TTFT, decode latency, memory and KV size against context length.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/model_summary.h"
#include "analysis/sweep.h"
#include "apps/common.h"
#include "apps/llamacpp_reference.h"
#include "base/error.h"

namespace ts {

namespace {

struct SweepArgs {
  AttentionMode attention = AttentionMode::kExact;
  std::optional<BlockOrder> block_order;  // unset: the architecture's default
  std::string model;
  int threads = 1;
  std::vector<int64_t> contexts = {512, 1024, 2048, 4096};
  int64_t gen = 64;
  std::string out;
  bool no_plots = false;
  bool vs_llamacpp = false;
};

// llama.cpp's TTFT and decode latency at the same contexts, next to ours: vs_llamacpp.csv and a
// section appended to report.md. Returns the Markdown table.
std::string compare_with_llamacpp(const SweepArgs& a, const std::vector<SweepRow>& rows) {
  std::string ctxs;
  for (int64_t c : a.contexts) ctxs += (ctxs.empty() ? "" : ",") + std::to_string(c);
  const nlohmann::json ref = run_llamacpp_reference(a.model, fmt::format("--sweep {} -n {} -t {}", ctxs, a.gen, a.threads));
  std::string md = fmt::format("\n## Against llama.cpp\n\n{}, same file, threads and lengths, run after tinyserve "
                               "(its TTFT is the prompt's evaluation without sampling).\n\n",
                               ref.value("engine", std::string("llama.cpp")));
  md += "| ctx | TTFT tinyserve | TTFT llama.cpp | speedup | decode ms/token tinyserve | llama.cpp | speedup |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  std::string csv = "ctx,ttft_ms,llamacpp_ttft_ms,decode_ms_per_tok,llamacpp_decode_ms_per_tok\n";
  for (const SweepRow& r : rows) {
    for (const auto& x : ref.value("sweep", nlohmann::json::array())) {
      if (x.value("ctx", int64_t{0}) != r.ctx) continue;
      const double ttft = x.value("ttft_ms", 0.0), dec = x.value("decode_ms_per_tok", 0.0);
      md += fmt::format("| {} | {:.0f} ms | {:.0f} ms | {:.2f}x | {:.2f} | {:.2f} | {:.2f}x |\n", r.ctx, r.ttft_ms, ttft,
                        ttft / r.ttft_ms, r.decode_ms_per_tok, dec, dec / r.decode_ms_per_tok);
      csv += fmt::format("{},{:.3f},{:.3f},{:.4f},{:.4f}\n", r.ctx, r.ttft_ms, ttft, r.decode_ms_per_tok, dec);
    }
  }
  const std::filesystem::path dir(a.out);
  std::ofstream(dir / "vs_llamacpp.csv") << csv;
  std::ofstream(dir / "report.md", std::ios::app) << md;
  return md;
}

// "[sweep] ctx 2048 (3/4) [##########..........]" on stderr, redrawn in place on a terminal.
void progress_bar(size_t done, size_t total, int64_t ctx) {
  constexpr int kWidth = 20;
  const int filled = static_cast<int>(kWidth * done / (total == 0 ? 1 : total));
  const std::string bar = std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(kWidth - filled), '.');
  const bool tty = isatty(fileno(stderr)) != 0;
  if (done < total) {
    std::fprintf(stderr, "%s[sweep] ctx %lld (%zu/%zu) [%s]%s", tty ? "\r" : "", static_cast<long long>(ctx), done + 1,
                 total, bar.c_str(), tty ? "" : "\n");
  } else {
    std::fprintf(stderr, "%s[sweep] done (%zu/%zu) [%s]\n", tty ? "\r" : "", total, total, bar.c_str());
  }
  std::fflush(stderr);
}

void run_sweep_command(const SweepArgs& a) {
  int64_t largest_prompt = 1;
  for (int64_t c : a.contexts) largest_prompt = std::max(largest_prompt, c - a.gen);
  // Prompts go through in chunks of at most 512 tokens: activation buffers stay bounded.
  LoadedModel m = load_everything(a.model, a.threads, std::min<int64_t>(largest_prompt, 512));
  m.model->set_attention_mode(a.attention);
  apply_block_order(*m.model, a.block_order);
  SweepOptions o;
  o.contexts = a.contexts;
  o.gen_tokens = a.gen;
  const std::vector<SweepRow> rows = run_sweep(*m.model, summarize_model(*m.file).name, a.threads, o, progress_bar);
  for (const auto& f : write_sweep_report(rows, a.out, !a.no_plots)) std::printf("wrote %s\n", f.c_str());
  std::printf("%s\n", sweep_summary(rows).c_str());
  if (a.vs_llamacpp) std::printf("%s", compare_with_llamacpp(a, rows).c_str());
}

}  // namespace

void add_sweep_command(CLI::App& app) {
  static SweepArgs args;
  CLI::App* s = app.add_subcommand("sweep", "TTFT, decode latency, memory and KV size against context: CSV, plots, report");
  s->add_option("-m,--model", args.model, "GGUF file or Hugging Face checkpoint directory")->required()->check(CLI::ExistingPath);
  s->add_option("--ctx", args.contexts, "Context lengths, comma-separated")->delimiter(',')->check(CLI::Range(2, 1 << 20));
  s->add_option("--gen", args.gen, "Generated tokens per context (the prompt is ctx - gen)")->check(CLI::Range(1, 65536));
  s->add_option("--out", args.out, "Directory for sweep.csv, the PNG plots and report.md")->required();
  s->add_flag("--no-plots", args.no_plots, "CSV and report only");
  add_attention_flag(s, args.attention);
  add_block_order_flag(s, args.block_order);
  s->add_flag("--vs-llamacpp", args.vs_llamacpp,
              "Also sweep llama.cpp (llama-cpp-python) on the same GGUF: vs_llamacpp.csv and a report section");
  add_threads_flag(s, args.threads);
  s->callback([] { run_sweep_command(args); });
}

}  // namespace ts
