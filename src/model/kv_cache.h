#pragma once
// A single sequence's KV cache: one block holding every position, so single-sequence callers
// (generate, perplexity, benchmarks) and batched serving run the same paged code path.
#include <cstdint>

#include "kv/kv_store.h"
#include "model/config.h"

namespace ts {

struct KvCache {
  int64_t n_ctx = 0;
  KvStore store;           // one block of [n_kv_head, n_ctx, head_dim] per layer for K and for V
  int32_t table[1] = {0};  // the block table: block 0 covers positions 0..n_ctx-1

  KvCache(const ModelConfig& c, int64_t ctx, KvType type = KvType::kF16)
      : n_ctx(ctx), store(c.n_layer, c.kv_dim(), ctx, 1, type, c.head_dim) {}

  size_t bytes() const { return store.bytes(); }
};

}  // namespace ts
