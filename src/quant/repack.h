#pragma once
// Interleaved weight layouts for the packed matmul kernels, built once at load time.
//
// Eight consecutive weight rows form a group; for each 32-element block the group stores the
// eight scales together, then the quants arranged so that one 32-byte load holds four
// consecutive elements of each of the eight rows. A SIMD kernel then multiplies a broadcast
// 4-byte slice of one activation block with eight rows at once and ends each block with one
// int32 sum per row, which a single vector multiply-add scales: no horizontal sums, and the
// unpacked weights are reused for several activation rows in prefill. Sizes equal the
// original format's, so repacking costs no memory beyond the copy itself.
#include <cstddef>
#include <cstdint>

#include "quant/blocks.h"
#include "quant/types.h"

namespace ts {

constexpr int kPackRows = 8;
// Groups of kPackRows rows holding `rows` rows (the last one padded).
constexpr int64_t num_groups(int64_t rows) { return (rows + kPackRows - 1) / kPackRows; }

// Q4_0 group block: qs[32 j + 4 r + m] = row r's qs[4 j + m] (low nibble: element 4j+m, high
// nibble: element 16+4j+m).
struct BlockQ4_0x8 {
  uint16_t d[kPackRows];          // f16 scale of each row
  uint8_t qs[kPackRows * kQK / 2];
};
static_assert(sizeof(BlockQ4_0x8) == kPackRows * sizeof(BlockQ4_0));

// Q4_1 group block: same quant arrangement as Q4_0, plus each row's minimum.
struct BlockQ4_1x8 {
  uint16_t d[kPackRows];
  uint16_t m[kPackRows];
  uint8_t qs[kPackRows * kQK / 2];
};
static_assert(sizeof(BlockQ4_1x8) == kPackRows * sizeof(BlockQ4_1));

// Q8_0 group block: qs[32 s + 4 r + m] = row r's qs[4 s + m] for step s = 0..7.
struct BlockQ8_0x8 {
  uint16_t d[kPackRows];
  int8_t qs[kPackRows * kQK];
};
static_assert(sizeof(BlockQ8_0x8) == kPackRows * sizeof(BlockQ8_0));

// Activation block for the packed kernels: Q8_0's quants and f16-exact scale (stored as float),
// the integer sum of the quants (folds Q4_0's offset of 8 into one integer term per block) and
// s = d * sum rounded to f16 as in llama.cpp's Q8_1 (the Q4_1 minimum's term; the rounding
// keeps results close to the reference engine's).
struct BlockQ8S {
  float d;
  float s;
  int32_t sum;
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8S) == 44);

// True if `type` has an interleaved layout.
bool packable(DType type);

// Bytes of the packed form of a [rows, cols] matrix (rows padded up to a multiple of 8 with
// zero-scale rows).
size_t packed_bytes(DType type, int64_t rows, int64_t cols);

// Packs groups [group_begin, group_end) of src ([rows, row_bytes(type, cols)] in the GGUF
// layout) into dst, which has packed_bytes(type, rows, cols) bytes; split the group range to
// pack in parallel.
void pack_groups(DType type, const uint8_t* src, int64_t rows, int64_t cols, uint8_t* dst, int64_t group_begin,
                 int64_t group_end);

// Unpacks one row of a packed matrix back to the GGUF layout (for tests and row lookups).
void unpack_row(DType type, const uint8_t* packed, int64_t cols, int64_t row, uint8_t* dst);

// Run-time activation quantization for the packed kernels: the same rounding as
// quantize_activations(Q8_0) (127/amax, ties to even; the scale rounded to f16).
void quantize_row_q8s(const float* x, BlockQ8S* y, int64_t n);

}  // namespace ts
