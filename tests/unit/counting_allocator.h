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
namespace ts::test {
inline void* counted_malloc(size_t n) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  size_t seen = g_largest_allocation.load();
  while (n > seen && !g_largest_allocation.compare_exchange_weak(seen, n)) {
  }
  return std::malloc(n == 0 ? 1 : n);
}
}  // namespace ts::test

// Every unaligned form is replaced, nothrow included: the standard library pairs a nothrow
// new (std::stable_sort's buffer) with a plain delete, and a sanitizer runtime flags the mix
// when only some of the forms are ours.
void* operator new(size_t n) {
  if (void* p = ts::test::counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  if (void* p = ts::test::counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t n, const std::nothrow_t&) noexcept { return ts::test::counted_malloc(n); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  return ts::test::counted_malloc(n);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
