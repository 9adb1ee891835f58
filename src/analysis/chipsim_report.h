#pragma once
// chipsim reports: the per-op table, per-layer and per-token totals, multi-chip schemes, what
// the seed's ideal-MHA simplification changes, the seed cross-check, and a comparison across
// models. Markdown for people, JSON for tools.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/chipsim.h"
#include "analysis/chipsim_workload.h"

namespace ts {

struct ChipsimRun {
  std::string model;
  std::optional<TransformerShape> shape;  // absent when the ops come from a recorded profile
  WorkloadOptions workload;
  ChipParams chip;
  std::vector<bool> local;               // per layer: sliding-window layer
  std::vector<MatmulOp> ops;
  ChipEstimate est;
  std::optional<ChipEstimate> other_assumption;  // the same model under the opposite ideal_mha
  std::optional<PipelineEstimate> pipeline;      // chips > 1
  std::optional<TensorSplitEstimate> tensor;
};

ChipsimRun run_chipsim(const TransformerShape& shape, const WorkloadOptions& w, const ChipParams& p);
ChipsimRun run_chipsim_profile(const ProfileWorkload& profile, const WorkloadOptions& w, const ChipParams& p);

std::string chipsim_markdown(const ChipsimRun& r);
nlohmann::json chipsim_json(const ChipsimRun& r);

// The seed report's TinyLlama figures against the same arithmetic redone (8x8 tiles, 532 cycles,
// 100 MHz, ideal MHA, 100 ms of other work per layer), including its per-layer tile total that
// disagrees with its own per-matrix counts.
struct SeedCheck {
  double proj_2048_ms = 0, proj_5632_ms = 0, layer_s = 0, token_s = 0;
  int64_t layer_tiles = 0;
};
SeedCheck seed_check();
std::string seed_check_markdown();
bool is_tinyllama_shape(const TransformerShape& s);

// One row per preset under the same chip: the seed's ideal-MHA estimate and the true workload.
std::string compare_markdown(const std::vector<std::string>& presets, const WorkloadOptions& w, const ChipParams& p);
nlohmann::json compare_json(const std::vector<std::string>& presets, const WorkloadOptions& w, const ChipParams& p);

}  // namespace ts
