#pragma once
// A single sequence's KV cache: one block holding every position, so single-sequence callers
// (generate, perplexity, benchmarks) and batched serving run the same paged code path.
#include <cstdint>

#include "kv/kv_store.h"
#include "model/config.h"

namespace ts {

struct KvCache {
  int64_t n_ctx = 0;
  KvStore store;           // one block of [n_ctx, kv_dim] per layer for K and for V
  int32_t table[1] = {0};  // the block table: block 0 covers positions 0..n_ctx-1

  KvCache(const ModelConfig& c, int64_t ctx, KvType type = KvType::kF16)
      : n_ctx(ctx), store(c.n_layer, c.kv_dim(), ctx, 1, type, c.head_dim) {}

  uint8_t* k_at(int64_t layer, int64_t pos) { return store.k_row(layer, 0, pos); }  // [kv_dim] in store.type()
  uint8_t* v_at(int64_t layer, int64_t pos) { return store.v_row(layer, 0, pos); }
  size_t bytes() const { return store.bytes(); }
};

}  // namespace ts
