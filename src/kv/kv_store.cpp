#include "kv/kv_store.h"

#include "base/checked_math.h"
#include "base/error.h"
#include "quant/blocks.h"

namespace ts {

std::string_view kv_type_name(KvType t) { return t == KvType::kQ8_0 ? "q8_0" : t == KvType::kF32 ? "f32" : "f16"; }

KvType parse_kv_type(std::string_view name) {
  if (name == "f16") return KvType::kF16;
  if (name == "q8_0") return KvType::kQ8_0;
  if (name == "f32") return KvType::kF32;
  fail("KV cache type '{}' is not one of f16, q8_0, f32", name);
}

int64_t kv_row_bytes(KvType t, int64_t kv_dim, int64_t head_dim) {
  if (kv_dim <= 0 || head_dim < 0) fail("KV rows of {} values ({} per head) are not possible", kv_dim, head_dim);
  if (t == KvType::kF16) return kv_dim * static_cast<int64_t>(sizeof(uint16_t));
  if (t == KvType::kF32) return kv_dim * static_cast<int64_t>(sizeof(float));
  if (kv_dim % kQK != 0 || head_dim == 0 || head_dim % kQK != 0) {
    fail("a q8_0 KV cache needs kv_dim ({}) and head_dim ({}) to be multiples of {}", kv_dim, head_dim, kQK);
  }
  return kv_dim / kQK * static_cast<int64_t>(sizeof(BlockQ8_0));
}

KvStore::KvStore(int64_t n_layer, int64_t kv_dim, int64_t block_size, int64_t num_blocks, KvType type, int64_t head_dim)
    : n_layer_(n_layer), kv_dim_(kv_dim), block_size_(block_size), num_blocks_(num_blocks), type_(type) {
  if (n_layer <= 0 || kv_dim <= 0 || block_size <= 0 || num_blocks <= 0) {
    fail("KV store: layers {}, kv_dim {}, block size {}, blocks {} must all be positive", n_layer, kv_dim, block_size,
         num_blocks);
  }
  if (num_blocks > INT32_MAX) fail("KV store: {} blocks exceed the {} a block table can name", num_blocks, INT32_MAX);
  row_bytes_ = kv_row_bytes(type, kv_dim, head_dim);
  if (head_dim > 0 && kv_dim % head_dim != 0) fail("KV store: kv_dim {} is not a whole number of heads of {}", kv_dim, head_dim);
  n_heads_ = head_dim > 0 ? kv_dim / head_dim : 1;
  head_bytes_ = row_bytes_ / n_heads_;  // exact: every type's row is n_heads equal slices (Q8_0: whole blocks per head)
  uint64_t bytes = 1;
  for (int64_t f : {n_layer, num_blocks, block_size, row_bytes_}) {
    const auto next = checked_mul(bytes, static_cast<uint64_t>(f));
    if (!next || *next > (uint64_t{1} << 41)) fail("KV store: {} x {} blocks of {} x {} values is too large", n_layer, num_blocks, block_size, kv_dim);
    bytes = *next;
  }
  bytes_ = bytes;
  k_.reset(new uint8_t[bytes]);
  v_.reset(new uint8_t[bytes]);
}

}  // namespace ts
