#pragma once
// Bookkeeping of KV blocks: reference counts, a free list, and the prefix cache (full blocks
// keyed by a hash chain of their tokens, so sequences that share a prompt prefix share its KV).
// Pure logic over counters: the KV values themselves live in KvStore.
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace ts {

class BlockPool {
 public:
  BlockPool(int64_t num_blocks, int64_t block_size);

  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return block_size_; }
  // Blocks no sequence holds (cached ones among them stay reusable until they are handed out).
  int64_t num_free() const { return num_free_; }
  int64_t num_used() const { return num_blocks_ - num_free_; }
  int64_t num_cached() const { return static_cast<int64_t>(by_hash_.size()); }
  int32_t ref_count(int32_t block) const { return ref_[static_cast<size_t>(block)]; }

  bool can_allocate(int64_t n) const { return n <= num_free_; }
  // Takes the least recently freed block (forgetting any prefix it cached); throws if none is free.
  int32_t allocate();
  // Drops one reference; at zero the block joins the free list but keeps its prefix for reuse.
  void release(int32_t block);

  // The hash of a full block given its parent's hash (0 for the first block) and its tokens.
  static uint64_t chain_hash(uint64_t parent, const int32_t* tokens, int64_t n);
  // A cached block with exactly this parent and these block_size tokens, now referenced by the
  // caller; -1 if none. Counts toward the hit rate.
  int32_t acquire_cached(uint64_t parent, const int32_t* tokens);
  // Records that `block` (held by the caller) is full of these tokens after `parent`.
  void cache_full(int32_t block, uint64_t parent, const int32_t* tokens);

  int64_t prefix_queries() const { return prefix_queries_; }
  int64_t prefix_hits() const { return prefix_hits_; }

  // Throws naming the first broken invariant (free + used = total, ref counts >= 0, free list
  // and counts agree, cache entries point at blocks that hold them).
  void check_invariants() const;

 private:
  struct Entry {
    uint64_t hash = 0;
    uint64_t parent = 0;
    bool cached = false;
  };
  void unlink(int32_t block);
  void push_back(int32_t block);
  void forget(int32_t block);

  int64_t num_blocks_, block_size_;
  int64_t num_free_ = 0;
  std::vector<int32_t> ref_;            // [num_blocks]
  std::vector<int32_t> prev_, next_;    // [num_blocks] free-list links, -1 at the ends
  std::vector<uint8_t> in_free_list_;   // [num_blocks]
  int32_t head_ = -1, tail_ = -1;       // allocate from head, free to tail (LRU order)
  std::vector<Entry> entry_;            // [num_blocks]
  std::vector<int32_t> tokens_;         // [num_blocks, block_size] tokens of cached blocks
  std::unordered_map<uint64_t, int32_t> by_hash_;
  int64_t prefix_queries_ = 0, prefix_hits_ = 0;
};

}  // namespace ts
