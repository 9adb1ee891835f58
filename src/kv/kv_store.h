#pragma once
// Storage of K and V rows for every layer in fixed-size blocks. Which block belongs to which
// sequence is the block pool's business (block_pool.h); this only owns the memory.
//
// Inside a block the values are head-major: all of head 0's positions, then head 1's, and so
// on. An attention job reads one KV head over many positions, which is then one contiguous run
// per block (a single-sequence cache is one block: one run per head) that the hardware
// prefetchers follow, instead of a slice out of every row. Zen 5, TinyLlama-shaped Q4_0 decode
// after a 1024-token prompt, rows against head-major (profile medians, three runs of each
// alternating): attention 114 -> 89 µs per layer, 3.4% less time per token; after 16 tokens
// no change with both vCPUs on one die, and 15.2 -> 12.5 µs (a prototype) on two dies.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "kernels/numerics.h"

namespace ts {

// How a cached K or V row is stored.
enum class KvType {
  kF16,   // IEEE half bits, as llama.cpp's default cache holds them
  kQ8_0,  // Q8_0 blocks of 32 values (34 bytes): 47% less memory, a small rounding error
  kF32,   // f32 values as computed: twice f16's memory, no rounding (attended with the online softmax)
};

std::string_view kv_type_name(KvType t);
// "f16", "q8_0" or "f32"; throws naming the text otherwise.
KvType parse_kv_type(std::string_view name);
// Bytes one row of kv_dim values takes; throws if the type cannot hold such rows (Q8_0 needs
// kv_dim and head_dim to be multiples of 32, so no block straddles two heads; head_dim 0 means
// unknown, which only f16 accepts).
int64_t kv_row_bytes(KvType t, int64_t kv_dim, int64_t head_dim);

class KvStore {
 public:
  // f16 rows: the attention kernels widen them to f32 as they load (exact). Q8_0 rows: the
  // keys meet Q8_0-quantized queries in integer dot products and the values are widened per block.
  KvStore(int64_t n_layer, int64_t kv_dim, int64_t block_size, int64_t num_blocks, KvType type = KvType::kF16,
          int64_t head_dim = 0);

  int64_t n_layer() const { return n_layer_; }
  int64_t kv_dim() const { return kv_dim_; }
  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return num_blocks_; }
  KvType type() const { return type_; }
  int64_t row_bytes() const { return row_bytes_; }
  size_t bytes() const { return 2 * bytes_; }
  static int64_t bytes_per_block(int64_t n_layer, int64_t kv_dim, int64_t block_size, KvType type = KvType::kF16,
                                 int64_t head_dim = 0) {
    return 2 * n_layer * block_size * kv_row_bytes(type, kv_dim, head_dim);
  }

  // KV heads (kv_dim / head_dim; 1 where head_dim was not given) and the bytes of one head's
  // values at one position (row_bytes() / n_heads()).
  int64_t n_heads() const { return n_heads_; }
  int64_t head_bytes() const { return head_bytes_; }

  // Head `head` of row `row` (< block_size) of a block: head_bytes() bytes in the store's type.
  uint8_t* k_head(int64_t layer, int32_t block, int64_t row, int64_t head) { return k_.get() + offset(layer, block, row, head); }
  uint8_t* v_head(int64_t layer, int32_t block, int64_t row, int64_t head) { return v_.get() + offset(layer, block, row, head); }

  // Head `head` at positions 0.. of a sequence whose blocks are `table`.
  PagedBytes k_rows(int64_t layer, const int32_t* table, int64_t head) const { return rows(k_, layer, table, head); }
  PagedBytes v_rows(int64_t layer, const int32_t* table, int64_t head) const { return rows(v_, layer, table, head); }

 private:
  size_t offset(int64_t layer, int32_t block, int64_t row, int64_t head) const {
    return static_cast<size_t>((((layer * num_blocks_ + block) * n_heads_ + head) * block_size_ + row) * head_bytes_);
  }
  PagedBytes rows(const std::unique_ptr<uint8_t[]>& data, int64_t layer, const int32_t* table, int64_t head) const {
    return {data.get() + offset(layer, 0, 0, head), table, block_size_, block_size_ * row_bytes_, head_bytes_};
  }

  int64_t n_layer_, kv_dim_, block_size_, num_blocks_;
  KvType type_;
  int64_t row_bytes_;
  int64_t n_heads_ = 1;
  int64_t head_bytes_ = 0;
  size_t bytes_ = 0;  // of K (V is the same)
  // Left uninitialised on purpose: a position is always written before it is read, and untouched
  // pages of a large budget then cost no memory (nor seconds of zeroing at start).
  std::unique_ptr<uint8_t[]> k_;  // [n_layer, num_blocks, n_heads, block_size, head_bytes]
  std::unique_ptr<uint8_t[]> v_;  // [n_layer, num_blocks, n_heads, block_size, head_bytes]
};

}  // namespace ts
