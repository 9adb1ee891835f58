#pragma once
// Storage of K and V rows for every layer in fixed-size blocks. Which block belongs to which
// sequence is the block pool's business (block_pool.h); this only owns the memory.
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

  // Row `row` (< block_size) of a block: [kv_dim] values in the store's type (row_bytes() bytes).
  uint8_t* k_row(int64_t layer, int32_t block, int64_t row) { return k_.get() + offset(layer, block, row); }
  uint8_t* v_row(int64_t layer, int32_t block, int64_t row) { return v_.get() + offset(layer, block, row); }

  // Positions 0.. of a sequence whose blocks are `table`, starting at byte `col_bytes` of each row.
  PagedBytes k_rows(int64_t layer, const int32_t* table, int64_t col_bytes) const { return rows(k_, layer, table, col_bytes); }
  PagedBytes v_rows(int64_t layer, const int32_t* table, int64_t col_bytes) const { return rows(v_, layer, table, col_bytes); }

 private:
  size_t offset(int64_t layer, int32_t block, int64_t row) const {
    return static_cast<size_t>(((layer * num_blocks_ + block) * block_size_ + row) * row_bytes_);
  }
  PagedBytes rows(const std::unique_ptr<uint8_t[]>& data, int64_t layer, const int32_t* table, int64_t col_bytes) const {
    return {data.get() + offset(layer, 0, 0) + col_bytes, table, block_size_, block_size_ * row_bytes_, row_bytes_};
  }

  int64_t n_layer_, kv_dim_, block_size_, num_blocks_;
  KvType type_;
  int64_t row_bytes_;
  size_t bytes_ = 0;  // of K (V is the same)
  // Left uninitialised on purpose: a position is always written before it is read, and untouched
  // pages of a large budget then cost no memory (nor seconds of zeroing at start).
  std::unique_ptr<uint8_t[]> k_;  // [n_layer, num_blocks, block_size, row_bytes]
  std::unique_ptr<uint8_t[]> v_;  // [n_layer, num_blocks, block_size, row_bytes]
};

}  // namespace ts
