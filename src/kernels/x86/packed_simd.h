#pragma once
// Helpers the packed tile kernels of every x86 ISA share. Deliberately internal (an anonymous
// namespace in a header): each kernel file is compiled with its own target flags, and a shared
// inline function with external linkage could be resolved to the copy compiled for a wider ISA,
// which would fault on a CPU without it. Each file gets its own copy under its own flags.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu_features.h"
#include "kernels/packed.h"

namespace ts::x86 {
namespace {

inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return _mm256_set1_epi32(v);
}

// Decode streams each weight once from DRAM; the hardware prefetchers alone leave one core at
// ~12 GB/s on this kind of machine (Zen 3). Asking for the lines ~3 KiB ahead (measured: 2-4 KiB
// best, 0.5-1 KiB and 8 KiB worse) raised end-to-end Q4_0 decode by ~12% (median of 6 runs).
// The AVX-512 one-group tiles take their distance per CPU family (CpuTuning::stream_prefetch).
constexpr size_t kPrefetchDistance = 3072;

// The one-group tiles' prefetch (CpuTuning::stream_prefetch) as a template parameter, so that
// each tile's loop carries only the instructions of its kind.
enum class PrefetchKind { kNone, kL1, kL2 };

// Calls f(std::integral_constant<PrefetchKind, K>{}) with K for p.
template <typename F>
void with_prefetch(StreamPrefetch p, F&& f) {
  if (p.bytes == 0) return f(std::integral_constant<PrefetchKind, PrefetchKind::kNone>{});
  if (p.to_l2) return f(std::integral_constant<PrefetchKind, PrefetchKind::kL2>{});
  f(std::integral_constant<PrefetchKind, PrefetchKind::kL1>{});
}

// One weight block's lines `distance` bytes ahead, into L1 or L2. Integer address arithmetic:
// the address may lie past the matrix, where pointer arithmetic is undefined (prefetches never
// fault).
template <PrefetchKind K, typename Block>
inline void prefetch_stream(const Block* w, size_t distance) {
  if constexpr (K != PrefetchKind::kNone) {
    const uintptr_t addr = reinterpret_cast<uintptr_t>(w) + distance;
    for (size_t off = 0; off < sizeof(Block); off += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(addr + off), K == PrefetchKind::kL2 ? _MM_HINT_T1 : _MM_HINT_T0);
    }
  }
}

// One block's lines kPrefetchDistance ahead into L1 (the AVX2 tiles and the pair tiles).
template <typename Block>
inline void prefetch_ahead(const Block* block) {
  prefetch_stream<PrefetchKind::kL1>(block, kPrefetchDistance);
}

// With weights prefetched into L2 only, the activation block kActAhead blocks on is asked for
// into L1 (both lines it may span): the weight stream still evicts activation lines, which then
// come back from L2 before they are needed.
constexpr int64_t kActAhead = 8;
template <PrefetchKind K>
inline void prefetch_act(const BlockQ8S* a) {
  if constexpr (K != PrefetchKind::kL2) return;
  const uintptr_t addr = reinterpret_cast<uintptr_t>(a) + kActAhead * sizeof(BlockQ8S);
  _mm_prefetch(reinterpret_cast<const char*>(addr), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(addr + sizeof(BlockQ8S) - 1), _MM_HINT_T0);
}

// prefetch_ahead for one of the two streams of a pair tile (group w, block b of nb): past the
// group's end the stream continues in the same position of the next pair, two groups on (what
// the matmul runs next), not in the neighbouring group, which the other stream is reading.
// Prefetches never fault, so running past the matrix's end is harmless.
template <typename Block>
inline void prefetch_pair_ahead(const Block* w, int64_t b, int64_t nb) {
  // Integer arithmetic: the address may lie past the group, where pointer arithmetic is undefined.
  auto addr = reinterpret_cast<uintptr_t>(w + b) + kPrefetchDistance;
  if (addr >= reinterpret_cast<uintptr_t>(w) + static_cast<uintptr_t>(nb) * sizeof(Block)) {
    addr += static_cast<uintptr_t>(nb) * sizeof(Block);
  }
  // As an asm statement: GCC 12 drops these prefetches when written as _mm_prefetch here.
  for (size_t off = 0; off < sizeof(Block); off += 64) {
    asm volatile("prefetcht0 %0" : : "m"(*reinterpret_cast<const char*>(addr + off)));
  }
}

inline __m256 load_f16x8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Q4_1 and Q8_0 keep llama.cpp's arithmetic order exactly: per block, the 8 int32 lanes of
// 4-element partial sums are scaled and accumulated separately in float, and the lanes are
// summed at the end in its tree ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
inline __m256 lane_tree(const __m256* l) {
  return _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(l[0], l[4]), _mm256_add_ps(l[2], l[6])),
                       _mm256_add_ps(_mm256_add_ps(l[1], l[5]), _mm256_add_ps(l[3], l[7])));
}

static_assert(kMaxTileCols == 4, "with_cols covers 1..4 columns");

// Calls f(std::integral_constant<int, C>) with C = n_cols (1..kMaxTileCols) so each tile width
// gets its own fully unrolled kernel.
template <typename F>
void with_cols(int n_cols, F&& f) {
  switch (n_cols) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    default: return f(std::integral_constant<int, 4>{});
  }
}

}  // namespace
}  // namespace ts::x86
