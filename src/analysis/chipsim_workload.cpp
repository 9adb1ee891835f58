#include "analysis/chipsim_workload.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/checked_math.h"
#include "base/error.h"
#include "formats/gguf/gguf_reader.h"
#include "model/config.h"

namespace ts {

namespace {

struct Preset {
  const char* key;
  TransformerShape shape;
};

TransformerShape make(const char* name, bool encoder, int64_t embd, int64_t layers, int64_t heads, int64_t kv_heads,
                      int64_t head_dim, int64_t ff, bool gated, int64_t vocab, int64_t window = 0, int64_t period = 0) {
  TransformerShape s;
  s.name = name;
  s.encoder = encoder;
  s.n_embd = embd;
  s.n_layer = layers;
  s.n_head = heads;
  s.n_head_kv = kv_heads;
  s.head_dim = head_dim;
  s.n_ff = ff;
  s.gated_ffn = gated;
  s.n_vocab = vocab;
  s.sliding_window = window;
  s.swa_period = period;
  return s;
}

// Published configurations (Hugging Face config.json of each model).
const std::vector<Preset>& presets() {
  static const std::vector<Preset> p = {
      {"tinyllama-1.1b", make("TinyLlama-1.1B", false, 2048, 22, 32, 4, 64, 5632, true, 32000)},
      {"llama-2-7b", make("Llama-2-7B", false, 4096, 32, 32, 32, 128, 11008, true, 32000)},
      {"gpt2-small", make("GPT-2 small", false, 768, 12, 12, 12, 64, 3072, false, 50257)},
      {"bert-base", make("BERT base", true, 768, 12, 12, 12, 64, 3072, false, 30522)},
      {"distilbert", make("DistilBERT", true, 768, 6, 12, 12, 64, 3072, false, 30522)},
      {"gemma3-270m", make("Gemma 3 270M", false, 640, 18, 4, 1, 256, 2048, true, 262144, 512, 6)},
      {"gemma3-1b", make("Gemma 3 1B", false, 1152, 26, 4, 1, 256, 6912, true, 262144, 512, 6)},
      {"smollm2-135m", make("SmolLM2-135M", false, 576, 30, 9, 3, 64, 1536, true, 49152)},
  };
  return p;
}

}  // namespace

int64_t masked_tile_pairs(int64_t seq, int64_t tile, bool causal, int64_t window) {
  const int64_t tiles = ceil_div(seq, tile);
  if (!causal) return tiles * tiles;
  int64_t pairs = 0;
  for (int64_t i = 0; i < tiles; ++i) {
    int64_t first = 0;
    if (window > 0) {
      // Key tile j is needed if its last key is inside the window of the tile's first query.
      const int64_t lowest_key = i * tile - window + 1;
      first = std::max<int64_t>(0, ceil_div(std::max<int64_t>(lowest_key - tile + 1, 0), tile));
    }
    pairs += i - first + 1;
  }
  return pairs;
}

namespace {

int64_t json_int(const nlohmann::json& j, const char* key, const std::string& path, int64_t fallback = -1) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (fallback >= 0) return fallback;
    fail("{}: missing \"{}\"", path, key);
  }
  if (!it->is_number_integer()) fail("{}: \"{}\" must be an integer", path, key);
  const int64_t v = it->get<int64_t>();
  if (v <= 0 || v > (int64_t{1} << 24)) fail("{}: \"{}\" = {} is out of range", path, key, v);
  return v;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path);
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: invalid JSON ({})", path, e.what());
  }
}

}  // namespace

double TransformerShape::matrix_params() const {
  const auto d = static_cast<double>(n_embd);
  const double attn = d * static_cast<double>(n_head * head_dim) * 2.0 + d * static_cast<double>(n_head_kv * head_dim) * 2.0;
  const double ffn = d * static_cast<double>(n_ff) * (gated_ffn ? 3.0 : 2.0);
  return static_cast<double>(n_layer) * (attn + ffn) + d * static_cast<double>(n_vocab);
}

void TransformerShape::validate() const {
  auto positive = [&](const char* field, int64_t v) {
    if (v <= 0 || v > (int64_t{1} << 24)) fail("model '{}': {} = {} is out of range", name, field, v);
  };
  positive("n_embd", n_embd);
  positive("n_layer", n_layer);
  positive("n_head", n_head);
  positive("n_head_kv", n_head_kv);
  positive("head_dim", head_dim);
  positive("n_ff", n_ff);
  positive("n_vocab", n_vocab);
  if (n_head % n_head_kv != 0) fail("model '{}': n_head {} is not a multiple of n_head_kv {}", name, n_head, n_head_kv);
  if (sliding_window < 0 || swa_period < 0) fail("model '{}': negative sliding window or period", name);
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& p : presets()) names.emplace_back(p.key);
  return names;
}

bool has_preset(const std::string& name) {
  return std::any_of(presets().begin(), presets().end(), [&](const Preset& p) { return name == p.key; });
}

TransformerShape preset_shape(const std::string& name) {
  for (const auto& p : presets()) {
    if (name == p.key) return p.shape;
  }
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  fail("unknown model preset '{}' (known: {})", name, known);
}

TransformerShape shape_from_gguf(const std::string& path) {
  const auto file = gguf::GgufFile::open(path);
  const ModelConfig c = ModelConfig::from_gguf(*file);
  TransformerShape s;
  s.name = c.name.empty() ? c.arch : c.name;
  s.encoder = c.arch == "bert";
  s.n_embd = c.n_embd;
  s.n_layer = c.n_layer;
  s.n_head = c.n_head;
  s.n_head_kv = c.n_head_kv;
  s.head_dim = c.head_dim;
  s.n_ff = c.n_ff;
  s.gated_ffn = file->find_tensor("blk.0.ffn_gate.weight") != nullptr;
  s.n_vocab = c.n_vocab;
  s.sliding_window = file->get_int(c.arch + ".attention.sliding_window", 0);
  // Gemma 3 interleaves five local layers with one global layer (not stored in its GGUF).
  if (s.sliding_window > 0) s.swa_period = c.arch == "gemma3" ? 6 : 1;
  s.validate();
  return s;
}

TransformerShape shape_from_config_json(const std::string& path) {
  const nlohmann::json j = read_json(path);
  if (!j.is_object()) fail("{}: expected a JSON object", path);
  const std::string type = j.value("model_type", std::string());
  TransformerShape s;
  s.name = type.empty() ? path : type;
  if (type == "gpt2") {
    s.n_embd = json_int(j, "n_embd", path);
    s.n_layer = json_int(j, "n_layer", path);
    s.n_head = json_int(j, "n_head", path);
    s.n_head_kv = s.n_head;
    s.n_ff = json_int(j, "n_inner", path, 4 * s.n_embd);
    s.n_vocab = json_int(j, "vocab_size", path);
  } else if (type == "distilbert") {
    s.encoder = true;
    s.n_embd = json_int(j, "dim", path);
    s.n_layer = json_int(j, "n_layers", path);
    s.n_head = json_int(j, "n_heads", path);
    s.n_head_kv = s.n_head;
    s.n_ff = json_int(j, "hidden_dim", path);
    s.n_vocab = json_int(j, "vocab_size", path);
  } else if (!type.empty()) {
    s.encoder = type == "bert" || type == "roberta";
    s.n_embd = json_int(j, "hidden_size", path);
    s.n_layer = json_int(j, "num_hidden_layers", path);
    s.n_head = json_int(j, "num_attention_heads", path);
    s.n_head_kv = json_int(j, "num_key_value_heads", path, s.n_head);
    s.n_ff = json_int(j, "intermediate_size", path);
    s.n_vocab = json_int(j, "vocab_size", path);
    s.gated_ffn = !s.encoder;  // llama, mistral, qwen2, gemma: gated FFNs
    if (s.n_embd % s.n_head != 0 && !j.contains("head_dim")) fail("{}: hidden_size is not a multiple of heads", path);
    s.head_dim = json_int(j, "head_dim", path, s.n_embd / s.n_head);
    if (type.rfind("gemma3", 0) == 0) {
      s.sliding_window = json_int(j, "sliding_window", path, 512);
      s.swa_period = json_int(j, "sliding_window_pattern", path, 6);
    }
  } else {
    fail("{}: no \"model_type\" (llama, mistral, qwen2, gemma3_text, gpt2, bert, distilbert)", path);
  }
  if (s.head_dim == 0) {
    if (s.n_embd % s.n_head != 0) fail("{}: embedding size is not a multiple of heads", path);
    s.head_dim = s.n_embd / s.n_head;
  }
  s.validate();
  return s;
}

std::vector<MatmulOp> build_ops(const TransformerShape& s, const WorkloadOptions& o) {
  s.validate();
  if (o.seq <= 0) fail("sequence length must be positive, got {}", o.seq);
  if (o.tile <= 0) fail("tile size must be positive, got {}", o.tile);
  const bool prefill = o.phase == Phase::kPrefill;
  const int64_t M = prefill ? o.seq : 1;
  const int64_t q_dim = s.n_head * s.head_dim;
  const int64_t kv_dim = o.ideal_mha ? q_dim : s.n_head_kv * s.head_dim;
  std::vector<MatmulOp> ops;
  auto weight = [&](const char* name, int64_t k, int64_t n, bool split_k) {
    MatmulOp op;
    op.name = name;
    op.m = M;
    op.k = k;
    op.n = n;
    op.split_k = split_k;
    op.layers = s.n_layer;
    op.b_bytes = static_cast<double>(k) * static_cast<double>(n) * o.weight_bytes;
    op.a_bytes = static_cast<double>(M) * static_cast<double>(k) * o.act_bytes;
    op.c_bytes = static_cast<double>(M) * static_cast<double>(n) * o.act_bytes;
    ops.push_back(op);
  };
  weight("attn_q", s.n_embd, q_dim, false);
  weight("attn_k", s.n_embd, kv_dim, false);
  weight("attn_v", s.n_embd, kv_dim, false);
  if (!o.ideal_mha) {
    // Local and global layers attend over different lengths: one entry per kind present.
    int64_t local_layers = 0;
    for (int64_t l = 0; l < s.n_layer; ++l) local_layers += s.layer_is_local(l) ? 1 : 0;
    const int64_t global_layers = s.n_layer - local_layers;
    for (int kind = 0; kind < 2; ++kind) {
      const bool local = kind == 1;
      const int64_t layers = local ? local_layers : global_layers;
      if (layers == 0) continue;
      const int64_t window = local ? s.sliding_window : 0;
      const int64_t ctx = window > 0 ? std::min(o.seq, window) : o.seq;
      const double kv_bytes = static_cast<double>(s.n_head_kv * s.head_dim) *
                              static_cast<double>(prefill ? o.seq : ctx) * o.act_bytes;
      const int64_t causal = prefill ? masked_tile_pairs(o.seq, o.tile, !s.encoder, window) *
                                           ((s.head_dim + o.tile - 1) / o.tile)
                                     : -1;
      MatmulOp scores;
      scores.name = local ? "attn_scores (local)" : "attn_scores";
      scores.kind = OpKind::kAttention;
      scores.m = M;
      scores.k = s.head_dim;
      scores.n = prefill ? o.seq : ctx;
      scores.count = s.n_head;
      scores.layers = layers;
      scores.causal_tiles = causal;
      scores.layer_set = s.sliding_window > 0 ? (local ? MatmulOp::Layers::kLocal : MatmulOp::Layers::kGlobal)
                                              : MatmulOp::Layers::kAll;
      scores.b_bytes = kv_bytes;
      scores.a_bytes = static_cast<double>(M * q_dim) * o.act_bytes;
      // Scores / probabilities: [M, n] per head.
      scores.c_bytes = static_cast<double>(M * scores.n * s.n_head) * o.act_bytes;
      MatmulOp values = scores;
      values.name = local ? "attn_values (local)" : "attn_values";
      values.k = scores.n;
      values.n = s.head_dim;
      values.a_bytes = scores.c_bytes;
      values.c_bytes = static_cast<double>(M * q_dim) * o.act_bytes;
      ops.push_back(scores);
      ops.push_back(values);
    }
  }
  weight("attn_out", q_dim, s.n_embd, true);
  if (s.gated_ffn) weight("ffn_gate", s.n_embd, s.n_ff, false);
  weight("ffn_up", s.n_embd, s.n_ff, false);
  weight("ffn_down", s.n_ff, s.n_embd, true);
  if (!o.ideal_mha && !s.encoder) {
    // Generation needs the logits of the last position only, in prefill too.
    weight("output", s.n_embd, s.n_vocab, false);
    ops.back().m = 1;
    ops.back().gathers_logits = true;
    ops.back().a_bytes = static_cast<double>(s.n_embd) * o.act_bytes;
    ops.back().c_bytes = static_cast<double>(s.n_vocab) * o.act_bytes;
    ops.back().per_layer = false;
    ops.back().layers = 1;
  }
  return ops;
}

ProfileWorkload ops_from_profile_json(const std::string& path, double weight_bytes, double act_bytes) {
  const nlohmann::json j = read_json(path);
  if (!j.is_object()) fail("{}: expected a JSON object", path);
  ProfileWorkload w;
  w.model = j.value("model", std::string("profile"));
  w.tokens = json_int(j, "tokens", path);
  auto shapes = j.find("shapes");
  if (shapes == j.end() || !shapes->is_array() || shapes->empty()) fail("{}: \"shapes\" must be a non-empty array", path);
  for (size_t i = 0; i < shapes->size(); ++i) {
    const auto& e = (*shapes)[i];
    const std::string where = fmt::format("{}: shapes[{}]", path, i);
    if (!e.is_object()) fail("{} must be an object", where);
    MatmulOp op;
    op.name = e.value("op", fmt::format("shape {}", i));
    op.m = json_int(e, "m", where);
    op.k = json_int(e, "k", where);
    op.n = json_int(e, "n", where);
    op.count = json_int(e, "count", where);
    op.per_layer = false;
    op.layers = 1;
    // Names follow build_ops (and the engine's profile): row-parallel after attention and FFN.
    auto ends_with = [&](const char* suffix) {
      const std::string x(suffix);
      return op.name.size() >= x.size() && op.name.compare(op.name.size() - x.size(), x.size(), x) == 0;
    };
    op.split_k = ends_with("attn_out") || ends_with("ffn_down");
    op.gathers_logits = op.name == "output";
    op.kind = op.name.rfind("attn_scores", 0) == 0 || op.name.rfind("attn_values", 0) == 0 ? OpKind::kAttention
                                                                                         : OpKind::kWeight;
    const auto count = static_cast<double>(op.count);
    op.b_bytes = static_cast<double>(op.k) * static_cast<double>(op.n) * count *
                 (op.kind == OpKind::kWeight ? weight_bytes : act_bytes);
    op.a_bytes = static_cast<double>(op.m) * static_cast<double>(op.k) * count * act_bytes;
    op.c_bytes = static_cast<double>(op.m) * static_cast<double>(op.n) * count * act_bytes;
    w.ops.push_back(op);
  }
  return w;
}

}  // namespace ts
