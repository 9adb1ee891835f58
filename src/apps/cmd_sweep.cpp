// tinyserve sweep: TTFT, decode latency, memory and KV size against context length.
#include <unistd.h>

#include <cstdio>

#include "analysis/model_summary.h"
#include "analysis/sweep.h"
#include "apps/common.h"
#include "base/error.h"

namespace ts {

namespace {

struct SweepArgs {
  std::string model;
  int threads = 1;
  std::vector<int64_t> contexts = {512, 1024, 2048, 4096};
  int64_t gen = 64;
  std::string out;
  bool no_plots = false;
};

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
  SweepOptions o;
  o.contexts = a.contexts;
  o.gen_tokens = a.gen;
  const std::vector<SweepRow> rows = run_sweep(*m.model, summarize_model(*m.file).name, a.threads, o, progress_bar);
  for (const auto& f : write_sweep_report(rows, a.out, !a.no_plots)) std::printf("wrote %s\n", f.c_str());
  std::printf("%s\n", sweep_summary(rows).c_str());
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
  add_threads_flag(s, args.threads);
  s->callback([] { run_sweep_command(args); });
}

}  // namespace ts
