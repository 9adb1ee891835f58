#include "analysis/memory_report.h"

#include <sys/resource.h>
#include <unistd.h>

#include "base/error.h"
#include "analysis/report_format.h"
#include "fmt/format.h"
#include "model/kv_cache.h"

namespace ts {

namespace {

double mb(double bytes) { return bytes / 1e6; }

}  // namespace

double peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;  // ru_maxrss is in KiB on Linux
}

double kv_bytes_per_token_estimate(const ModelConfig& c, KvType type) {
  // q8_0: f16 scale + 32 int8 per block
  const double bytes_per_value = type == KvType::kQ8_0 ? 34.0 / 32.0 : type == KvType::kF32 ? 4.0 : 2.0;
  return 2.0 * static_cast<double>(c.n_layer) * static_cast<double>(c.kv_dim()) * bytes_per_value;
}

MemoryReport measure_memory(const ModelConfig& c, const std::string& model_name, double weight_bytes,
                            const std::vector<int64_t>& contexts, const std::vector<int64_t>& sequences,
                            KvType kv_type) {
  if (contexts.empty() || sequences.empty()) fail("bench memory: --ctx and --seqs need at least one value");
  for (int64_t x : contexts) {
    if (x < 1 || x > (int64_t{1} << 22)) fail("bench memory: context {} is out of range", x);
  }
  for (int64_t x : sequences) {
    if (x < 1 || x > 4096) fail("bench memory: sequence count {} is out of range", x);
  }
  MemoryReport r;
  r.model = model_name;
  r.weight_bytes = weight_bytes;
  r.contexts = contexts;
  r.sequences = sequences;
  r.kv_type = kv_type;
  r.kv_bytes_per_token_est = kv_bytes_per_token_estimate(c, kv_type);
  {
    const int64_t probe_ctx = contexts.front();
    const KvCache kv(c, probe_ctx, kv_type);
    r.kv_bytes_per_token_measured = static_cast<double>(kv.bytes()) / static_cast<double>(probe_ctx);
  }
  r.peak_rss_bytes = peak_rss_bytes();
  r.ram_bytes = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
  return r;
}

std::string memory_markdown(const MemoryReport& r) {
  const double per_tok = r.kv_bytes_per_token_measured;
  std::string s = fmt::format("# Memory: {}\n\nThis machine: {:.1f} GB of physical memory (the ceiling below).\n\n",
                              r.model, r.ram_bytes / 1e9);
  s += "| quantity | value | of RAM |\n| --- | ---: | ---: |\n";
  s += fmt::format("| weights (file tensors) | {:.1f} MB | {} |\n", mb(r.weight_bytes), pct(r.weight_bytes, r.ram_bytes, 2));
  // KB here are 1024 bytes, as KV sizes are usually quoted (TinyLlama: 22 x 2 x 256 x 2 B = 22.0 KB).
  s += fmt::format("| KV per token, computed (2 x layers x kv_dim x {}) | {:.1f} KB ({:.0f} B) | - |\n",
                   r.kv_type == KvType::kQ8_0 ? "34/32 B, q8_0" : r.kv_type == KvType::kF32 ? "4 B, f32" : "2 B, f16", r.kv_bytes_per_token_est / 1024.0,
                   r.kv_bytes_per_token_est);
  s += fmt::format("| KV per token, measured (allocated cache / context) | {:.1f} KB ({:.0f} B) | - |\n", per_tok / 1024.0, per_tok);
  s += fmt::format("| peak RSS of this process | {:.1f} MB | {} |\n\n", mb(r.peak_rss_bytes), pct(r.peak_rss_bytes, r.ram_bytes, 2));
  const double free_for_kv = r.ram_bytes - r.weight_bytes;
  s += fmt::format("Longest single context that fits beside the weights: {:.0f} tokens.\n\n",
                   per_tok > 0 ? free_for_kv / per_tok : 0.0);
  s += "Projection by context (one sequence):\n\n| context | KV | weights + KV | of RAM |\n| ---: | ---: | ---: | ---: |\n";
  for (int64_t ctx : r.contexts) {
    const double kv = per_tok * static_cast<double>(ctx);
    s += fmt::format("| {} | {:.1f} MB | {:.1f} MB | {} |\n", ctx, mb(kv), mb(kv + r.weight_bytes),
                     pct(kv + r.weight_bytes, r.ram_bytes, 2));
  }
  s += "\nKV by number of sequences (rows) and context (columns), weights excluded:\n\n| sequences |";
  for (int64_t ctx : r.contexts) s += fmt::format(" ctx {} |", ctx);
  s += "\n| ---: |";
  for (size_t i = 0; i < r.contexts.size(); ++i) s += " ---: |";
  s += "\n";
  for (int64_t n : r.sequences) {
    s += fmt::format("| {} |", n);
    for (int64_t ctx : r.contexts) {
      const double kv = per_tok * static_cast<double>(ctx) * static_cast<double>(n);
      s += fmt::format(" {:.1f} MB ({}) |", mb(kv), pct(kv + r.weight_bytes, r.ram_bytes, 2));
    }
    s += "\n";
  }
  s += "\nPercentages in the last table include the weights (total against RAM).\n";
  return s;
}

nlohmann::json memory_json(const MemoryReport& r) {
  nlohmann::json proj = nlohmann::json::array();
  for (int64_t ctx : r.contexts) {
    for (int64_t n : r.sequences) {
      const double kv = r.kv_bytes_per_token_measured * static_cast<double>(ctx) * static_cast<double>(n);
      proj.push_back({{"ctx", ctx}, {"sequences", n}, {"kv_bytes", kv}, {"total_bytes", kv + r.weight_bytes},
                      {"fraction_of_ram", r.ram_bytes > 0 ? (kv + r.weight_bytes) / r.ram_bytes : 0.0}});
    }
  }
  return {{"model", r.model},
          {"weight_bytes", r.weight_bytes},
          {"kv_type", std::string(kv_type_name(r.kv_type))},
          {"kv_bytes_per_token_est", r.kv_bytes_per_token_est},
          {"kv_bytes_per_token_measured", r.kv_bytes_per_token_measured},
          {"peak_rss_bytes", r.peak_rss_bytes},
          {"ram_bytes", r.ram_bytes},
          {"projections", proj}};
}

}  // namespace ts
