// tinyserve profile: where the time goes, per phase, layer, op and matmul shape.
#include <cstdio>
#include <fstream>
#include <optional>

#include "analysis/model_summary.h"
#include "analysis/profile.h"
#include "apps/common.h"
#include "base/error.h"

namespace ts {

namespace {

struct ProfileArgs {
  std::string model;
  int threads = 1;
  ProfileOptions options;
  bool json = false;
  bool no_limits = false;
  std::string trace_out;
};

void run_profile_command(const ProfileArgs& a) {
  ProfileOptions o = a.options;
  o.keep_events = !a.trace_out.empty();
  LoadedModel m = load_everything(a.model, a.threads, std::max<int64_t>(o.prompt_tokens, 8));
  std::optional<MachineLimits> limits;
  if (!a.no_limits) limits = measure_machine(*m.pool);
  const ProfileResult r = run_profile(*m.model, summarize_model(*m.file).name, a.threads, o, limits);
  if (!a.trace_out.empty()) {
    std::ofstream out(a.trace_out, std::ios::binary);
    if (!out) fail("--trace-out: cannot write '{}'", a.trace_out);
    out << r.trace.dump();
    if (!out) fail("--trace-out: writing '{}' failed", a.trace_out);
  }
  if (a.json) {
    std::printf("%s\n", profile_json(r).dump(2).c_str());
  } else {
    std::printf("%s", profile_markdown(r).c_str());
  }
}

}  // namespace

void add_profile_command(CLI::App& app) {
  static ProfileArgs args;
  CLI::App* p = app.add_subcommand("profile", "Where the time goes: phases, layers, ops, matmul shapes");
  p->add_option("-m,--model", args.model, "GGUF file or Hugging Face checkpoint directory")->required()->check(CLI::ExistingPath);
  p->add_option("--prompt-len", args.options.prompt_tokens, "Prompt tokens (random ids)")->check(CLI::Range(1, 65536));
  p->add_option("--gen", args.options.gen_tokens, "Generated tokens (greedy)")->check(CLI::Range(0, 65536));
  p->add_option("--seed", args.options.seed, "Seed of the random prompt");
  add_threads_flag(p, args.threads);
  p->add_flag("--json", args.json, "JSON (its \"shapes\" feed `tinyserve chipsim --profile`)");
  p->add_flag("--no-limits", args.no_limits, "Skip measuring this machine's bandwidth and peaks");
  p->add_option("--trace-out", args.trace_out, "Write Chrome trace-event JSON (opens in Perfetto)");
  p->callback([] { run_profile_command(args); });
}

}  // namespace ts
