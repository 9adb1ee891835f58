#pragma once
// Contiguous per-sequence KV cache (the paged pool lives in kv/ and serves batched serving).
#include <cstdint>
#include <vector>

#include "model/config.h"

namespace ts {

struct KvCache {
  int64_t n_ctx = 0;
  int64_t kv_dim = 0;
  int64_t n_layer = 0;
  std::vector<float> k;  // [n_layer, n_ctx, kv_dim]
  std::vector<float> v;  // [n_layer, n_ctx, kv_dim]

  KvCache(const ModelConfig& c, int64_t ctx)
      : n_ctx(ctx), kv_dim(c.kv_dim()), n_layer(c.n_layer),
        k(static_cast<size_t>(c.n_layer * ctx * c.kv_dim())), v(k.size()) {}

  float* k_at(int64_t layer, int64_t pos) { return k.data() + (layer * n_ctx + pos) * kv_dim; }
  float* v_at(int64_t layer, int64_t pos) { return v.data() + (layer * n_ctx + pos) * kv_dim; }
  size_t bytes() const { return (k.size() + v.size()) * sizeof(float); }
};

}  // namespace ts
