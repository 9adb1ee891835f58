#include "analysis/sweep.h"

#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>

#include "analysis/bench_speed.h"
#include "analysis/memory_report.h"
#include "base/error.h"
#include "base/timer.h"
#include "engine/sampler.h"
#include "fmt/format.h"

extern char** environ;

namespace ts {

const char* const kSweepCsvHeader =
    "model,threads,ctx,prompt_tokens,gen_tokens,ttft_ms,prefill_tok_s,decode_ms,decode_ms_per_tok,decode_tok_s,"
    "peak_rss_gb,kv_est_mb,kv_measured_mb";

namespace {

// One plot per metric: CSV column (1-based), file stem, axis label.
struct Metric {
  int column;
  const char* stem;
  const char* label;
};
constexpr Metric kMetrics[] = {
    {6, "ttft_ms", "TTFT (ms)"},
    {7, "prefill_tok_s", "prefill tokens/s"},
    {9, "decode_ms_per_tok", "decode latency per token (ms)"},
    {10, "decode_tok_s", "decode tokens/s"},
    {11, "peak_rss_gb", "peak RSS (GB)"},
    {13, "kv_measured_mb", "KV cache (MB)"},
};

// CSV field: quoted when it holds a comma, quote or newline.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// Runs gnuplot on a script without a shell (paths are never interpreted). Returns "" on
// success, else why it failed.
std::string run_gnuplot(const std::string& script) {
  pid_t pid = 0;
  const std::string prog = "gnuplot";
  std::vector<char*> argv = {const_cast<char*>(prog.c_str()), const_cast<char*>(script.c_str()), nullptr};
  const int rc = posix_spawnp(&pid, prog.c_str(), nullptr, nullptr, argv.data(), environ);
  if (rc != 0) return rc == ENOENT ? "gnuplot is not installed" : fmt::format("cannot start gnuplot (error {})", rc);
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return "waiting for gnuplot failed";
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fmt::format("gnuplot failed (status {})", status);
  return "";
}

std::string gnuplot_string(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string sweep_csv(const std::vector<SweepRow>& rows) {
  std::string s = std::string(kSweepCsvHeader) + "\n";
  for (const auto& r : rows) {
    s += fmt::format("{},{},{},{},{},{:.3f},{:.3f},{:.3f},{:.4f},{:.3f},{:.4f},{:.3f},{:.3f}\n", csv_field(r.model),
                     r.threads, r.ctx, r.prompt_tokens, r.gen_tokens, r.ttft_ms, r.prefill_tok_s, r.decode_ms,
                     r.decode_ms_per_tok, r.decode_tok_s, r.peak_rss_gb, r.kv_est_mb, r.kv_measured_mb);
  }
  return s;
}

std::vector<SweepRow> run_sweep(Model& model, const std::string& model_name, int threads, const SweepOptions& o,
                                const std::function<void(size_t, size_t, int64_t)>& progress) {
  const ModelConfig& c = model.config();
  if (o.contexts.empty()) fail("sweep: --ctx needs at least one context length");
  if (o.gen_tokens < 1) fail("sweep: --gen must be at least 1, got {}", o.gen_tokens);
  for (int64_t ctx : o.contexts) {
    if (ctx <= o.gen_tokens) fail("sweep: context {} leaves no prompt for {} generated tokens", ctx, o.gen_tokens);
    if (ctx > (int64_t{1} << 20)) fail("sweep: context {} is too large", ctx);
  }
  SamplingParams sp;
  sp.temperature = 0.0f;
  Sampler sampler(sp, c.n_vocab);
  std::vector<float> logits(static_cast<size_t>(c.n_vocab));  // [n_vocab]
  std::vector<SweepRow> rows;
  for (size_t i = 0; i < o.contexts.size(); ++i) {
    const int64_t ctx = o.contexts[i];
    if (progress) progress(i, o.contexts.size(), ctx);
    KvCache kv(c, ctx);
    SweepRow r;
    r.model = model_name;
    r.threads = threads;
    r.ctx = ctx;
    r.gen_tokens = o.gen_tokens;
    r.prompt_tokens = ctx - o.gen_tokens;
    std::vector<int32_t> tokens = random_tokens(r.prompt_tokens, c.n_vocab, o.seed + i);
    tokens.reserve(static_cast<size_t>(ctx));
    // The prompt goes through in chunks of the model's batch (its buffers' size), as a server would.
    const double t0 = now_ms();
    for (int64_t p = 0; p < r.prompt_tokens; p += model.max_batch()) {
      const int64_t n = std::min(model.max_batch(), r.prompt_tokens - p);
      model.forward(tokens.data() + p, n, p, kv, logits.data(), false);
    }
    int32_t next = sampler.sample(logits.data(), tokens);
    r.ttft_ms = now_ms() - t0;
    r.prefill_tok_s = r.ttft_ms > 0 ? 1000.0 * static_cast<double>(r.prompt_tokens) / r.ttft_ms : 0.0;
    const double t1 = now_ms();
    for (int64_t g = 0; g < o.gen_tokens; ++g) {
      tokens.push_back(next);
      model.forward(&tokens.back(), 1, r.prompt_tokens + g, kv, logits.data(), false);
      next = sampler.sample(logits.data(), tokens);
    }
    r.decode_ms = now_ms() - t1;
    r.decode_ms_per_tok = r.decode_ms / static_cast<double>(o.gen_tokens);
    r.decode_tok_s = r.decode_ms > 0 ? 1000.0 * static_cast<double>(o.gen_tokens) / r.decode_ms : 0.0;
    r.peak_rss_gb = peak_rss_bytes() / 1e9;
    r.kv_est_mb = kv_bytes_per_token_estimate(c) * static_cast<double>(ctx) / 1e6;
    r.kv_measured_mb = static_cast<double>(kv.bytes()) / 1e6;
    rows.push_back(r);
  }
  if (progress) progress(o.contexts.size(), o.contexts.size(), 0);
  return rows;
}

std::string sweep_summary(const std::vector<SweepRow>& rows) {
  if (rows.size() < 2) return "One context length only: nothing to compare.";
  const SweepRow& a = rows.front();
  const SweepRow& b = rows.back();
  auto ratio = [](double x, double y) { return y > 0 ? x / y : 0.0; };
  return fmt::format(
      "From context {} to {} ({:.1f}x longer): decode per-token latency grows {:.2f}x ({:.2f} -> {:.2f} ms) while TTFT "
      "grows {:.2f}x ({:.1f} -> {:.1f} ms); prefill speed changes {:.2f}x ({:.1f} -> {:.1f} tok/s); the KV cache grows "
      "{:.2f}x ({:.1f} -> {:.1f} MB) and peak RSS reaches {:.2f} GB.",
      a.ctx, b.ctx, ratio(static_cast<double>(b.ctx), static_cast<double>(a.ctx)),
      ratio(b.decode_ms_per_tok, a.decode_ms_per_tok), a.decode_ms_per_tok, b.decode_ms_per_tok,
      ratio(b.ttft_ms, a.ttft_ms), a.ttft_ms, b.ttft_ms, ratio(b.prefill_tok_s, a.prefill_tok_s), a.prefill_tok_s,
      b.prefill_tok_s, ratio(b.kv_measured_mb, a.kv_measured_mb), a.kv_measured_mb, b.kv_measured_mb, b.peak_rss_gb);
}

std::vector<std::string> write_sweep_report(const std::vector<SweepRow>& rows, const std::string& dir, bool plots) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("sweep: cannot create --out directory '{}': {}", dir, ec.message());
  std::vector<std::string> written;
  auto write = [&](const std::string& name, const std::string& text) {
    const std::string path = (fs::path(dir) / name).string();
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) fail("sweep: cannot write '{}'", path);
    written.push_back(path);
    return path;
  };
  const std::string csv = write("sweep.csv", sweep_csv(rows));

  std::string plot_note;
  std::vector<const Metric*> plotted;
  if (plots) {
    std::string script = "set terminal png size 800,500\nset datafile separator ','\nset grid\nset key off\n";
    script += "set xlabel 'context (tokens)'\nset logscale x 2\n";
    for (const Metric& m : kMetrics) {
      const std::string png = (fs::path(dir) / (std::string(m.stem) + ".png")).string();
      script += fmt::format("set output {}\nset title {}\nset ylabel {}\nplot {} every ::1 using 3:{} with linespoints lw 2 pt 7\n",
                            gnuplot_string(png), gnuplot_string(std::string(m.label) + " vs context"),
                            gnuplot_string(m.label), gnuplot_string(csv), m.column);
    }
    const std::string gp = write("plots.gp", script);
    plot_note = run_gnuplot(gp);
    if (plot_note.empty()) {
      for (const Metric& m : kMetrics) {
        plotted.push_back(&m);
        written.push_back((fs::path(dir) / (std::string(m.stem) + ".png")).string());
      }
    }
  } else {
    plot_note = "plots not requested (--no-plots)";
  }

  const SweepRow& first = rows.front();
  std::string md = fmt::format("# Context sweep: {}, {} threads, {} generated tokens per context\n\n", first.model,
                               first.threads, first.gen_tokens);
  md += sweep_summary(rows) + "\n\n";
  md += "| ctx | prompt | TTFT ms | prefill tok/s | decode ms/tok | decode tok/s | peak RSS GB | KV est MB | KV measured MB |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const auto& r : rows) {
    md += fmt::format("| {} | {} | {:.1f} | {:.1f} | {:.2f} | {:.1f} | {:.2f} | {:.1f} | {:.1f} |\n", r.ctx,
                      r.prompt_tokens, r.ttft_ms, r.prefill_tok_s, r.decode_ms_per_tok, r.decode_tok_s, r.peak_rss_gb,
                      r.kv_est_mb, r.kv_measured_mb);
  }
  md += "\nData: [sweep.csv](sweep.csv). Peak RSS is the process peak so far, so it never decreases along the sweep.\n";
  if (!plotted.empty()) {
    md += "\n";
    for (const Metric* m : plotted) md += fmt::format("![{}]({}.png)\n", m->label, m->stem);
  } else {
    md += fmt::format("\nNo plots: {}.\n", plot_note);
  }
  write("report.md", md);
  return written;
}

}  // namespace ts
