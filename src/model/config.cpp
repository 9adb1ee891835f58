#include "model/config.h"

#include "base/error.h"
#include "formats/gguf/gguf_reader.h"

namespace ts {

ModelConfig ModelConfig::from_gguf(const gguf::GgufFile& f) {
  ModelConfig c;
  c.arch = f.get_string("general.architecture");
  c.name = f.get_string("general.name", "");
  const std::string a = c.arch + ".";
  auto positive = [&](const std::string& key, int64_t value) {
    if (value <= 0 || value > (int64_t{1} << 24)) fail("{}: {} = {} is out of range", f.path(), key, value);
    return value;
  };
  c.n_embd = positive(a + "embedding_length", f.get_int(a + "embedding_length"));
  c.n_layer = positive(a + "block_count", f.get_int(a + "block_count"));
  c.n_head = positive(a + "attention.head_count", f.get_int(a + "attention.head_count"));
  c.n_head_kv = positive(a + "attention.head_count_kv", f.get_int(a + "attention.head_count_kv", c.n_head));
  c.n_ff = positive(a + "feed_forward_length", f.get_int(a + "feed_forward_length"));
  c.n_ctx_train = positive(a + "context_length", f.get_int(a + "context_length", 2048));
  c.head_dim = positive(a + "attention.key_length", f.get_int(a + "attention.key_length", c.n_embd / c.n_head));
  if (c.n_head % c.n_head_kv != 0) {
    fail("{}: head_count {} is not a multiple of head_count_kv {}", f.path(), c.n_head, c.n_head_kv);
  }
  c.norm_eps = static_cast<float>(f.get_float(a + "attention.layer_norm_rms_epsilon",
                                              f.get_float(a + "attention.layer_norm_epsilon", 1e-5)));
  c.rope_freq_base = static_cast<float>(f.get_float(a + "rope.freq_base", 10000.0));
  c.n_rot = f.get_int(a + "rope.dimension_count", c.head_dim);
  if (c.n_rot <= 0 || c.n_rot > c.head_dim || c.n_rot % 2 != 0) {
    fail("{}: rope.dimension_count {} does not fit head size {}", f.path(), c.n_rot, c.head_dim);
  }
  const std::string scaling = f.get_string(a + "rope.scaling.type", "none");
  if (scaling == "linear") {
    const double factor = f.get_float(a + "rope.scaling.factor", 1.0);
    if (!(factor > 0.0)) fail("{}: rope.scaling.factor {} must be positive", f.path(), factor);
    c.rope_freq_scale = static_cast<float>(1.0 / factor);
  } else if (scaling != "none") {
    fail("{}: rope.scaling.type '{}' is not supported (none, linear)", f.path(), scaling);
  }
  c.sliding_window = f.get_int(a + "attention.sliding_window", 0);
  if (c.sliding_window < 0) fail("{}: attention.sliding_window {} is negative", f.path(), c.sliding_window);
  if (const auto* tokens = f.find("tokenizer.ggml.tokens")) c.n_vocab = static_cast<int64_t>(tokens->array_size);
  c.n_vocab = f.get_int(a + "vocab_size", c.n_vocab);
  if (c.n_vocab <= 0) fail("{}: vocabulary size unknown (no {}vocab_size and no tokens)", f.path(), a);
  return c;
}

}  // namespace ts
