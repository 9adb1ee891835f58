#include <gtest/gtest.h>

#include <cmath>

#include "base/fp16.h"

namespace ts {
namespace {

TEST(Fp16, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_fp16(f), h) << std::hex << h;
  }
}

TEST(Fp16, RoundsToNearestEven) {
  EXPECT_EQ(f32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_fp16(1e6f), 0x7c00);                       // overflow -> inf
  EXPECT_EQ(f32_to_fp16(1.0f + 1.0f / 2048.0f), 0x3c00);      // halfway -> even
  EXPECT_EQ(f32_to_fp16(1.0f + 3.0f / 2048.0f), 0x3c02);
  EXPECT_EQ(fp16_to_f32(0x0001), std::ldexp(1.0f, -24));       // smallest subnormal
}

TEST(Bf16, KeepsTheHighHalfWithRounding) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(3.14159f)), 3.140625f);
}

}  // namespace
}  // namespace ts
