#pragma once
// The matmul workload of a transformer, as a tiled accelerator sees it: every product
// [M, K] x [K, N] one token (decode) or one prompt (prefill) needs, with how many times it
// runs per layer. Comes from a preset, a GGUF file, a Hugging Face config.json, or a recorded
// profile (the shapes the engine actually ran).
#include <cstdint>
#include <string>
#include <vector>

namespace ts {

// Hyper-parameters that decide the shapes (nothing about weights or tokenizers).
struct TransformerShape {
  std::string name;
  bool encoder = false;        // BERT-style: bidirectional attention, no vocabulary projection
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;       // < n_head: grouped-query attention
  int64_t head_dim = 0;
  int64_t n_ff = 0;
  bool gated_ffn = false;      // SwiGLU / GeGLU: gate and up projections
  int64_t n_vocab = 0;
  int64_t sliding_window = 0;  // 0: every layer attends to the whole context
  int64_t swa_period = 0;      // with a window: every swa_period-th layer is global (Gemma 3: 6)

  bool layer_is_local(int64_t layer) const {
    return sliding_window > 0 && swa_period > 0 && (layer + 1) % swa_period != 0;
  }
  // Weights of the matrices (embedding table counted once, as the tied or separate output).
  double matrix_params() const;
  // Throws naming the first field that is missing or inconsistent.
  void validate() const;
};

// Named shapes: tinyllama-1.1b, llama-2-7b, gpt2-small, bert-base, distilbert, gemma3-270m,
// gemma3-1b, smollm2-135m.
std::vector<std::string> preset_names();
bool has_preset(const std::string& name);
TransformerShape preset_shape(const std::string& name);

// From GGUF metadata (`<arch>.*` keys; gated when blk.0.ffn_gate.weight exists).
TransformerShape shape_from_gguf(const std::string& path);
// From a Hugging Face config.json (llama, mistral, qwen2, gemma3_text, gpt2, bert, distilbert).
TransformerShape shape_from_config_json(const std::string& path);

enum class OpKind { kWeight, kAttention };
enum class Phase { kDecode, kPrefill };

// One product [M, K] x [K, N]. Weight products split across chips by N (column-parallel) or
// by K (row-parallel, followed by an all-reduce); attention products split by head.
struct MatmulOp {
  std::string name;
  OpKind kind = OpKind::kWeight;
  int64_t m = 0, k = 0, n = 0;
  int64_t count = 1;           // times per layer (heads for attention), or per token for the output
  bool per_layer = true;       // false: once per token or prompt (the output projection)
  bool split_k = false;        // row-parallel under tensor splitting (all-reduce of the output)
  bool gathers_logits = false; // vocabulary projection: split by columns, logits gathered to one chip
  int64_t layers = 0;          // layers this op runs in (local and global layers differ)
  enum class Layers { kAll, kLocal, kGlobal } layer_set = Layers::kAll;  // which layers run it
  int64_t causal_tiles = -1;   // prefill scores/values: tiles per head after skipping masked ones (-1: all)
  // Bytes per layer (or per token) over all `count`: the K x N operand (weights; KV shared by
  // grouped heads counted once), the M x K input and the M x N output.
  double b_bytes = 0.0, a_bytes = 0.0, c_bytes = 0.0;
};

struct WorkloadOptions {
  Phase phase = Phase::kDecode;
  int64_t seq = 512;           // decode: tokens in context; prefill: prompt length
  bool ideal_mha = false;      // the seed's assumptions: K/V as wide as Q, no attention products, no output
  int64_t tile = 8;            // used to count causal tiles
  double weight_bytes = 2.0;   // bytes per weight element on the chip
  double act_bytes = 2.0;      // bytes per activation / KV element
};

// Tile pairs (query tile, key tile) a prefill of seq tokens computes when tiles wholly outside
// the causal mask (and the sliding window, if > 0) are skipped; causal = false: all pairs.
int64_t masked_tile_pairs(int64_t seq, int64_t tile, bool causal, int64_t window);

// All products of one decode token or one prefill prompt.
std::vector<MatmulOp> build_ops(const TransformerShape& s, const WorkloadOptions& o);

// A recorded profile (`tinyserve profile --json`): {"model": name, "tokens": T, "shapes":
// [{"op": name, "m": M, "k": K, "n": N, "count": C}, ...]} with counts over the whole run;
// ops are returned per token (count / tokens, as one "layer" of per-token work).
struct ProfileWorkload {
  std::string model;
  int64_t tokens = 0;
  std::vector<MatmulOp> ops;
};
ProfileWorkload ops_from_profile_json(const std::string& path, double weight_bytes, double act_bytes);

}  // namespace ts
