#include "kv/kv_store.h"

#include "base/checked_math.h"
#include "base/error.h"

namespace ts {

KvStore::KvStore(int64_t n_layer, int64_t kv_dim, int64_t block_size, int64_t num_blocks)
    : n_layer_(n_layer), kv_dim_(kv_dim), block_size_(block_size), num_blocks_(num_blocks) {
  if (n_layer <= 0 || kv_dim <= 0 || block_size <= 0 || num_blocks <= 0) {
    fail("KV store: layers {}, kv_dim {}, block size {}, blocks {} must all be positive", n_layer, kv_dim, block_size,
         num_blocks);
  }
  if (num_blocks > INT32_MAX) fail("KV store: {} blocks exceed the {} a block table can name", num_blocks, INT32_MAX);
  uint64_t values = 1;
  for (int64_t f : {n_layer, num_blocks, block_size, kv_dim}) {
    const auto next = checked_mul(values, static_cast<uint64_t>(f));
    if (!next || *next > (uint64_t{1} << 40)) fail("KV store: {} x {} blocks of {} x {} values is too large", n_layer, num_blocks, block_size, kv_dim);
    values = *next;
  }
  values_ = values;
  k_.reset(new uint16_t[values]);
  v_.reset(new uint16_t[values]);
}

}  // namespace ts
