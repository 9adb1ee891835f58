#include "analysis/chipsim_report.h"

#include <algorithm>
#include <map>

#include "base/error.h"
#include "analysis/report_format.h"
#include "fmt/format.h"

namespace ts {

namespace {

// The seed report's TinyLlama numbers (what it printed, kept to compare against).
constexpr double kSeedProj2048Ms = 349.0;
constexpr double kSeedProj5632Ms = 959.0;
constexpr double kSeedLayerS = 4.4;
constexpr double kSeedTokenS = 96.8;
constexpr int64_t kSeedLayerTiles = 753664;

std::vector<bool> local_layers(const TransformerShape& s) {
  std::vector<bool> local(static_cast<size_t>(s.n_layer));
  for (int64_t l = 0; l < s.n_layer; ++l) local[static_cast<size_t>(l)] = s.layer_is_local(l);
  return local;
}

int64_t tokens_of(const WorkloadOptions& w) { return w.phase == Phase::kPrefill ? w.seq : 1; }

std::string with_commas(double v) {
  auto n = static_cast<int64_t>(v + 0.5);
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// Milliseconds as ms below 10 s, seconds above.
std::string duration(double ms) {
  if (ms <= 0.0) return "-";
  if (ms >= 10000.0) return fmt::format("{:.2f} s", ms / 1000.0);
  if (ms >= 1.0) return fmt::format("{:.1f} ms", ms);
  return fmt::format("{:.3f} ms", ms);
}

std::string chip_line(const ChipParams& p) {
  std::string s = fmt::format("{0}x{0} tiles, {1:g} cycles per tile at {2:g} MHz ({3:.3g} us per tile)", p.tile,
                              p.cycles_per_tile, p.clock_mhz, p.cycles_per_tile / p.clock_mhz);
  if (p.int8_speedup != 1.0) s += fmt::format("; INT8 speedup {:g}x", p.int8_speedup);
  if (p.sparsity > 0) s += fmt::format("; {:g}% of weight tiles zero and skipped", 100.0 * p.sparsity);
  s += p.mem_gbps > 0 ? fmt::format("; memory {:g} GB/s", p.mem_gbps) : "; memory bandwidth not limiting (compute only)";
  s += p.sram_kb > 0 ? fmt::format("; {:g} KiB SRAM per chip", p.sram_kb) : "; no SRAM reuse model";
  if (p.other_ms_per_layer > 0) s += fmt::format("; {:g} ms of other work per layer", p.other_ms_per_layer);
  s += fmt::format("; {} chip{}", p.chips, p.chips > 1 ? "s" : "");
  return s;
}

std::string workload_line(const ChipsimRun& r) {
  const WorkloadOptions& w = r.workload;
  if (!r.shape) {
    return fmt::format("shapes the engine ran, from a recorded profile; weights {:g}-bit, activations {:g}-bit",
                       8.0 * w.weight_bytes, 8.0 * w.act_bytes);
  }
  std::string s = w.phase == Phase::kPrefill ? fmt::format("prefill of a {}-token prompt", w.seq)
                                              : fmt::format("decode of one token at context {}", w.seq);
  s += fmt::format("; weights {:g}-bit, activations and KV {:g}-bit", 8.0 * w.weight_bytes, 8.0 * w.act_bytes);
  const TransformerShape& m = *r.shape;
  if (w.ideal_mha) {
    s += "; ideal-MHA assumption (K/V projections as wide as Q, no attention products, no output projection)";
  } else {
    s += fmt::format("; true shapes (K/V {}x{}, attention products, output {}x{})", m.n_embd, m.n_head_kv * m.head_dim,
                     m.n_embd, m.encoder ? 0 : m.n_vocab);
    if (m.sliding_window > 0) s += fmt::format("; local layers attend over at most {} tokens", m.sliding_window);
    if (m.encoder) s += "; encoder: bidirectional attention, no vocabulary projection";
  }
  return s;
}

std::string shape_text(const MatmulOp& op) { return fmt::format("[{},{}]x[{},{}]", op.m, op.k, op.k, op.n); }

std::string ops_table(const ChipsimRun& r) {
  const ChipEstimate& e = r.est;
  const double per = static_cast<double>(e.tokens);
  std::string s = fmt::format(
      "| op | shape | per layer | layers | tiles each | ms each | tiles per pass | time per pass | MB moved | bound |\n"
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
  for (const auto& o : e.ops) {
    const std::string count = o.op.per_layer ? std::to_string(o.op.count) : fmt::format("{} (per pass)", o.op.count);
    const std::string bound = r.chip.mem_gbps <= 0 ? "compute" : (o.bandwidth_bound() ? "bandwidth" : "compute");
    s += fmt::format("| {} | {} | {} | {} | {} | {:.1f} | {} | {} | {:.1f} | {} |\n", o.op.name, shape_text(o.op), count,
                     o.op.per_layer ? std::to_string(o.op.layers) : "-", with_commas(static_cast<double>(o.tiles_each)),
                     o.ms_each, with_commas(o.tiles_total), duration(o.ms), o.bytes / 1e6, bound);
  }
  s += "\n";
  if (e.n_layer > 0) s += fmt::format("Per layer (average over {} layers): {} tiles, {} of products{} = {}.\n", e.n_layer,
                   with_commas(e.layer_tiles_avg), duration((e.layers_ms - e.other_ms) / static_cast<double>(e.n_layer)),
                   e.other_ms > 0 ? fmt::format(" + {} other", duration(r.chip.other_ms_per_layer)) : "",
                   duration(e.layers_ms / static_cast<double>(e.n_layer)));
  const std::string parts = e.per_token_ops_ms > 0 && e.layers_ms > 0
                                ? fmt::format("layers {} + once-per-pass products {} = ", duration(e.layers_ms),
                                              duration(e.per_token_ops_ms))
                                : "";
  s += fmt::format("Per pass: {}**{}** ({} tiles); {} per token, **{:.4g} tokens/s**.\n", parts, duration(e.pass_ms),
                   with_commas(e.tiles_total), duration(e.pass_ms / per), e.tok_s());
  if (r.chip.mem_gbps > 0 || r.chip.sram_kb > 0) {
    double bytes = 0.0;
    for (const auto& o : e.ops) bytes += o.bytes;
    s += fmt::format("Memory: {:.1f} MB per pass ({:.1f} MB of weights{}).\n", bytes / 1e6, e.weight_bytes / 1e6,
                     e.weights_resident ? ", resident in SRAM after the first pass" : ", streamed every pass");
  }
  return s;
}

std::string multichip_section(const ChipsimRun& r) {
  if (!r.pipeline || !r.tensor) return "";
  const ChipParams& p = r.chip;
  const PipelineEstimate& pl = *r.pipeline;
  const TensorSplitEstimate& ts = *r.tensor;
  std::string stages;
  for (int64_t n : pl.stage_layers) stages += (stages.empty() ? "" : "/") + std::to_string(n);
  std::string s = fmt::format("\n## {} chips (link {:g} GB/s, {:g} us per message)\n\n", p.chips, p.link_gbps,
                              p.link_latency_us);
  s += "| scheme | time per pass | tokens/s | speedup | efficiency | how |\n| --- | ---: | ---: | ---: | ---: | --- |\n";
  s += fmt::format("| one chip | {} | {:.4g} | 1.00x | 100% | - |\n", duration(r.est.pass_ms), r.est.tok_s());
  s += fmt::format(
      "| layer pipelining | {} latency | {:.4g} | {:.2f}x | {:.0f}% | layers per chip {}; throughput needs {} "
      "passes in flight; one hand-off {} |\n",
      duration(pl.latency_ms), pl.tok_s, pl.speedup, 100.0 * pl.efficiency, stages, pl.stage_layers.size(),
      duration(pl.transfer_ms));
  s += fmt::format(
      "| tensor splitting | {} | {:.4g} | {:.2f}x | {:.0f}% | columns (Q/K/V, gate/up, output) and heads split, "
      "rows of attn_out/ffn_down split + ring all-reduce; communication {}{} |\n",
      duration(ts.pass_ms), ts.tok_s, ts.speedup, 100.0 * ts.efficiency, duration(ts.comm_ms),
      p.other_ms_per_layer > 0 ? "; other work per layer not split" : "");
  s += "\nA single sequence gains nothing in latency from pipelining: each token still passes every stage in turn.\n";
  return s;
}

// Per-op comparison of the true workload with the ideal-MHA one (whichever this run is not).
std::string assumption_section(const ChipsimRun& r) {
  if (!r.other_assumption || !r.shape) return "";
  const TransformerShape& m = *r.shape;
  const ChipEstimate& ideal = r.workload.ideal_mha ? r.est : *r.other_assumption;
  const ChipEstimate& truth = r.workload.ideal_mha ? *r.other_assumption : r.est;
  std::map<std::string, std::pair<double, double>> tiles, ms;
  std::vector<std::string> order;
  auto add = [&](const ChipEstimate& e, bool is_true) {
    for (const auto& o : e.ops) {
      if (!tiles.count(o.op.name)) order.push_back(o.op.name);
      (is_true ? tiles[o.op.name].second : tiles[o.op.name].first) += o.tiles_total;
      (is_true ? ms[o.op.name].second : ms[o.op.name].first) += o.ms;
    }
  };
  add(ideal, false);
  add(truth, true);
  std::string s = "\n## What changed vs the ideal-MHA assumption\n\n";
  s += "| op | tiles (ideal MHA) | tiles (true) | time (ideal MHA) | time (true) |\n| --- | ---: | ---: | ---: | ---: |\n";
  for (const auto& name : order) {
    s += fmt::format("| {} | {} | {} | {} | {} |\n", name, with_commas(tiles[name].first), with_commas(tiles[name].second),
                     duration(ms[name].first), duration(ms[name].second));
  }
  s += fmt::format("| **per pass** | {} | {} | {} | {} |\n\n", with_commas(ideal.tiles_total), with_commas(truth.tiles_total),
                   duration(ideal.pass_ms), duration(truth.pass_ms));
  const int64_t kv = m.n_head_kv * m.head_dim;
  if (kv != m.n_embd) {
    s += fmt::format("- K and V projections: {} KV heads of {} (grouped-query attention) make them {}x{}, not {}x{}: {:.0f}x fewer tiles.\n",
                     m.n_head_kv, m.head_dim, m.n_embd, kv, m.n_embd, m.n_head * m.head_dim,
                     static_cast<double>(m.n_head * m.head_dim) / static_cast<double>(kv));
  } else {
    s += "- K and V projections: full multi-head attention, so the ideal-MHA widths are the true ones.\n";
  }
  double attn = 0.0, attn_ms = 0.0;
  for (const auto& o : truth.ops) {
    if (o.op.kind == OpKind::kAttention) {
      attn += o.tiles_total;
      attn_ms += o.ms;
    }
  }
  s += fmt::format("- Attention products (QK^T and PV, {} heads, context {}{}): {} tiles, {} per pass, which the ideal-MHA estimate leaves out; they grow with context.\n",
                   m.n_head, r.workload.seq, m.sliding_window > 0 ? fmt::format(", local layers capped at {}", m.sliding_window) : "",
                   with_commas(attn), duration(attn_ms));
  if (!m.encoder) {
    for (const auto& o : truth.ops) {
      if (!o.op.per_layer) {
        s += fmt::format("- Output projection {}x{} once per pass: {} tiles, {} ({} of the true pass).\n", m.n_embd,
                         m.n_vocab, with_commas(o.tiles_total), duration(o.ms), pct(o.ms, truth.pass_ms));
      }
    }
  }
  s += fmt::format("- Net: {} per pass with the true shapes vs {} under the ideal-MHA assumption ({:.3f}x).\n",
                   duration(truth.pass_ms), duration(ideal.pass_ms), ideal.pass_ms > 0 ? truth.pass_ms / ideal.pass_ms : 0.0);
  return s;
}

nlohmann::json estimate_json(const ChipEstimate& e) {
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& o : e.ops) {
    ops.push_back({{"op", o.op.name}, {"kind", o.op.kind == OpKind::kWeight ? "weight" : "attention"},
                   {"m", o.op.m}, {"k", o.op.k}, {"n", o.op.n}, {"count", o.op.count}, {"layers", o.op.layers},
                   {"per_layer", o.op.per_layer}, {"tiles_each", o.tiles_each}, {"ms_each", o.ms_each},
                   {"tiles_total", o.tiles_total}, {"compute_ms", o.compute_ms}, {"memory_ms", o.memory_ms},
                   {"ms", o.ms}, {"bytes", o.bytes}, {"bound", o.bandwidth_bound() ? "bandwidth" : "compute"}});
  }
  return {{"ops", ops},
          {"layer_ms", e.layer_ms},
          {"layer_tiles_avg", e.layer_tiles_avg},
          {"layers_ms", e.layers_ms},
          {"other_ms", e.other_ms},
          {"per_token_ops_ms", e.per_token_ops_ms},
          {"tiles_total", e.tiles_total},
          {"pass_ms", e.pass_ms},
          {"tokens", e.tokens},
          {"ms_per_token", e.ms_per_token()},
          {"tok_s", e.tok_s()},
          {"weight_bytes", e.weight_bytes},
          {"weights_resident", e.weights_resident}};
}

void add_multichip(ChipsimRun& r) {
  if (r.chip.chips <= 1) return;
  const double row_bytes = r.shape ? static_cast<double>(r.shape->n_embd) * r.workload.act_bytes : 0.0;
  r.pipeline = pipeline_split(r.est, row_bytes, tokens_of(r.workload), r.chip);
  r.tensor = tensor_split(r.ops, r.est, r.local, r.chip);
}

}  // namespace

bool is_tinyllama_shape(const TransformerShape& s) {
  return s.n_embd == 2048 && s.n_ff == 5632 && s.n_layer == 22 && s.n_head == 32;
}

ChipsimRun run_chipsim(const TransformerShape& shape, const WorkloadOptions& w, const ChipParams& p) {
  p.validate();
  if (w.tile != p.tile) fail("chipsim: workload tile {} differs from chip tile {}", w.tile, p.tile);
  ChipsimRun r;
  r.model = shape.name;
  r.shape = shape;
  r.workload = w;
  r.chip = p;
  r.local = local_layers(shape);
  r.ops = build_ops(shape, w);
  r.est = estimate(r.ops, shape.n_layer, r.local, tokens_of(w), p);
  WorkloadOptions other = w;
  other.ideal_mha = !w.ideal_mha;
  r.other_assumption = estimate(build_ops(shape, other), shape.n_layer, r.local, tokens_of(w), p);
  add_multichip(r);
  return r;
}

ChipsimRun run_chipsim_profile(const ProfileWorkload& profile, const WorkloadOptions& w, const ChipParams& p) {
  ChipsimRun r;
  r.model = profile.model;
  r.workload = w;
  r.chip = p;
  r.ops = profile.ops;
  r.est = estimate(r.ops, 0, {}, profile.tokens, p);
  if (p.chips > 1) r.tensor = tensor_split(r.ops, r.est, {}, p);
  return r;
}

std::string chipsim_markdown(const ChipsimRun& r) {
  const std::string pass = !r.shape ? fmt::format("recorded profile of {} tokens", r.est.tokens)
                           : r.workload.phase == Phase::kPrefill ? fmt::format("prefill of {} tokens", r.workload.seq)
                                                                 : fmt::format("decode at context {}", r.workload.seq);
  std::string s = fmt::format("# chipsim: {}, {}\n\nChip: {}.\nWorkload: {}.\n\n", r.model, pass, chip_line(r.chip),
                              workload_line(r));
  s += ops_table(r);
  s += multichip_section(r);
  if (!r.pipeline && r.tensor) {
    s += fmt::format("\nTensor splitting over {} chips: {} per pass, {:.2f}x, efficiency {:.0f}%.\n", r.chip.chips,
                     duration(r.tensor->pass_ms), r.tensor->speedup, 100.0 * r.tensor->efficiency);
  }
  s += assumption_section(r);
  if (r.shape && is_tinyllama_shape(*r.shape)) s += seed_check_markdown();
  return s;
}

nlohmann::json chipsim_json(const ChipsimRun& r) {
  const ChipParams& p = r.chip;
  nlohmann::json j;
  j["model"] = r.model;
  j["chip"] = {{"tile", p.tile}, {"clock_mhz", p.clock_mhz}, {"cycles_per_tile", p.cycles_per_tile},
               {"int8_speedup", p.int8_speedup}, {"sparsity", p.sparsity}, {"mem_gbps", p.mem_gbps},
               {"sram_kb", p.sram_kb}, {"other_ms_per_layer", p.other_ms_per_layer}, {"chips", p.chips},
               {"link_gbps", p.link_gbps}, {"link_latency_us", p.link_latency_us}};
  j["workload"] = {{"phase", r.workload.phase == Phase::kPrefill ? "prefill" : "decode"}, {"seq", r.workload.seq},
                   {"ideal_mha", r.workload.ideal_mha}, {"weight_bytes", r.workload.weight_bytes},
                   {"act_bytes", r.workload.act_bytes}, {"from_profile", !r.shape.has_value()}};
  j["estimate"] = estimate_json(r.est);
  if (r.other_assumption) j[r.workload.ideal_mha ? "true_shapes" : "ideal_mha"] = estimate_json(*r.other_assumption);
  if (r.pipeline) {
    j["pipeline"] = {{"stage_layers", r.pipeline->stage_layers}, {"stage_ms_max", r.pipeline->stage_ms_max},
                     {"transfer_ms", r.pipeline->transfer_ms}, {"latency_ms", r.pipeline->latency_ms},
                     {"tok_s", r.pipeline->tok_s}, {"speedup", r.pipeline->speedup}, {"efficiency", r.pipeline->efficiency}};
  }
  if (r.tensor) {
    j["tensor_split"] = {{"compute_ms", r.tensor->compute_ms}, {"comm_ms", r.tensor->comm_ms}, {"pass_ms", r.tensor->pass_ms},
                         {"tok_s", r.tensor->tok_s}, {"speedup", r.tensor->speedup}, {"efficiency", r.tensor->efficiency}};
  }
  if (r.shape && is_tinyllama_shape(*r.shape)) {
    const SeedCheck c = seed_check();
    j["seed_check"] = {{"proj_2048_ms", c.proj_2048_ms}, {"proj_5632_ms", c.proj_5632_ms}, {"layer_s", c.layer_s},
                       {"token_s", c.token_s}, {"layer_tiles", c.layer_tiles}, {"seed_layer_tiles", kSeedLayerTiles}};
  }
  return j;
}

SeedCheck seed_check() {
  ChipParams p;  // defaults are the seed's chip: 8x8 tiles, 532 cycles, 100 MHz
  p.other_ms_per_layer = 100.0;
  WorkloadOptions w;
  w.ideal_mha = true;
  const TransformerShape s = preset_shape("tinyllama-1.1b");
  const ChipEstimate e = estimate(build_ops(s, w), s.n_layer, local_layers(s), 1, p);
  SeedCheck c;
  for (const auto& o : e.ops) {
    if (o.op.name == "attn_q") c.proj_2048_ms = o.ms_each;
    if (o.op.name == "ffn_up") c.proj_5632_ms = o.ms_each;
  }
  c.layer_s = e.layers_ms / static_cast<double>(s.n_layer) / 1000.0;
  c.token_s = e.pass_ms / 1000.0;
  c.layer_tiles = static_cast<int64_t>(e.layer_tiles_avg + 0.5);
  return c;
}

std::string seed_check_markdown() {
  const SeedCheck c = seed_check();
  const int64_t t2048 = tile_count(1, 2048, 2048, 8);
  const int64_t t5632 = tile_count(1, 2048, 5632, 8);
  auto diff = [](double ours, double seed) { return fmt::format("{:+.2f}%", 100.0 * (ours - seed) / seed); };
  std::string s = "\n## Seed cross-check (TinyLlama, 8x8 tiles, 532 cycles at 100 MHz, ideal MHA, 100 ms other per layer)\n\n";
  s += "| quantity | seed report | recomputed | difference |\n| --- | ---: | ---: | ---: |\n";
  s += fmt::format("| 2048x2048 projection ({} tiles) | {:g} ms | {:.1f} ms | {} |\n", with_commas(static_cast<double>(t2048)),
                   kSeedProj2048Ms, c.proj_2048_ms, diff(c.proj_2048_ms, kSeedProj2048Ms));
  s += fmt::format("| 2048x5632 projection ({} tiles) | {:g} ms | {:.1f} ms | {} |\n", with_commas(static_cast<double>(t5632)),
                   kSeedProj5632Ms, c.proj_5632_ms, diff(c.proj_5632_ms, kSeedProj5632Ms));
  s += fmt::format("| per layer | {:g} s | {:.3f} s | {} |\n", kSeedLayerS, c.layer_s, diff(c.layer_s, kSeedLayerS));
  s += fmt::format("| per token (22 layers) | {:g} s | {:.2f} s | {} |\n", kSeedTokenS, c.token_s, diff(c.token_s, kSeedTokenS));
  s += fmt::format("| tiles per layer | {} | {} | {} |\n\n", with_commas(static_cast<double>(kSeedLayerTiles)),
                   with_commas(static_cast<double>(c.layer_tiles)),
                   diff(static_cast<double>(c.layer_tiles), static_cast<double>(kSeedLayerTiles)));
  s += fmt::format(
      "The seed's per-layer tile total ({}) disagrees with its own per-matrix counts: 4 x {} (Q, K, V, O) + 3 x {} "
      "(gate, up, down) = {}. Its per-token time follows the per-matrix counts ({:.2f} s of products + 0.1 s per "
      "layer, rounded to {:g} s x 22 = {:g} s), not the stated total, which would give {:.2f} s per token.\n",
      with_commas(static_cast<double>(kSeedLayerTiles)), with_commas(static_cast<double>(t2048)),
      with_commas(static_cast<double>(t5632)), with_commas(static_cast<double>(4 * t2048 + 3 * t5632)),
      c.layer_s - 0.1, kSeedLayerS, kSeedTokenS,
      22.0 * (static_cast<double>(kSeedLayerTiles) * 532.0 / 100e6 + 0.1));
  return s;
}

std::string compare_markdown(const std::vector<std::string>& presets, const WorkloadOptions& w, const ChipParams& p) {
  const nlohmann::json j = compare_json(presets, w, p);
  std::string s = fmt::format("# chipsim: models compared\n\nChip: {}.\nWorkload: {} {}.\n\n", chip_line(p),
                              w.phase == Phase::kPrefill ? "prefill of" : "decode at context",
                              w.phase == Phase::kPrefill ? fmt::format("{} tokens", w.seq) : std::to_string(w.seq));
  s += "| model | matrix params | layers | d_model | d_ff | heads (KV) | vocab | time per token, ideal MHA | "
       "time per token, true | tokens/s, true | output projection share |\n"
       "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const auto& row : j) {
    s += fmt::format("| {} | {:.0f}M | {} | {} | {} | {} ({}) | {} | {} | {} | {:.4g} | {} |\n",
                     row["model"].get<std::string>(), row["matrix_params"].get<double>() / 1e6, row["layers"].get<int64_t>(),
                     row["d_model"].get<int64_t>(), row["d_ff"].get<int64_t>(), row["heads"].get<int64_t>(),
                     row["kv_heads"].get<int64_t>(), row["vocab"].get<int64_t>(),
                     duration(row["ideal_mha_ms_per_token"].get<double>()), duration(row["true_ms_per_token"].get<double>()),
                     row["true_tok_s"].get<double>(),
                     pct(row["output_ms"].get<double>(), row["true_pass_ms"].get<double>()));
  }
  s += "\nEncoders (BERT, DistilBERT) have no vocabulary projection; their 'token' is one position of the sequence.\n";
  return s;
}

nlohmann::json compare_json(const std::vector<std::string>& presets, const WorkloadOptions& w, const ChipParams& p) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& name : presets) {
    const TransformerShape s = preset_shape(name);
    const ChipsimRun r = run_chipsim(s, w, p);
    const ChipEstimate& truth = w.ideal_mha ? *r.other_assumption : r.est;
    const ChipEstimate& ideal = w.ideal_mha ? r.est : *r.other_assumption;
    double output_ms = 0.0;
    for (const auto& o : truth.ops) {
      if (!o.op.per_layer) output_ms += o.ms;
    }
    rows.push_back({{"preset", name}, {"model", s.name}, {"matrix_params", s.matrix_params()}, {"layers", s.n_layer},
                    {"d_model", s.n_embd}, {"d_ff", s.n_ff}, {"heads", s.n_head}, {"kv_heads", s.n_head_kv},
                    {"vocab", s.n_vocab}, {"ideal_mha_ms_per_token", ideal.ms_per_token()},
                    {"true_ms_per_token", truth.ms_per_token()}, {"true_tok_s", truth.tok_s()},
                    {"true_pass_ms", truth.pass_ms}, {"output_ms", output_ms}});
  }
  return rows;
}

}  // namespace ts
