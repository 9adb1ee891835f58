// tinyserve chipsim: estimates a tiled matmul accelerator from a model's true shapes.
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "analysis/chipsim_report.h"
#include "apps/common.h"
#include "base/error.h"

namespace ts {

namespace {

struct ChipsimArgs {
  std::string model;
  std::string profile;
  std::vector<std::string> compare;
  bool compare_all = false;
  ChipParams chip;
  std::string phase = "decode";
  int64_t seq = 512;
  bool ideal_mha = false;
  double weight_bits = 0.0;  // 0: 16, or 8 when an INT8 speedup is given
  double act_bits = 16.0;
  bool json = false;
};

TransformerShape resolve_model(const std::string& spec) {
  if (has_preset(spec)) return preset_shape(spec);
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(spec, ec)) {
    const fs::path config = fs::path(spec) / "config.json";
    if (!fs::exists(config, ec)) fail("{}: directory has no config.json", spec);
    return shape_from_config_json(config.string());
  }
  if (!fs::exists(spec, ec)) {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    fail("--model '{}' is neither a preset ({}) nor an existing GGUF or config.json", spec, known);
  }
  if (fs::path(spec).extension() == ".json") return shape_from_config_json(spec);
  return shape_from_gguf(spec);
}

void run_chipsim_command(ChipsimArgs& a) {
  const int sources = (a.model.empty() ? 0 : 1) + (a.profile.empty() ? 0 : 1) + (a.compare_all ? 1 : 0);
  if (sources != 1) fail("chipsim: give exactly one of --model, --profile, --compare");
  WorkloadOptions w;
  w.phase = a.phase == "prefill" ? Phase::kPrefill : Phase::kDecode;
  w.seq = a.seq;
  w.ideal_mha = a.ideal_mha;
  w.tile = a.chip.tile;
  const double weight_bits = a.weight_bits > 0 ? a.weight_bits : (a.chip.int8_speedup != 1.0 ? 8.0 : 16.0);
  w.weight_bytes = weight_bits / 8.0;
  w.act_bytes = a.act_bits / 8.0;
  a.chip.validate();
  if (a.compare_all) {
    std::vector<std::string> names = a.compare;
    if (names.empty()) names = preset_names();
    for (const auto& n : names) {
      if (!has_preset(n)) preset_shape(n);  // throws naming the unknown preset and the known ones
    }
    if (a.json) {
      std::printf("%s\n", compare_json(names, w, a.chip).dump(2).c_str());
    } else {
      std::printf("%s", compare_markdown(names, w, a.chip).c_str());
    }
    return;
  }
  const ChipsimRun r = a.profile.empty() ? run_chipsim(resolve_model(a.model), w, a.chip)
                                         : run_chipsim_profile(ops_from_profile_json(a.profile, w.weight_bytes, w.act_bytes),
                                                               w, a.chip);
  if (a.json) {
    std::printf("%s\n", chipsim_json(r).dump(2).c_str());
  } else {
    std::printf("%s", chipsim_markdown(r).c_str());
  }
}

}  // namespace

void add_chipsim_command(CLI::App& app) {
  static ChipsimArgs args;
  CLI::App* c = app.add_subcommand("chipsim", "Estimate a tiled matmul accelerator from a model's true shapes");
  c->add_option("--model", args.model, "Preset name, GGUF file, config.json (or its directory)");
  c->add_option("--profile", args.profile, "Shapes recorded by `tinyserve profile --json`")->check(CLI::ExistingFile);
  c->add_flag("--compare", args.compare_all, "Table across models (all presets, or --compare-models)");
  c->add_option("--compare-models", args.compare, "Presets for --compare")->delimiter(',');
  c->add_option("--tile", args.chip.tile, "Tile edge T (T x T tiles)")->check(CLI::Range(1, 65536));
  c->add_option("--clock-mhz", args.chip.clock_mhz, "Clock in MHz")->check(CLI::Range(1e-3, 1e6));
  c->add_option("--cycles-per-tile", args.chip.cycles_per_tile, "Cycles per tile multiplication")->check(CLI::Range(1e-3, 1e12));
  c->add_option("--chips", args.chip.chips, "Chips (layer pipelining and tensor splitting)")->check(CLI::Range(1, 4096));
  c->add_option("--int8-speedup", args.chip.int8_speedup, "Tile cycles divided by X (weights 8-bit unless --weight-bits)")
      ->check(CLI::Range(1e-3, 1e6));
  c->add_option("--sparsity", args.chip.sparsity, "Fraction of weight tiles that are zero and skipped")->check(CLI::Range(0.0, 0.999));
  c->add_option("--mem-gbps", args.chip.mem_gbps, "Memory bandwidth in GB/s (0: compute only)")->check(CLI::Range(0.0, 1e6));
  c->add_option("--sram-kb", args.chip.sram_kb, "On-chip SRAM per chip in KiB (0: no reuse model)")->check(CLI::Range(0.0, 1e9));
  c->add_option("--phase", args.phase, "decode (one token) or prefill (a prompt of --seq tokens)")
      ->check(CLI::IsMember({"decode", "prefill"}));
  c->add_option("--seq", args.seq, "Context length (decode) or prompt length (prefill)")->check(CLI::Range(1, 1 << 20));
  c->add_option("--other-ms-per-layer", args.chip.other_ms_per_layer, "Non-matmul time per layer in ms")
      ->check(CLI::Range(0.0, 1e9));
  c->add_flag("--ideal-mha", args.ideal_mha, "The seed's assumptions: K/V as wide as Q, no attention products, no output");
  c->add_option("--weight-bits", args.weight_bits, "Bits per weight on the chip (default 16, or 8 with --int8-speedup)")
      ->check(CLI::Range(1.0, 64.0));
  c->add_option("--act-bits", args.act_bits, "Bits per activation and KV element")->check(CLI::Range(1.0, 64.0));
  c->add_option("--link-gbps", args.chip.link_gbps, "Chip-to-chip bandwidth in GB/s")->check(CLI::Range(1e-6, 1e6));
  c->add_option("--link-latency-us", args.chip.link_latency_us, "Chip-to-chip latency per message in us")
      ->check(CLI::Range(0.0, 1e9));
  c->add_flag("--json", args.json, "JSON instead of Markdown");
  c->callback([] { run_chipsim_command(args); });
}

}  // namespace ts
