#pragma once
// GGUF quantization blocks. Field order and sizes are the on-disk format; the static_asserts
// make any accidental padding a compile error.
#include <cstdint>

namespace ts {

constexpr int kQK = 32;    // elements per block of the simple formats
constexpr int kQKK = 256;  // elements per super-block of the K formats

struct BlockQ4_0 {
  uint16_t d;             // f16 scale
  uint8_t qs[kQK / 2];    // low nibbles: elements 0..15, high nibbles: 16..31; value = (q - 8) * d
};
static_assert(sizeof(BlockQ4_0) == 18);

struct BlockQ4_1 {
  uint16_t d;             // f16 scale
  uint16_t m;             // f16 minimum; value = q * d + m
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

struct BlockQ5_0 {
  uint16_t d;             // f16 scale
  uint8_t qh[4];          // bit j: the fifth bit of element j (little-endian 32-bit mask)
  uint8_t qs[kQK / 2];    // low 4 bits as in Q4_0; value = (q - 16) * d
};
static_assert(sizeof(BlockQ5_0) == 22);

struct BlockQ8_0 {
  uint16_t d;             // f16 scale; value = q * d
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Activation format paired with Q4_1: s = d * sum(qs) lets the dot product fold in the minimum.
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_1) == 36);

struct BlockQ4_K {
  uint16_t d;             // f16 super-block scale for the 6-bit sub-block scales
  uint16_t dmin;          // f16 super-block scale for the 6-bit sub-block minimums
  uint8_t scales[12];     // 8 scales and 8 minimums, 6 bits each, packed
  uint8_t qs[kQKK / 2];   // 4-bit values; each 64-element group: 32 low nibbles then 32 high
};
static_assert(sizeof(BlockQ4_K) == 144);

struct BlockQ6_K {
  uint8_t ql[kQKK / 2];   // low 4 bits
  uint8_t qh[kQKK / 4];   // high 2 bits
  int8_t scales[kQKK / 16];  // 16 sub-blocks of 16 elements
  uint16_t d;             // f16 super-block scale
};
static_assert(sizeof(BlockQ6_K) == 210);

// Activation format paired with the K formats.
struct BlockQ8_K {
  float d;
  int8_t qs[kQKK];
  int16_t bsums[kQKK / 16];  // sums of groups of 16 quants
};
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace ts
