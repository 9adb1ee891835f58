#pragma once
// Include in exactly one translation unit of a test binary: replaces the global allocation
// functions (malloc/free underneath) and records how many requests were made and the largest.
#include <atomic>
#include <cstdlib>
#include <new>

namespace ts::test {
inline std::atomic<long> g_allocations{0};
inline std::atomic<size_t> g_largest_allocation{0};
}  // namespace ts::test

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  ts::test::g_allocations.fetch_add(1, std::memory_order_relaxed);
  size_t seen = ts::test::g_largest_allocation.load();
  while (n > seen && !ts::test::g_largest_allocation.compare_exchange_weak(seen, n)) {
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
