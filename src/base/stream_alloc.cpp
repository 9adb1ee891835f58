#include "base/stream_alloc.h"

#include <cstdint>
#include <cstdlib>

#include <sys/mman.h>

namespace ts {

void* alloc_streamed(size_t bytes) {
  constexpr size_t kHugePage = size_t{2} << 20;
  constexpr size_t kLine = 64;
  const size_t align = bytes >= kHugePage ? kHugePage : kLine;
  if (bytes > SIZE_MAX - align) return nullptr;
  const size_t rounded = (bytes + align - 1) / align * align;  // aligned_alloc wants a multiple
  void* p = std::aligned_alloc(align, rounded);
  if (p != nullptr && align == kHugePage) madvise(p, rounded, MADV_HUGEPAGE);  // advisory: ignored where unsupported
  return p;
}

}  // namespace ts
