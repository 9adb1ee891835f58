#pragma once
// Buffers that are streamed through from memory (packed weights, the read-bandwidth probe).
#include <cstddef>

namespace ts {

// Allocates at least `bytes` (nullptr when out of memory; release with std::free). From 2 MiB
// up the buffer starts on a 2 MiB boundary and asks for transparent huge pages: a stream over
// 4 KiB pages costs a TLB miss per page, and the read probe must see the same kind of memory
// as the weights it is the limit for. Smaller buffers are 64-byte aligned.
void* alloc_streamed(size_t bytes);

}  // namespace ts
