// The KV block pool: allocation order, reference counts, the prefix cache and its invariants.
#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "kv/block_pool.h"
#include "kv/kv_store.h"

namespace ts {
namespace {

TEST(BlockPool, AllocatesUntilEmptyAndReleasesToTheBack) {
  BlockPool pool(4, 16);
  std::vector<int32_t> got;
  for (int i = 0; i < 4; ++i) got.push_back(pool.allocate());
  EXPECT_EQ(got, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(pool.num_free(), 0);
  EXPECT_FALSE(pool.can_allocate(1));
  EXPECT_THROW(pool.allocate(), std::exception);
  pool.release(2);
  pool.release(0);
  EXPECT_EQ(pool.allocate(), 2);  // least recently freed first
  EXPECT_EQ(pool.num_used(), 3);
  EXPECT_THROW(pool.release(0), std::exception);   // nobody holds it
  EXPECT_THROW(pool.release(7), std::exception);   // outside the pool
  EXPECT_THROW(pool.release(-1), std::exception);
  pool.check_invariants();
}

TEST(BlockPool, RejectsBadSizes) {
  EXPECT_THROW(BlockPool(0, 16), std::exception);
  EXPECT_THROW(BlockPool(4, 0), std::exception);
  EXPECT_THROW(BlockPool(-3, 16), std::exception);
}

TEST(BlockPool, PrefixCacheSharesFullBlocksAndSurvivesRelease) {
  BlockPool pool(3, 4);
  const std::vector<int32_t> a = {1, 2, 3, 4}, b = {5, 6, 7, 8};
  const int32_t b0 = pool.allocate(), b1 = pool.allocate();
  pool.cache_full(b0, 0, a.data());
  const uint64_t h0 = BlockPool::chain_hash(0, a.data(), 4);
  pool.cache_full(b1, h0, b.data());
  // A second sequence with the same prefix shares both blocks.
  EXPECT_EQ(pool.acquire_cached(0, a.data()), b0);
  EXPECT_EQ(pool.acquire_cached(h0, b.data()), b1);
  EXPECT_EQ(pool.ref_count(b0), 2);
  // Same tokens after a different parent: no hit.
  EXPECT_EQ(pool.acquire_cached(12345, b.data()), -1);
  EXPECT_EQ(pool.prefix_queries(), 3);
  EXPECT_EQ(pool.prefix_hits(), 2);
  for (int i = 0; i < 2; ++i) {
    pool.release(b0);
    pool.release(b1);
  }
  EXPECT_EQ(pool.num_free(), 3);
  // Freed but cached: a later request still finds them, taking them off the free list.
  EXPECT_EQ(pool.acquire_cached(0, a.data()), b0);
  EXPECT_EQ(pool.num_free(), 2);
  pool.check_invariants();
  // Handing a cached block out again forgets its prefix.
  const int32_t first = pool.allocate();   // the never-used block 2
  const int32_t second = pool.allocate();  // b1, evicted
  EXPECT_EQ(first, 2);
  EXPECT_EQ(second, b1);
  EXPECT_EQ(pool.acquire_cached(h0, b.data()), -1);
  pool.check_invariants();
}

TEST(BlockPool, RandomOperationsKeepInvariants) {
  std::mt19937 rng(3);
  BlockPool pool(32, 2);
  std::vector<int32_t> held;
  for (int step = 0; step < 5000; ++step) {
    const int op = static_cast<int>(rng() % 4);
    if (op == 0 && pool.can_allocate(1)) {
      held.push_back(pool.allocate());
    } else if (op == 1 && !held.empty()) {
      const size_t i = rng() % held.size();
      pool.release(held[i]);
      held.erase(held.begin() + static_cast<ptrdiff_t>(i));
    } else if (op == 2 && !held.empty()) {
      const int32_t toks[2] = {static_cast<int32_t>(rng() % 5), static_cast<int32_t>(rng() % 5)};
      pool.cache_full(held[rng() % held.size()], rng() % 3, toks);
    } else if (op == 3) {
      const int32_t toks[2] = {static_cast<int32_t>(rng() % 5), static_cast<int32_t>(rng() % 5)};
      const int32_t b = pool.acquire_cached(rng() % 3, toks);
      if (b >= 0) held.push_back(b);
    }
    pool.check_invariants();
    ASSERT_EQ(pool.num_used() + pool.num_free(), 32);
  }
  for (int32_t b : held) pool.release(b);
  EXPECT_EQ(pool.num_free(), 32);
  pool.check_invariants();
}

TEST(KvStore, BlocksDoNotOverlapAndPagedRowsFindThem) {
  KvStore kv(2, 8, 4, 3);  // head size not given: one head of 8 values
  EXPECT_EQ(kv.n_heads(), 1);
  EXPECT_EQ(kv.head_bytes(), 16);
  for (int64_t l = 0; l < 2; ++l) {
    for (int32_t b = 0; b < 3; ++b) {
      for (int64_t r = 0; r < 4; ++r) reinterpret_cast<uint16_t*>(kv.k_head(l, b, r, 0))[1] = static_cast<uint16_t>(100 * l + 10 * b + r);
    }
  }
  const int32_t table[3] = {2, 0, 1};
  const PagedRows rows = as_f16(kv.k_rows(1, table, 0));
  for (int64_t p = 0; p < 12; ++p) EXPECT_EQ(rows.row(p)[1], static_cast<uint16_t>(100 + 10 * table[p / 4] + p % 4)) << p;
  EXPECT_EQ(kv.bytes(), 2u * 2 * 3 * 4 * 8 * sizeof(uint16_t));  // K and V, f16
  EXPECT_EQ(KvStore::bytes_per_block(2, 8, 4), 2 * 2 * 4 * 8 * 2);
  EXPECT_THROW(KvStore(2, 8, 0, 3), std::exception);
  EXPECT_THROW(KvStore(1 << 20, 1 << 20, 1 << 20, 1 << 20), std::exception);
}

// Inside a block each head's positions are one contiguous run (attention reads one head over
// many positions), every (layer, block, position, head) slot is distinct, and the paged view of
// a head finds its values through any block table.
TEST(KvStore, HeadsAreContiguousRunsInsideEachBlock) {
  const int64_t n_layer = 2, heads = 3, head_dim = 4, block = 5, blocks = 4;
  KvStore kv(n_layer, heads * head_dim, block, blocks, KvType::kF16, head_dim);
  ASSERT_EQ(kv.n_heads(), heads);
  ASSERT_EQ(kv.head_bytes(), head_dim * 2);
  std::set<const uint8_t*> slots;
  for (int64_t l = 0; l < n_layer; ++l) {
    for (int32_t b = 0; b < blocks; ++b) {
      for (int64_t r = 0; r < block; ++r) {
        for (int64_t h = 0; h < heads; ++h) {
          uint8_t* k = kv.k_head(l, b, r, h);
          EXPECT_TRUE(slots.insert(k).second) << l << " " << b << " " << r << " " << h;
          EXPECT_GE(k, kv.k_head(0, 0, 0, 0));
          EXPECT_LE(k + kv.head_bytes(), kv.k_head(0, 0, 0, 0) + kv.bytes() / 2);
          if (r > 0) {
            EXPECT_EQ(k, kv.k_head(l, b, r - 1, h) + kv.head_bytes());  // contiguous run per head
          }
          for (int64_t d = 0; d < head_dim; ++d) {
            reinterpret_cast<uint16_t*>(k)[d] = static_cast<uint16_t>(1000 * l + 100 * b + 10 * h + r + d);
            reinterpret_cast<uint16_t*>(kv.v_head(l, b, r, h))[d] = static_cast<uint16_t>(50000 - (1000 * l + 100 * b + 10 * h + r + d));
          }
        }
      }
    }
  }
  const int32_t table[4] = {3, 1, 0, 2};
  for (int64_t h = 0; h < heads; ++h) {
    const PagedRows keys = as_f16(kv.k_rows(1, table, h));
    const PagedRows values = as_f16(kv.v_rows(1, table, h));
    for (int64_t p = 0; p < blocks * block; ++p) {
      const int64_t b = table[p / block], r = p % block;
      for (int64_t d = 0; d < head_dim; ++d) {
        ASSERT_EQ(keys.row(p)[d], static_cast<uint16_t>(1000 + 100 * b + 10 * h + r + d)) << h << " " << p;
        ASSERT_EQ(values.row(p)[d], static_cast<uint16_t>(50000 - (1000 + 100 * b + 10 * h + r + d))) << h << " " << p;
      }
    }
  }
  EXPECT_THROW(KvStore(2, 10, 4, 3, KvType::kF16, 4), std::exception);  // 10 values are not whole heads of 4
}

TEST(KvStore, Q8_0RowsTakeBlocksOf34BytesPer32Values) {
  // TinyLlama: 4 KV heads of 64 -> 256 values = 8 Q8_0 blocks = 272 bytes per row (f16: 512).
  EXPECT_EQ(kv_row_bytes(KvType::kQ8_0, 256, 64), 272);
  EXPECT_EQ(kv_row_bytes(KvType::kF16, 256, 64), 512);
  EXPECT_EQ(KvStore::bytes_per_block(22, 256, 1, KvType::kQ8_0, 64), 2 * 22 * 272);  // 11968 B per token
  KvStore kv(2, 64, 4, 3, KvType::kQ8_0, 32);
  EXPECT_EQ(kv.row_bytes(), 68);
  EXPECT_EQ(kv.bytes(), 2u * 2 * 3 * 4 * 68);
  EXPECT_EQ(kv.n_heads(), 2);
  EXPECT_EQ(kv.head_bytes(), 34);  // one Q8_0 block per head of 32
  const int32_t table[3] = {1, 2, 0};
  const PagedBytes rows = kv.v_rows(1, table, 1);
  EXPECT_EQ(rows.row(5), kv.v_head(1, 2, 1, 1));
  EXPECT_EQ(rows.row(6), rows.row(5) + 34);  // a head's positions follow each other inside a block
  // Heads that are not whole blocks, or a row that is not, are refused with the reason.
  EXPECT_THROW(KvStore(2, 48, 4, 3, KvType::kQ8_0, 48), std::exception);
  EXPECT_THROW(KvStore(2, 64, 4, 3, KvType::kQ8_0, 16), std::exception);
  EXPECT_THROW(KvStore(2, 64, 4, 3, KvType::kQ8_0), std::exception);  // head size not given
  EXPECT_EQ(KvStore(2, 64, 4, 3).row_bytes(), 128);                      // f16 does not need it
  EXPECT_EQ(parse_kv_type("q8_0"), KvType::kQ8_0);
  EXPECT_EQ(kv_type_name(parse_kv_type("f16")), "f16");
  EXPECT_THROW(parse_kv_type("q4_0"), std::exception);
}

}  // namespace
}  // namespace ts
