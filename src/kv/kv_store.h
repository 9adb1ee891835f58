#pragma once
// Storage of K and V rows for every layer in fixed-size blocks. Which block belongs to which
// sequence is the block pool's business (block_pool.h); this only owns the memory.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/numerics.h"

namespace ts {

class KvStore {
 public:
  // Values are stored as f16 (IEEE half bits), as llama.cpp's default cache holds them; the
  // attention kernels widen them to f32 as they load (exact).
  KvStore(int64_t n_layer, int64_t kv_dim, int64_t block_size, int64_t num_blocks);

  int64_t n_layer() const { return n_layer_; }
  int64_t kv_dim() const { return kv_dim_; }
  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return num_blocks_; }
  size_t bytes() const { return 2 * values_ * sizeof(uint16_t); }
  static int64_t bytes_per_block(int64_t n_layer, int64_t kv_dim, int64_t block_size) {
    return 2 * n_layer * block_size * kv_dim * static_cast<int64_t>(sizeof(uint16_t));
  }

  // Row `row` (< block_size) of a block: [kv_dim] f16 values.
  uint16_t* k_row(int64_t layer, int32_t block, int64_t row) { return k_.get() + offset(layer, block, row); }
  uint16_t* v_row(int64_t layer, int32_t block, int64_t row) { return v_.get() + offset(layer, block, row); }

  // Columns [col, col + head_dim) of positions 0.. of a sequence whose blocks are `table`.
  PagedRows k_rows(int64_t layer, const int32_t* table, int64_t col) const { return rows(k_, layer, table, col); }
  PagedRows v_rows(int64_t layer, const int32_t* table, int64_t col) const { return rows(v_, layer, table, col); }

 private:
  size_t offset(int64_t layer, int32_t block, int64_t row) const {
    return static_cast<size_t>(((layer * num_blocks_ + block) * block_size_ + row) * kv_dim_);
  }
  PagedRows rows(const std::unique_ptr<uint16_t[]>& data, int64_t layer, const int32_t* table, int64_t col) const {
    return {data.get() + offset(layer, 0, 0) + col, table, block_size_, block_size_ * kv_dim_, kv_dim_};
  }

  int64_t n_layer_, kv_dim_, block_size_, num_blocks_;
  size_t values_ = 0;
  // Left uninitialised on purpose: a position is always written before it is read, and untouched
  // pages of a large budget then cost no memory (nor seconds of zeroing at start).
  std::unique_ptr<uint16_t[]> k_;  // [n_layer, num_blocks, block_size, kv_dim] f16
  std::unique_ptr<uint16_t[]> v_;  // [n_layer, num_blocks, block_size, kv_dim] f16
};

}  // namespace ts
