#pragma once
// Hyper-parameters of a decoder-only transformer, read from GGUF metadata (nothing hard-coded).
#include <cstdint>
#include <string>

namespace ts {
namespace gguf { class GgufFile; }

struct ModelConfig {
  std::string arch;         // general.architecture
  std::string name;         // general.name
  int64_t n_vocab = 0;
  int64_t n_embd = 0;       // hidden size
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;    // < n_head: grouped-query attention
  int64_t head_dim = 0;
  int64_t n_ff = 0;         // feed-forward hidden size
  int64_t n_ctx_train = 0;
  float norm_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // positions are multiplied by this (linear scaling = 1/factor)
  int64_t n_rot = 0;        // rotated dims per head
  bool rope_neox = false;   // rotate (i, i + n_rot/2) instead of adjacent pairs
  int64_t sliding_window = 0;  // > 0: local layers attend to this many latest positions

  int64_t kv_dim() const { return n_head_kv * head_dim; }
  int64_t q_dim() const { return n_head * head_dim; }

  // Reads `<arch>.*` keys; throws naming any missing or inconsistent value.
  static ModelConfig from_gguf(const gguf::GgufFile& file);
};

}  // namespace ts
