// chipsim: tile counting on ragged shapes, causal tile skipping against a brute-force count,
// the seed's TinyLlama figures, the true-shape corrections, memory bounds, multi-chip
// arithmetic, and the config.json / profile parsers' errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <unistd.h>

#include "analysis/chipsim.h"
#include "analysis/chipsim_report.h"
#include "analysis/chipsim_workload.h"

namespace ts {
namespace {

const MatmulOp* find_op(const std::vector<MatmulOp>& ops, const std::string& name) {
  for (const auto& op : ops) {
    if (op.name == name) return &op;
  }
  return nullptr;
}

std::string write_temp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / (name + "_" + std::to_string(getpid()) + ".json");
  std::ofstream(path) << text;
  return path.string();
}

TEST(ChipsimTiles, RaggedDimensionsRoundUpEach) {
  EXPECT_EQ(tile_count(1, 2048, 2048, 8), 256 * 256);
  EXPECT_EQ(tile_count(1, 2048, 5632, 8), 256 * 704);
  EXPECT_EQ(tile_count(1, 2049, 2048, 8), 257 * 256);
  EXPECT_EQ(tile_count(9, 7, 17, 8), 2 * 1 * 3);
  EXPECT_EQ(tile_count(1, 1, 1, 8), 1);
  EXPECT_EQ(tile_count(8, 8, 8, 8), 1);
  EXPECT_EQ(tile_count(16, 8, 9, 8), 2 * 1 * 2);
  EXPECT_EQ(tile_count(5, 5, 5, 1), 125);
  EXPECT_THROW(tile_count(0, 8, 8, 8), std::exception);
  EXPECT_THROW(tile_count(8, 8, 8, 0), std::exception);
  EXPECT_THROW(tile_count(int64_t{1} << 24, int64_t{1} << 24, int64_t{1} << 24, 1), std::exception);  // overflow
}

// A tile pair is needed when any (query r, key c) in it is visible: c <= r and c > r - window.
int64_t brute_force_pairs(int64_t seq, int64_t tile, bool causal, int64_t window) {
  const int64_t tiles = (seq + tile - 1) / tile;
  int64_t pairs = 0;
  for (int64_t i = 0; i < tiles; ++i) {
    for (int64_t j = 0; j < tiles; ++j) {
      bool needed = false;
      for (int64_t r = i * tile; r < std::min(seq, (i + 1) * tile) && !needed; ++r) {
        for (int64_t c = j * tile; c < std::min(seq, (j + 1) * tile) && !needed; ++c) {
          needed = !causal || (c <= r && (window == 0 || c > r - window));
        }
      }
      pairs += needed ? 1 : 0;
    }
  }
  return pairs;
}

TEST(ChipsimTiles, MaskedTilePairsMatchBruteForce) {
  for (int64_t seq : {1, 7, 8, 9, 33, 100}) {
    for (int64_t tile : {1, 4, 8}) {
      for (int64_t window : {0, 1, 5, 8, 16, 40}) {
        EXPECT_EQ(masked_tile_pairs(seq, tile, true, window), brute_force_pairs(seq, tile, true, window))
            << seq << " " << tile << " " << window;
      }
      EXPECT_EQ(masked_tile_pairs(seq, tile, false, 0), brute_force_pairs(seq, tile, false, 0));
    }
  }
}

TEST(ChipsimWorkload, TrueShapesUseGqaAttentionAndOutput) {
  const TransformerShape s = preset_shape("tinyllama-1.1b");
  WorkloadOptions w;
  w.seq = 100;
  const auto ops = build_ops(s, w);
  const MatmulOp* k = find_op(ops, "attn_k");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->k, 2048);
  EXPECT_EQ(k->n, 256);
  const MatmulOp* scores = find_op(ops, "attn_scores");
  ASSERT_NE(scores, nullptr);
  EXPECT_EQ(scores->m, 1);
  EXPECT_EQ(scores->n, 100);
  EXPECT_EQ(scores->count, 32);
  EXPECT_EQ(scores->layers, 22);
  const MatmulOp* out = find_op(ops, "output");
  ASSERT_NE(out, nullptr);
  EXPECT_FALSE(out->per_layer);
  EXPECT_EQ(out->n, 32000);

  w.ideal_mha = true;
  const auto ideal = build_ops(s, w);
  EXPECT_EQ(find_op(ideal, "attn_k")->n, 2048);
  EXPECT_EQ(find_op(ideal, "attn_scores"), nullptr);
  EXPECT_EQ(find_op(ideal, "output"), nullptr);
}

TEST(ChipsimWorkload, GemmaLocalLayersCapTheContext) {
  const TransformerShape s = preset_shape("gemma3-270m");
  WorkloadOptions w;
  w.seq = 4096;
  const auto ops = build_ops(s, w);
  const MatmulOp* local = find_op(ops, "attn_scores (local)");
  const MatmulOp* global = find_op(ops, "attn_scores");
  ASSERT_NE(local, nullptr);
  ASSERT_NE(global, nullptr);
  EXPECT_EQ(local->n, 512);
  EXPECT_EQ(global->n, 4096);
  EXPECT_EQ(local->layers, 15);
  EXPECT_EQ(global->layers, 3);
  EXPECT_EQ(find_op(ops, "attn_k")->n, 256);  // one KV head of 256

  // Prefill: the causal mask halves (roughly) the global tiles; the window caps the local ones.
  w.phase = Phase::kPrefill;
  w.seq = 1024;
  const auto pre = build_ops(s, w);
  EXPECT_EQ(find_op(pre, "attn_scores")->causal_tiles, masked_tile_pairs(1024, 8, true, 0) * 32);
  EXPECT_EQ(find_op(pre, "attn_scores (local)")->causal_tiles, masked_tile_pairs(1024, 8, true, 512) * 32);
  EXPECT_EQ(find_op(pre, "output")->m, 1);  // logits of the last position only
}

TEST(ChipsimSeed, ReproducesTheSeedsTinyLlamaFigures) {
  const SeedCheck c = seed_check();
  EXPECT_NEAR(c.proj_2048_ms, 349.0, 349.0 * 0.01);
  EXPECT_NEAR(c.proj_5632_ms, 959.0, 959.0 * 0.01);
  EXPECT_NEAR(c.token_s, 96.8, 96.8 * 0.01);
  EXPECT_EQ(c.layer_tiles, 4 * 65536 + 3 * 180224);
  EXPECT_NE(seed_check_markdown().find("753,664"), std::string::npos);
}

TEST(ChipsimEstimate, CorrectedTinyLlamaDecodeAddsAttentionAndOutput) {
  ChipParams p;
  p.other_ms_per_layer = 100.0;
  WorkloadOptions w;
  w.seq = 512;
  const ChipsimRun r = run_chipsim(preset_shape("tinyllama-1.1b"), w, p);
  ASSERT_TRUE(r.other_assumption.has_value());
  const double per_tile_ms = 532.0 / 100e6 * 1e3;
  // Per layer: Q, O 65,536; K, V 8,192; gate, up, down 180,224; scores and values 32 heads x 512 tiles.
  const double layer_tiles = 2 * 65536 + 2 * 8192 + 3 * 180224 + 2 * 32 * 512;
  const double expected_ms = 22 * (layer_tiles * per_tile_ms + 100.0) + 1024000 * per_tile_ms;
  EXPECT_NEAR(r.est.pass_ms, expected_ms, 1e-6 * expected_ms);
  EXPECT_NEAR(r.est.layer_tiles_avg, layer_tiles, 1e-9);
  EXPECT_NEAR(r.other_assumption->pass_ms, 22 * ((4 * 65536 + 3 * 180224) * per_tile_ms + 100.0), 1e-3);
  EXPECT_NE(chipsim_markdown(r).find("What changed vs the ideal-MHA assumption"), std::string::npos);
}

TEST(ChipsimEstimate, SpeedupsSparsityAndBandwidth) {
  const TransformerShape s = preset_shape("smollm2-135m");
  WorkloadOptions w;
  const auto ops = build_ops(s, w);
  ChipParams p;
  const ChipEstimate base = estimate(ops, s.n_layer, {}, 1, p);
  p.int8_speedup = 4.0;
  EXPECT_NEAR(estimate(ops, s.n_layer, {}, 1, p).pass_ms, base.pass_ms / 4.0, 1e-9 * base.pass_ms);
  p.int8_speedup = 1.0;
  p.sparsity = 0.5;
  const ChipEstimate sparse = estimate(ops, s.n_layer, {}, 1, p);
  for (size_t i = 0; i < ops.size(); ++i) {
    const double f = ops[i].kind == OpKind::kWeight ? 0.5 : 1.0;  // attention products stay dense
    EXPECT_NEAR(sparse.ops[i].tiles_total, base.ops[i].tiles_total * f, 1e-6) << ops[i].name;
  }
  // A very fast chip on slow memory: decode is bandwidth-bound, time = bytes / bandwidth.
  p = ChipParams{};
  p.cycles_per_tile = 1.0;
  p.clock_mhz = 1e5;
  p.mem_gbps = 1.0;
  const ChipEstimate slow = estimate(ops, s.n_layer, {}, 1, p);
  for (const auto& o : slow.ops) {
    EXPECT_TRUE(o.bandwidth_bound()) << o.op.name;
    EXPECT_NEAR(o.ms, o.bytes / 1e9 * 1e3, 1e-9 * o.ms);
  }
  // Weight bytes per pass: every matrix once at 2 bytes (embedding counted as the output).
  EXPECT_NEAR(slow.weight_bytes, s.matrix_params() * 2.0, 1.0);
  // With SRAM that holds every weight, only activations and KV move.
  p.sram_kb = slow.weight_bytes / 1024.0 + 1.0;
  const ChipEstimate resident = estimate(ops, s.n_layer, {}, 1, p);
  EXPECT_TRUE(resident.weights_resident);
  EXPECT_LT(resident.pass_ms, slow.pass_ms / 10.0);
}

TEST(ChipsimMultiChip, TensorSplitDividesTilesAndPaysAllReduces) {
  MatmulOp up;  // column-parallel: 40 column tiles
  up.name = "up";
  up.m = 1;
  up.k = 64;
  up.n = 320;
  up.layers = 2;
  up.c_bytes = 320 * 2;
  MatmulOp down = up;  // row-parallel: 40 K tiles, all-reduce of a 64-wide output
  down.name = "down";
  down.k = 320;
  down.n = 64;
  down.split_k = true;
  down.c_bytes = 64 * 2;
  const std::vector<MatmulOp> ops = {up, down};
  ChipParams p;
  p.chips = 4;
  p.link_gbps = 1.0;
  p.link_latency_us = 2.0;
  const ChipEstimate one = estimate(ops, 2, {}, 1, p);
  const TensorSplitEstimate t = tensor_split(ops, one, {}, p);
  EXPECT_NEAR(t.compute_ms, one.pass_ms / 4.0, 1e-9);
  // Ring all-reduce per layer: 2 (C-1)/C x 128 bytes at 1 GB/s + 2 (C-1) messages of 2 us.
  const double comm = 2.0 * (2.0 * 3.0 / 4.0 * 128.0 / 1e9 * 1e3 + 6.0 * 2e-3);
  EXPECT_NEAR(t.comm_ms, comm, 1e-12);
  EXPECT_NEAR(t.speedup, one.pass_ms / (one.pass_ms / 4.0 + comm), 1e-9);
  EXPECT_NEAR(t.efficiency, t.speedup / 4.0, 1e-12);

  // Ragged: 5 column tiles over 4 chips leave one chip 2 tiles: 2.5x at best.
  MatmulOp ragged = up;
  ragged.n = 40;
  const ChipEstimate r1 = estimate({ragged}, 2, {}, 1, p);
  const TensorSplitEstimate r4 = tensor_split({ragged}, r1, {}, p);
  EXPECT_NEAR(r4.speedup, 2.5, 1e-9);
}

TEST(ChipsimMultiChip, PipelineBalancesContiguousStages) {
  MatmulOp layer_op;
  layer_op.name = "w";
  layer_op.m = 1;
  layer_op.k = 8;
  layer_op.n = 8;
  layer_op.layers = 10;
  ChipParams p;
  p.chips = 4;
  p.link_latency_us = 0.0;
  const ChipEstimate one = estimate({layer_op}, 10, {}, 1, p);
  const PipelineEstimate pl = pipeline_split(one, 0.0, 1, p);
  ASSERT_EQ(pl.stage_layers.size(), 4u);
  EXPECT_EQ(std::accumulate(pl.stage_layers.begin(), pl.stage_layers.end(), int64_t{0}), 10);
  EXPECT_EQ(*std::max_element(pl.stage_layers.begin(), pl.stage_layers.end()), 3);  // 10 layers: 3/3/2/2 or similar
  const double layer_ms = one.pass_ms / 10.0;
  EXPECT_NEAR(pl.stage_ms_max, 3 * layer_ms, 1e-9);
  EXPECT_NEAR(pl.speedup, 10.0 / 3.0, 1e-9);
  EXPECT_NEAR(pl.efficiency, 10.0 / 12.0, 1e-9);
  EXPECT_NEAR(pl.latency_ms, one.pass_ms, 1e-9);  // latency does not improve
  // More chips than layers: one layer per chip, the rest idle.
  p.chips = 16;
  const PipelineEstimate wide = pipeline_split(one, 0.0, 1, p);
  EXPECT_EQ(wide.stage_layers.size(), 10u);
  EXPECT_NEAR(wide.efficiency, 10.0 / 16.0, 1e-9);
}

TEST(ChipsimInputs, ConfigJsonShapes) {
  const std::string llama = write_temp("cfg_llama", R"({"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 22,
    "num_attention_heads": 32, "num_key_value_heads": 4, "intermediate_size": 5632, "vocab_size": 32000})");
  const TransformerShape l = shape_from_config_json(llama);
  EXPECT_EQ(l.head_dim, 64);
  EXPECT_EQ(l.n_head_kv, 4);
  EXPECT_TRUE(l.gated_ffn);
  EXPECT_TRUE(is_tinyllama_shape(l));
  const std::string gpt2 = write_temp("cfg_gpt2", R"({"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12,
    "n_inner": null, "vocab_size": 50257})");
  const TransformerShape g = shape_from_config_json(gpt2);
  EXPECT_EQ(g.n_ff, 3072);
  EXPECT_FALSE(g.gated_ffn);
  const std::string gemma = write_temp("cfg_gemma", R"({"model_type": "gemma3_text", "hidden_size": 640,
    "num_hidden_layers": 18, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
    "intermediate_size": 2048, "vocab_size": 262144, "sliding_window": 512})");
  const TransformerShape m = shape_from_config_json(gemma);
  EXPECT_EQ(m.head_dim, 256);
  EXPECT_EQ(m.swa_period, 6);
  EXPECT_TRUE(m.layer_is_local(0));
  EXPECT_FALSE(m.layer_is_local(5));
  for (const auto& p : {llama, gpt2, gemma}) std::filesystem::remove(p);
}

TEST(ChipsimInputs, MalformedConfigsAndProfilesAreNamed) {
  auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(no error)";
  };
  const std::string bad_json = write_temp("cfg_bad", "{\"model_type\": \"llama\", ");
  EXPECT_NE(message([&] { shape_from_config_json(bad_json); }).find("invalid JSON"), std::string::npos);
  const std::string missing = write_temp("cfg_missing", R"({"model_type": "llama", "hidden_size": 64})");
  EXPECT_NE(message([&] { shape_from_config_json(missing); }).find("num_hidden_layers"), std::string::npos);
  const std::string negative = write_temp("cfg_negative", R"({"model_type": "gpt2", "n_embd": -768, "n_layer": 12,
    "n_head": 12, "vocab_size": 50257})");
  EXPECT_NE(message([&] { shape_from_config_json(negative); }).find("n_embd"), std::string::npos);
  const std::string wrong_type = write_temp("cfg_type", R"({"model_type": "gpt2", "n_embd": "768", "n_layer": 12,
    "n_head": 12, "vocab_size": 50257})");
  EXPECT_NE(message([&] { shape_from_config_json(wrong_type); }).find("integer"), std::string::npos);
  const std::string heads = write_temp("cfg_heads", R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 3, "intermediate_size": 128, "vocab_size": 100})");
  EXPECT_NE(message([&] { shape_from_config_json(heads); }).find("multiple"), std::string::npos);
  const std::string no_shapes = write_temp("prof_empty", R"({"tokens": 4, "shapes": []})");
  EXPECT_NE(message([&] { ops_from_profile_json(no_shapes, 2, 2); }).find("shapes"), std::string::npos);
  const std::string bad_shape = write_temp("prof_bad", R"({"tokens": 4, "shapes": [{"op": "x", "m": 1, "k": 0, "n": 5, "count": 1}]})");
  EXPECT_NE(message([&] { ops_from_profile_json(bad_shape, 2, 2); }).find("shapes[0]"), std::string::npos);
  EXPECT_NE(message([] { preset_shape("gpt-5"); }).find("tinyllama-1.1b"), std::string::npos);
  for (const auto& p : {bad_json, missing, negative, wrong_type, heads, no_shapes, bad_shape}) std::filesystem::remove(p);
}

TEST(ChipsimInputs, ProfileOpsArePerToken) {
  const std::string path = write_temp("prof_ok", R"({"model": "m", "tokens": 4, "shapes": [
    {"op": "ffn_up", "m": 1, "k": 64, "n": 128, "count": 8},
    {"op": "attn_scores", "m": 1, "k": 64, "n": 40, "count": 16}]})");
  const ProfileWorkload w = ops_from_profile_json(path, 2.0, 2.0);
  std::filesystem::remove(path);
  ASSERT_EQ(w.ops.size(), 2u);
  EXPECT_EQ(w.tokens, 4);
  EXPECT_FALSE(w.ops[0].split_k);
  EXPECT_EQ(w.ops[1].kind, OpKind::kAttention);
  ChipParams p;
  const ChipEstimate e = estimate(w.ops, 0, {}, w.tokens, p);
  const double tiles = 8.0 * tile_count(1, 64, 128, 8) + 16.0 * tile_count(1, 64, 40, 8);
  EXPECT_NEAR(e.tiles_total, tiles, 1e-9);
  EXPECT_NEAR(e.ms_per_token(), tiles * 532.0 / 100e6 * 1e3 / 4.0, 1e-9);
}

}  // namespace
}  // namespace ts
