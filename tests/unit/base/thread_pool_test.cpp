#include <gtest/gtest.h>

#include <atomic>
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

TEST(ThreadPool, DynamicChunksCoverEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (size_t n : {0u, 1u, 5u, 64u, 1001u}) {
      for (size_t chunk : {0u, 1u, 3u, 16u, 5000u}) {
        std::vector<std::atomic<int>> hits(n);
        for (int rep = 0; rep < 20; ++rep) {
          pool.parallel_for_dynamic(n, chunk, [&](size_t b, size_t e, int t) {
            EXPECT_LT(t, threads);
            EXPECT_LE(e - b, chunk == 0 ? 1 : chunk);
            for (size_t i = b; i < e; ++i) hits[i]++;
          });
        }
        for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 20) << threads << " threads, n=" << n << " chunk " << chunk;
      }
    }
  }
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
