#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "base/thread_pool.h"

namespace ts {
namespace {

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (size_t n : {0u, 1u, 2u, 7u, 1000u}) {
      std::vector<std::atomic<int>> hits(n);
      for (int rep = 0; rep < 50; ++rep) {
        pool.parallel_for(n, [&](size_t b, size_t e, int t) {
          EXPECT_LT(t, threads);
          for (size_t i = b; i < e; ++i) hits[i]++;
        });
      }
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 50) << threads << " threads, n=" << n;
    }
  }
}

// For 1-3 threads, several sizes n and chunk parameters c: 20 runs of
// schedule(pool, n, c, body) must visit every index exactly once each; check(b, e, n, c, threads)
// tests every range handed out.
template <typename Schedule, typename Check>
void expect_every_index_once(Schedule schedule, Check check) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (size_t n : {0u, 1u, 5u, 64u, 1001u}) {
      for (size_t c : {0u, 1u, 2u, 3u, 16u, 5000u}) {
        std::vector<std::atomic<int>> hits(n);
        for (int rep = 0; rep < 20; ++rep) {
          schedule(pool, n, c, [&](size_t b, size_t e, int t) {
            EXPECT_LT(t, threads);
            check(b, e, n, c, threads);
            for (size_t i = b; i < e; ++i) hits[i]++;
          });
        }
        for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 20) << threads << " threads, n=" << n << " c=" << c;
      }
    }
  }
}

TEST(ThreadPool, DynamicChunksCoverEveryIndexExactlyOnce) {
  expect_every_index_once([](ThreadPool& pool, size_t n, size_t chunk, RangeFn body) { pool.parallel_for_dynamic(n, chunk, body); },
                          [](size_t b, size_t e, size_t, size_t chunk, int) { EXPECT_LE(e - b, chunk == 0 ? 1 : chunk); });
}

TEST(ThreadPool, GuidedChunksCoverEveryIndexOnceStartOnGranulesAndShrink) {
  expect_every_index_once([](ThreadPool& pool, size_t n, size_t granule, RangeFn body) { pool.parallel_for_guided(n, granule, body); },
                          [](size_t b, size_t e, size_t n, size_t granule, int threads) {
                            const size_t g = std::max<size_t>(granule, 1);
                            EXPECT_EQ(b % g, 0u) << "range starts off a granule";
                            // A take is at most half of what was left then, rounded up to a
                            // granule, unless one thread runs everything.
                            if (threads > 1 && e < n) {
                              EXPECT_LE(e - b, std::max<size_t>((n - b) / 2, 1) + g);
                            }
                          });
}

TEST(ThreadPool, StolenChunksCoverEveryIndexOnceAndStartOnGranules) {
  expect_every_index_once([](ThreadPool& pool, size_t n, size_t granule, RangeFn body) { pool.parallel_for_stealing(n, granule, body); },
                          [](size_t b, size_t e, size_t n, size_t granule, int) {
                            EXPECT_EQ(b % std::max<size_t>(granule, 1), 0u) << "range starts off a granule";
                            EXPECT_LT(b, e);
                            EXPECT_LE(e, n);
                          });
}

TEST(ThreadPool, StealingHelpsASlowThread) {
  // Thread 1 sleeps on each of its ranges: thread 0 must take over most of thread 1's share.
  ThreadPool pool(2);
  std::atomic<size_t> done_by_0{0};
  pool.parallel_for_stealing(400, 1, [&](size_t b, size_t e, int t) {
    if (t == 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (t == 0) done_by_0 += e - b;
  });
  EXPECT_GT(done_by_0.load(), 300u);
}

TEST(ThreadPool, DefaultCountsPhysicalCores) {
  // Two SMT siblings on core 0, one thread each on cores 1 and 2, a second package's core 0.
  EXPECT_EQ(count_physical_cores({{0, 0}, {0, 0}, {0, 1}, {0, 2}, {1, 0}}), 4);
  EXPECT_EQ(count_physical_cores({{0, 3}}), 1);
  EXPECT_EQ(count_physical_cores({}), 0);
  const int n = ThreadPool::default_num_threads();
  EXPECT_GE(n, 1);
  EXPECT_LE(n, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace
}  // namespace ts

namespace ts {
namespace {

// Inside one parallel_for over num_threads indices, no thread leaves arrive_and_wait before
// every other has reached it as often: after each wait, each thread sees every other's value
// from the same round (a missing or early release would show a thread a round behind), over
// many rounds and with a deliberately slow thread.
TEST(ArrivalBarrier, NoThreadPassesBeforeAllArrive) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    ArrivalBarrier barrier(threads);
    EXPECT_EQ(barrier.num_threads(), threads);
    std::vector<std::atomic<int>> round(static_cast<size_t>(threads));
    for (auto& r : round) r.store(-1);
    std::atomic<int> mismatches{0};
    constexpr int kRounds = 300;
    for (int call = 0; call < 2; ++call) {  // counts carry over from one parallel_for to the next
      pool.parallel_for(static_cast<size_t>(threads), [&](size_t me, size_t, int) {
        for (int r = 0; r < kRounds; ++r) {
          const int value = call * kRounds + r;
          if (me == 1 && r % 50 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
          round[me].store(value);
          barrier.arrive_and_wait(static_cast<int>(me));
          for (const auto& other : round) mismatches += other.load() == value ? 0 : 1;
          barrier.arrive_and_wait(static_cast<int>(me));
        }
      });
    }
    EXPECT_EQ(mismatches.load(), 0) << threads << " threads";
  }
}

}  // namespace
}  // namespace ts
