#include "kv/block_pool.h"

#include <algorithm>

#include "base/error.h"

namespace ts {

BlockPool::BlockPool(int64_t num_blocks, int64_t block_size) : num_blocks_(num_blocks), block_size_(block_size) {
  if (num_blocks <= 0 || num_blocks > INT32_MAX) fail("KV pool: {} blocks (must be 1..{})", num_blocks, INT32_MAX);
  if (block_size <= 0 || block_size > 4096) fail("KV pool: block size {} (must be 1..4096)", block_size);
  const auto n = static_cast<size_t>(num_blocks);
  ref_.assign(n, 0);
  prev_.assign(n, -1);
  next_.assign(n, -1);
  in_free_list_.assign(n, 0);
  entry_.assign(n, Entry{});
  tokens_.assign(n * static_cast<size_t>(block_size), 0);
  for (int32_t b = 0; b < static_cast<int32_t>(num_blocks); ++b) push_back(b);
}

void BlockPool::unlink(int32_t b) {
  const auto i = static_cast<size_t>(b);
  if (prev_[i] >= 0) next_[static_cast<size_t>(prev_[i])] = next_[i]; else head_ = next_[i];
  if (next_[i] >= 0) prev_[static_cast<size_t>(next_[i])] = prev_[i]; else tail_ = prev_[i];
  prev_[i] = next_[i] = -1;
  in_free_list_[i] = 0;
  --num_free_;
}

void BlockPool::push_back(int32_t b) {
  const auto i = static_cast<size_t>(b);
  prev_[i] = tail_;
  next_[i] = -1;
  if (tail_ >= 0) next_[static_cast<size_t>(tail_)] = b; else head_ = b;
  tail_ = b;
  in_free_list_[i] = 1;
  ++num_free_;
}

void BlockPool::forget(int32_t b) {
  Entry& e = entry_[static_cast<size_t>(b)];
  if (!e.cached) return;
  const auto it = by_hash_.find(e.hash);
  if (it != by_hash_.end() && it->second == b) by_hash_.erase(it);
  e = Entry{};
}

int32_t BlockPool::allocate() {
  if (head_ < 0) fail("KV pool: no free block ({} in use)", num_blocks_);
  const int32_t b = head_;
  unlink(b);
  forget(b);
  ref_[static_cast<size_t>(b)] = 1;
  return b;
}

void BlockPool::release(int32_t b) {
  if (b < 0 || b >= num_blocks_) fail("KV pool: release of block {} outside 0..{}", b, num_blocks_ - 1);
  int32_t& r = ref_[static_cast<size_t>(b)];
  if (r <= 0) fail("KV pool: release of block {} that nobody holds", b);
  if (--r == 0) push_back(b);
}

uint64_t BlockPool::chain_hash(uint64_t parent, const int32_t* tokens, int64_t n) {
  // FNV-1a over the parent hash and the token ids, finished with a 64-bit mixer; equal hashes
  // are still checked token by token before a block is shared.
  uint64_t h = 0xcbf29ce484222325ull ^ parent;
  auto mix = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 0x100000001b3ull;
    }
  };
  mix(parent);
  for (int64_t i = 0; i < n; ++i) mix(static_cast<uint32_t>(tokens[i]));
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h == 0 ? 1 : h;  // 0 means "no parent"
}

int32_t BlockPool::acquire_cached(uint64_t parent, const int32_t* tokens) {
  ++prefix_queries_;
  const uint64_t h = chain_hash(parent, tokens, block_size_);
  const auto it = by_hash_.find(h);
  if (it == by_hash_.end()) return -1;
  const int32_t b = it->second;
  const Entry& e = entry_[static_cast<size_t>(b)];
  const int32_t* stored = tokens_.data() + static_cast<size_t>(b) * static_cast<size_t>(block_size_);
  if (e.parent != parent || !std::equal(tokens, tokens + block_size_, stored)) return -1;
  if (in_free_list_[static_cast<size_t>(b)]) unlink(b);
  ++ref_[static_cast<size_t>(b)];
  ++prefix_hits_;
  return b;
}

void BlockPool::cache_full(int32_t b, uint64_t parent, const int32_t* tokens) {
  if (b < 0 || b >= num_blocks_ || ref_[static_cast<size_t>(b)] <= 0) fail("KV pool: caching block {} that nobody holds", b);
  const uint64_t h = chain_hash(parent, tokens, block_size_);
  if (by_hash_.count(h) != 0) return;  // an identical block is cached already; this one stays private
  forget(b);
  entry_[static_cast<size_t>(b)] = Entry{h, parent, true};
  std::copy(tokens, tokens + block_size_, tokens_.begin() + static_cast<ptrdiff_t>(b) * block_size_);
  by_hash_.emplace(h, b);
}

void BlockPool::check_invariants() const {
  int64_t listed = 0, held = 0;
  for (int32_t b = head_; b >= 0; b = next_[static_cast<size_t>(b)]) {
    if (++listed > num_blocks_) fail("KV pool invariant: free list has a cycle");
    if (ref_[static_cast<size_t>(b)] != 0) fail("KV pool invariant: block {} is free with {} references", b, ref_[static_cast<size_t>(b)]);
  }
  for (int32_t b = 0; b < num_blocks_; ++b) {
    const int32_t r = ref_[static_cast<size_t>(b)];
    if (r < 0) fail("KV pool invariant: block {} has {} references", b, r);
    if (r > 0) ++held;
    if ((r == 0) != (in_free_list_[static_cast<size_t>(b)] != 0)) fail("KV pool invariant: block {} free-list flag disagrees with its count", b);
  }
  if (listed != num_free_) fail("KV pool invariant: {} blocks listed free, {} counted", listed, num_free_);
  if (held + num_free_ != num_blocks_) fail("KV pool invariant: {} used + {} free != {} total", held, num_free_, num_blocks_);
  for (const auto& [h, b] : by_hash_) {
    const Entry& e = entry_[static_cast<size_t>(b)];
    if (!e.cached || e.hash != h) fail("KV pool invariant: prefix entry {:x} points at block {} that does not hold it", h, b);
  }
}

}  // namespace ts
