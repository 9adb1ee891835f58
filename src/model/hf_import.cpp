#include "model/hf_import.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/fp16.h"
#include "formats/gguf/gguf_reader.h"
#include "formats/safetensors/safetensors_reader.h"

namespace ts {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uint64_t kMaxConfigBytes = 16 << 20;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The directory that holds config.json and the weights.
fs::path checkpoint_dir(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return fs::path(path);
  return fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path();
}

json read_json(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) fail("{}: cannot read ({})", path.string(), ec.message());
  if (size > kMaxConfigBytes) fail("{}: {} bytes is too large for a config", path.string(), size);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) fail("{}: not a JSON object", path.string());
  return j;
}

// Typed reads of config.json with the file and key in every error.
class Config {
 public:
  Config(json j, std::string file) : j_(std::move(j)), file_(std::move(file)) {}
  const json& raw() const { return j_; }
  bool has(const std::string& key) const { return j_.contains(key) && !j_[key].is_null(); }
  int64_t integer(const std::string& key) const {
    if (!has(key)) fail("{}: '{}' is missing", file_, key);
    const json& v = j_[key];
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > (int64_t{1} << 24)) {
      fail("{}: '{}' = {} is not a positive integer in range", file_, key, v.dump());
    }
    return v.get<int64_t>();
  }
  int64_t integer(const std::string& key, int64_t fallback) const { return has(key) ? integer(key) : fallback; }
  double number(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_number()) fail("{}: '{}' = {} is not a number", file_, key, j_[key].dump());
    return j_[key].get<double>();
  }
  std::string string(const std::string& key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_string()) fail("{}: '{}' = {} is not a string", file_, key, j_[key].dump());
    return j_[key].get<std::string>();
  }
  bool boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_boolean()) fail("{}: '{}' = {} is not true or false", file_, key, j_[key].dump());
    return j_[key].get<bool>();
  }
  const std::string& file() const { return file_; }

 private:
  json j_;
  std::string file_;
};

gguf::Value int_value(int64_t v) {
  gguf::Value x;
  x.type = gguf::ValueType::INT64;
  x.int_value = v;
  x.uint_value = static_cast<uint64_t>(v);
  return x;
}
gguf::Value float_value(double v) {
  gguf::Value x;
  x.type = gguf::ValueType::FLOAT32;
  x.float_value = v;
  return x;
}
gguf::Value string_value(std::string v) {
  gguf::Value x;
  x.type = gguf::ValueType::STRING;
  x.string_value = std::move(v);
  return x;
}

// What a weight needs on the way in.
enum class Transform {
  kNone,
  kPermuteHeads,  // Llama Q/K: rotate-half rows -> adjacent-pair rows (per head)
  kPlusOne,       // Gemma RMSNorm: w -> 1 + w
  kTranspose,     // GPT-2 Conv1D: [in, out] -> [out, in]
};

// Matches name against a pattern of literal text with at most one "{L}" (a layer number: 1-6
// digits) or a trailing "*" (any rest); the layer number goes to *layer.
bool match_name(const std::string& pattern, const std::string& name, std::string* layer) {
  const size_t at = pattern.find("{L}");
  if (at == std::string::npos) {
    if (!pattern.empty() && pattern.back() == '*') return name.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
    return name == pattern;
  }
  const std::string head = pattern.substr(0, at), tail = pattern.substr(at + 3);
  if (name.size() <= head.size() + tail.size() || name.compare(0, head.size(), head) != 0 ||
      name.compare(name.size() - tail.size(), tail.size(), tail) != 0) {
    return false;
  }
  const std::string digits = name.substr(head.size(), name.size() - head.size() - tail.size());
  if (digits.size() > 6 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  *layer = digits;
  return true;
}

struct Rule {
  std::string pattern; // HF name after the model prefix; "{L}" stands for the layer number
  std::string target;  // GGUF name, "{}" for the layer number
  Transform transform = Transform::kNone;
  int64_t heads = 0;   // kPermuteHeads
};

// The imported store's bytes: the mapped checkpoint plus the tensors the import had to rewrite.
struct Owner {
  std::unique_ptr<safetensors::Checkpoint> checkpoint;
  std::deque<std::vector<uint8_t>> buffers;
};

class Importer {
 public:
  Importer(const std::string& path, Config cfg) : cfg_(std::move(cfg)), owner_(std::make_shared<Owner>()) {
    owner_->checkpoint = safetensors::Checkpoint::open(path);
    name_ = owner_->checkpoint->path();
  }

  void set(const std::string& key, gguf::Value v) { kv_[key] = std::move(v); }
  void add_rule(const std::string& pattern, const std::string& target, Transform t = Transform::kNone, int64_t heads = 0) {
    rules_.push_back({pattern, target, t, heads});
  }
  // HF tensors that hold no weights (buffers some exporters save): skipped.
  void ignore(const std::string& pattern) { ignored_.push_back(pattern); }

  // prefixes: the first one a name starts with is dropped before matching (e.g. "model.").
  std::unique_ptr<gguf::GgufFile> finish(const std::vector<std::string>& prefixes) {
    for (const auto& [hf_name, view] : owner_->checkpoint->tensors()) {
      std::string name = hf_name;
      for (const std::string& p : prefixes) {
        if (name.compare(0, p.size(), p) == 0) {
          name = name.substr(p.size());
          break;
        }
      }
      std::string layer;
      bool done = false;
      for (const std::string& pattern : ignored_) done = done || match_name(pattern, name, &layer);
      for (const Rule& r : rules_) {
        if (done || !match_name(r.pattern, name, &layer)) continue;
        std::string target = r.target;
        if (const auto at = target.find("{}"); at != std::string::npos) target.replace(at, 2, layer);
        add_tensor(*view, target, r);
        done = true;
      }
      if (!done) fail("{}: tensor '{}' is not used by the {} architecture", name_, hf_name, arch());
    }
    return gguf::GgufFile::from_views(name_, std::move(kv_), std::move(tensors_), owner_);
  }

 private:
  std::string arch() const { return kv_.count("general.architecture") ? kv_.at("general.architecture").string_value : "?"; }

  void add_tensor(const safetensors::TensorView& v, const std::string& target, const Rule& r) {
    if (!v.type || (*v.type != DType::F32 && *v.type != DType::F16 && *v.type != DType::BF16)) {
      fail("{}: tensor '{}' has dtype {} (supported: F32, F16, BF16)", name_, v.name, v.dtype);
    }
    if (v.shape.empty() || v.shape.size() > 2) fail("{}: tensor '{}' has {} dimensions (1 or 2 expected)", name_, v.name, v.shape.size());
    gguf::TensorInfo t;
    t.name = target;
    t.type = *v.type;
    t.n_elements = v.n_elements;
    t.n_bytes = v.n_bytes;
    t.n_dims = static_cast<int>(v.shape.size());
    const int64_t rows = v.shape.size() == 2 ? v.shape[0] : 1, cols = v.shape.back();
    t.dims = {cols, rows, 1, 1};
    const size_t elem = v.n_elements == 0 ? 1 : v.n_bytes / v.n_elements;
    const uint8_t* src = v.data;
    switch (r.transform) {
      case Transform::kNone:
        t.data = reinterpret_cast<uintptr_t>(src) % elem == 0 ? src : copy(src, v.n_bytes);
        break;
      case Transform::kPermuteHeads: {
        if (v.shape.size() != 2 || rows % r.heads != 0 || (rows / r.heads) % 2 != 0) {
          fail("{}: tensor '{}' rows {} do not split into {} heads of even size", name_, v.name, rows, r.heads);
        }
        // Each head's rows [first half, second half] interleave: out row 2i <- i, 2i+1 <- half + i.
        const int64_t head = rows / r.heads, half = head / 2;
        const size_t row_bytes = static_cast<size_t>(cols) * elem;
        uint8_t* out = alloc(v.n_bytes);
        for (int64_t h = 0; h < r.heads; ++h) {
          for (int64_t i = 0; i < half; ++i) {
            std::memcpy(out + static_cast<size_t>(h * head + 2 * i) * row_bytes, src + static_cast<size_t>(h * head + i) * row_bytes, row_bytes);
            std::memcpy(out + static_cast<size_t>(h * head + 2 * i + 1) * row_bytes, src + static_cast<size_t>(h * head + half + i) * row_bytes, row_bytes);
          }
        }
        t.data = out;
        break;
      }
      case Transform::kTranspose: {
        if (v.shape.size() != 2) fail("{}: tensor '{}' is not a matrix", name_, v.name);
        uint8_t* out = alloc(v.n_bytes);
        if (elem == 4) {
          transpose<uint32_t>(src, out, rows, cols);
        } else {
          transpose<uint16_t>(src, out, rows, cols);
        }
        t.dims = {rows, cols, 1, 1};
        t.data = out;
        break;
      }
      case Transform::kPlusOne: {
        // Added in f32 (exact for the f32 store; llama.cpp's converter adds in the source dtype).
        auto* out = reinterpret_cast<float*>(alloc(v.n_elements * sizeof(float)));
        for (uint64_t i = 0; i < v.n_elements; ++i) out[i] = 1.0f + element(*v.type, src, i);
        t.type = DType::F32;
        t.n_bytes = v.n_elements * sizeof(float);
        t.data = reinterpret_cast<const uint8_t*>(out);
        break;
      }
    }
    tensors_.push_back(std::move(t));
  }

  // out[j, i] = in[i, j] for a [rows, cols] matrix, in 32 x 32 tiles so both sides stay in cache.
  template <typename T>
  static void transpose(const uint8_t* in, uint8_t* out, int64_t rows, int64_t cols) {
    constexpr int64_t kTile = 32;
    for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
      for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
        for (int64_t i = i0; i < std::min(rows, i0 + kTile); ++i) {
          for (int64_t j = j0; j < std::min(cols, j0 + kTile); ++j) {
            T x;
            std::memcpy(&x, in + static_cast<size_t>(i * cols + j) * sizeof(T), sizeof(T));
            std::memcpy(out + static_cast<size_t>(j * rows + i) * sizeof(T), &x, sizeof(T));
          }
        }
      }
    }
  }

  static float element(DType type, const uint8_t* p, uint64_t i) {
    if (type == DType::F32) {
      float f;
      std::memcpy(&f, p + i * 4, 4);
      return f;
    }
    uint16_t h;
    std::memcpy(&h, p + i * 2, 2);
    return type == DType::F16 ? fp16_to_f32(h) : bf16_to_f32(h);
  }
  uint8_t* alloc(uint64_t n) {
    // Vectors of 8-byte words keep every element type aligned.
    owner_->buffers.emplace_back(static_cast<size_t>(n) + 8);
    auto& b = owner_->buffers.back();
    const auto misalign = reinterpret_cast<uintptr_t>(b.data()) % 8;
    return b.data() + (misalign == 0 ? 0 : 8 - misalign);
  }
  const uint8_t* copy(const uint8_t* src, uint64_t n) {
    uint8_t* out = alloc(n);
    std::memcpy(out, src, static_cast<size_t>(n));
    return out;
  }

  Config cfg_;
  std::string name_;
  std::shared_ptr<Owner> owner_;
  std::map<std::string, gguf::Value> kv_;
  std::vector<gguf::TensorInfo> tensors_;
  std::vector<Rule> rules_;
  std::vector<std::string> ignored_;
};

void set_common(Importer& im, const Config& c, const std::string& arch, const std::string& name) {
  const std::string a = arch + ".";
  im.set("general.architecture", string_value(arch));
  im.set("general.name", string_value(name));
  im.set(a + "vocab_size", int_value(c.integer("vocab_size")));
}

void rope_scaling(Importer& im, const Config& c, const std::string& arch) {
  if (!c.has("rope_scaling")) return;
  const json& rs = c.raw()["rope_scaling"];
  if (!rs.is_object()) fail("{}: rope_scaling is not an object", c.file());
  const Config r(rs, c.file() + " rope_scaling");
  const std::string type = r.string("rope_type", r.string("type", ""));
  if (type == "default") return;
  if (type != "linear") fail("{}: rope_scaling type '{}' is not supported (linear)", c.file(), type);
  im.set(arch + ".rope.scaling.type", string_value("linear"));
  im.set(arch + ".rope.scaling.factor", float_value(r.number("factor", 1.0)));
}

std::unique_ptr<gguf::GgufFile> import_llama(const std::string& path, const Config& c, const std::string& name) {
  Importer im(path, c);
  set_common(im, c, "llama", name);
  const int64_t E = c.integer("hidden_size"), H = c.integer("num_attention_heads");
  const int64_t H_kv = c.integer("num_key_value_heads", H);
  im.set("llama.embedding_length", int_value(E));
  im.set("llama.block_count", int_value(c.integer("num_hidden_layers")));
  im.set("llama.attention.head_count", int_value(H));
  im.set("llama.attention.head_count_kv", int_value(H_kv));
  im.set("llama.feed_forward_length", int_value(c.integer("intermediate_size")));
  im.set("llama.context_length", int_value(c.integer("max_position_embeddings", 2048)));
  im.set("llama.attention.layer_norm_rms_epsilon", float_value(c.number("rms_norm_eps", 1e-6)));
  im.set("llama.rope.freq_base", float_value(c.number("rope_theta", 10000.0)));
  if (c.has("head_dim")) im.set("llama.attention.key_length", int_value(c.integer("head_dim")));
  rope_scaling(im, c, "llama");
  if (c.string("hidden_act", "silu") != "silu") fail("{}: hidden_act '{}' is not supported (silu)", c.file(), c.string("hidden_act", ""));
  const std::string L = "layers.{L}.";
  im.add_rule("embed_tokens.weight", "token_embd.weight");
  im.add_rule("norm.weight", "output_norm.weight");
  im.add_rule("lm_head.weight", "output.weight");
  im.add_rule(L + "input_layernorm.weight", "blk.{}.attn_norm.weight");
  im.add_rule(L + "self_attn.q_proj.weight", "blk.{}.attn_q.weight", Transform::kPermuteHeads, H);
  im.add_rule(L + "self_attn.k_proj.weight", "blk.{}.attn_k.weight", Transform::kPermuteHeads, H_kv);
  im.add_rule(L + "self_attn.v_proj.weight", "blk.{}.attn_v.weight");
  im.add_rule(L + "self_attn.o_proj.weight", "blk.{}.attn_output.weight");
  im.add_rule(L + "post_attention_layernorm.weight", "blk.{}.ffn_norm.weight");
  im.add_rule(L + "mlp.gate_proj.weight", "blk.{}.ffn_gate.weight");
  im.add_rule(L + "mlp.up_proj.weight", "blk.{}.ffn_up.weight");
  im.add_rule(L + "mlp.down_proj.weight", "blk.{}.ffn_down.weight");
  im.ignore("layers.{L}.self_attn.rotary_emb.inv_freq");
  return im.finish({"model."});
}

std::unique_ptr<gguf::GgufFile> import_gemma3(const std::string& path, const Config& c, const std::string& name,
                                              const std::vector<std::string>& prefixes) {
  Importer im(path, c);
  set_common(im, c, "gemma3", name);
  const int64_t head_dim = c.integer("head_dim", 256);
  im.set("gemma3.embedding_length", int_value(c.integer("hidden_size")));
  im.set("gemma3.block_count", int_value(c.integer("num_hidden_layers")));
  im.set("gemma3.attention.head_count", int_value(c.integer("num_attention_heads")));
  im.set("gemma3.attention.head_count_kv", int_value(c.integer("num_key_value_heads", c.integer("num_attention_heads"))));
  im.set("gemma3.attention.key_length", int_value(head_dim));
  im.set("gemma3.attention.value_length", int_value(head_dim));
  im.set("gemma3.feed_forward_length", int_value(c.integer("intermediate_size")));
  im.set("gemma3.context_length", int_value(c.integer("max_position_embeddings", 32768)));
  im.set("gemma3.attention.layer_norm_rms_epsilon", float_value(c.number("rms_norm_eps", 1e-6)));
  im.set("gemma3.rope.freq_base", float_value(c.number("rope_theta", 1000000.0)));
  im.set("gemma3.attention.sliding_window", int_value(c.integer("sliding_window", 512)));
  rope_scaling(im, c, "gemma3");
  // The model applies 1/sqrt(head_dim) to queries and 10000 as the local RoPE base, as llama.cpp
  // does; a config that asks otherwise would silently compute something else.
  if (c.integer("query_pre_attn_scalar", head_dim) != head_dim) {
    fail("{}: query_pre_attn_scalar {} differs from head_dim {} (not supported)", c.file(), c.integer("query_pre_attn_scalar"), head_dim);
  }
  if (c.number("rope_local_base_freq", 10000.0) != 10000.0) {
    fail("{}: rope_local_base_freq {} is not supported (10000)", c.file(), c.number("rope_local_base_freq", 0));
  }
  const std::string act = c.string("hidden_activation", c.string("hidden_act", "gelu_pytorch_tanh"));
  if (act != "gelu_pytorch_tanh") fail("{}: hidden_activation '{}' is not supported (gelu_pytorch_tanh)", c.file(), act);
  int64_t pattern = c.integer("sliding_window_pattern", 6);
  if (c.has("layer_types")) {
    // ["sliding_attention", ..., "full_attention", ...]: the pattern is the period of full layers.
    const json& lt = c.raw()["layer_types"];
    if (!lt.is_array()) fail("{}: layer_types is not an array", c.file());
    int64_t first_full = 0;
    for (const json& t : lt) {
      ++first_full;
      if (t == "full_attention") break;
    }
    pattern = first_full;
    for (size_t i = 0; i < lt.size(); ++i) {
      const bool full = (static_cast<int64_t>(i) + 1) % pattern == 0;
      if (lt[i] != (full ? "full_attention" : "sliding_attention")) {
        fail("{}: layer_types[{}] = {} breaks the every-{}th-layer-is-global pattern", c.file(), i, lt[i].dump(), pattern);
      }
    }
  }
  im.set("gemma3.attention.sliding_window_pattern", int_value(pattern));
  const std::string L = "layers.{L}.";
  im.add_rule("embed_tokens.weight", "token_embd.weight");
  im.add_rule("norm.weight", "output_norm.weight", Transform::kPlusOne);
  im.add_rule(L + "input_layernorm.weight", "blk.{}.attn_norm.weight", Transform::kPlusOne);
  im.add_rule(L + "self_attn.q_proj.weight", "blk.{}.attn_q.weight");
  im.add_rule(L + "self_attn.k_proj.weight", "blk.{}.attn_k.weight");
  im.add_rule(L + "self_attn.v_proj.weight", "blk.{}.attn_v.weight");
  im.add_rule(L + "self_attn.o_proj.weight", "blk.{}.attn_output.weight");
  im.add_rule(L + "self_attn.q_norm.weight", "blk.{}.attn_q_norm.weight", Transform::kPlusOne);
  im.add_rule(L + "self_attn.k_norm.weight", "blk.{}.attn_k_norm.weight", Transform::kPlusOne);
  im.add_rule(L + "post_attention_layernorm.weight", "blk.{}.post_attention_norm.weight", Transform::kPlusOne);
  im.add_rule(L + "pre_feedforward_layernorm.weight", "blk.{}.ffn_norm.weight", Transform::kPlusOne);
  im.add_rule(L + "post_feedforward_layernorm.weight", "blk.{}.post_ffw_norm.weight", Transform::kPlusOne);
  im.add_rule(L + "mlp.gate_proj.weight", "blk.{}.ffn_gate.weight");
  im.add_rule(L + "mlp.up_proj.weight", "blk.{}.ffn_up.weight");
  im.add_rule(L + "mlp.down_proj.weight", "blk.{}.ffn_down.weight");
  im.add_rule("lm_head.weight", "output.weight");
  im.ignore("vision_tower.*");  // a multimodal checkpoint's image side
  im.ignore("multi_modal_projector.*");
  return im.finish(prefixes);
}

std::unique_ptr<gguf::GgufFile> import_gpt2(const std::string& path, const Config& c, const std::string& name) {
  Importer im(path, c);
  set_common(im, c, "gpt2", name);
  const int64_t E = c.integer("n_embd");
  im.set("gpt2.embedding_length", int_value(E));
  im.set("gpt2.block_count", int_value(c.integer("n_layer")));
  im.set("gpt2.attention.head_count", int_value(c.integer("n_head")));
  im.set("gpt2.feed_forward_length", int_value(c.integer("n_inner", 4 * E)));
  im.set("gpt2.context_length", int_value(c.integer("n_positions", c.integer("n_ctx", 1024))));
  im.set("gpt2.attention.layer_norm_epsilon", float_value(c.number("layer_norm_epsilon", 1e-5)));
  const std::string act = c.string("activation_function", "gelu_new");
  if (act != "gelu_new" && act != "gelu_pytorch_tanh") fail("{}: activation_function '{}' is not supported (gelu_new)", c.file(), act);
  const std::string L = "h.{L}.";
  im.add_rule("wte.weight", "token_embd.weight");
  im.add_rule("wpe.weight", "position_embd.weight");
  im.add_rule("ln_f.weight", "output_norm.weight");
  im.add_rule("ln_f.bias", "output_norm.bias");
  im.add_rule("lm_head.weight", "output.weight");
  im.add_rule(L + "ln_1.weight", "blk.{}.attn_norm.weight");
  im.add_rule(L + "ln_1.bias", "blk.{}.attn_norm.bias");
  im.add_rule(L + "attn.c_attn.weight", "blk.{}.attn_qkv.weight", Transform::kTranspose);
  im.add_rule(L + "attn.c_attn.bias", "blk.{}.attn_qkv.bias");
  im.add_rule(L + "attn.c_proj.weight", "blk.{}.attn_output.weight", Transform::kTranspose);
  im.add_rule(L + "attn.c_proj.bias", "blk.{}.attn_output.bias");
  im.add_rule(L + "ln_2.weight", "blk.{}.ffn_norm.weight");
  im.add_rule(L + "ln_2.bias", "blk.{}.ffn_norm.bias");
  im.add_rule(L + "mlp.c_fc.weight", "blk.{}.ffn_up.weight", Transform::kTranspose);
  im.add_rule(L + "mlp.c_fc.bias", "blk.{}.ffn_up.bias");
  im.add_rule(L + "mlp.c_proj.weight", "blk.{}.ffn_down.weight", Transform::kTranspose);
  im.add_rule(L + "mlp.c_proj.bias", "blk.{}.ffn_down.bias");
  // The causal-mask buffers older exports save.
  im.ignore("h.{L}.attn.bias");
  im.ignore("h.{L}.attn.masked_bias");
  return im.finish({"transformer."});
}

}  // namespace

bool is_hf_checkpoint(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) || ends_with(path, ".safetensors") || ends_with(path, ".safetensors.index.json") ||
         ends_with(path, "config.json");
}

std::unique_ptr<gguf::GgufFile> import_hf_checkpoint(const std::string& path) {
  const fs::path dir = checkpoint_dir(path);
  const fs::path config_path = dir / "config.json";
  if (!fs::exists(config_path)) fail("{}: no config.json beside the weights", path);
  const Config c(read_json(config_path), config_path.string());
  // Point at the weights: config.json names the directory.
  const std::string weights = ends_with(path, "config.json") ? dir.string() : path;
  std::string name = dir.filename().string();
  if (name.empty() || name == ".") name = fs::absolute(dir).filename().string();
  const std::string type = c.string("model_type", "");
  if (type == "llama") return import_llama(weights, c, name);
  if (type == "gemma3_text") return import_gemma3(weights, c, name, {"model."});
  if (type == "gemma3") {
    if (!c.has("text_config") || !c.raw()["text_config"].is_object()) fail("{}: gemma3 config without text_config", c.file());
    const Config text(c.raw()["text_config"], c.file() + " text_config");
    return import_gemma3(weights, text, name, {"language_model.model.", "model."});
  }
  if (type == "gpt2") return import_gpt2(weights, c, name);
  fail("{}: model_type '{}' is not supported (llama, gemma3_text, gemma3, gpt2)", c.file(), type);
}

std::unique_ptr<gguf::GgufFile> open_model_file(const std::string& path) {
  return is_hf_checkpoint(path) ? import_hf_checkpoint(path) : gguf::GgufFile::open(path);
}

}  // namespace ts
