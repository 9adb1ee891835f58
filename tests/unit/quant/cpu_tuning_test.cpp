// The microarchitecture tuning: which CPUs skip software prefetches in the one-group weight
// tiles, and the spelling of the override switch.
#include <gtest/gtest.h>

#include "kernels/cpu_features.h"

namespace ts {
namespace {

// Leaf 1 EAX values of real parts: family = base family + extended family when the base is 0xF.
constexpr unsigned kZen4Genoa = 0x00A10F11;     // family 0x19, model 0x11
constexpr unsigned kZen3Milan = 0x00A00F11;     // family 0x19, model 0x01, no AVX-512
constexpr unsigned kZen5Turin = 0x00B00F21;     // family 0x1A
constexpr unsigned kSapphireRapids = 0x000806F8;  // family 6

TEST(CpuTuning, OnlyZen4SkipsStreamPrefetch) {
  EXPECT_FALSE(stream_prefetch_default("AuthenticAMD", kZen4Genoa, true));
  // The same family without AVX-512 is Zen 3, not measured: it keeps the prefetches.
  EXPECT_TRUE(stream_prefetch_default("AuthenticAMD", kZen3Milan, false));
  EXPECT_TRUE(stream_prefetch_default("AuthenticAMD", kZen5Turin, true));
  EXPECT_TRUE(stream_prefetch_default("GenuineIntel", kSapphireRapids, true));
  // Family 0x19 under another vendor string (a hypervisor's, say) is not taken for Zen 4.
  EXPECT_TRUE(stream_prefetch_default("GenuineIntel", kZen4Genoa, true));
  EXPECT_TRUE(stream_prefetch_default(nullptr, kZen4Genoa, true));
}

TEST(CpuTuning, SwitchSpellings) {
  for (const char* on : {"1", "on", "true"}) EXPECT_EQ(1, parse_switch(on)) << on;
  for (const char* off : {"0", "off", "false"}) EXPECT_EQ(0, parse_switch(off)) << off;
  for (const char* bad : {"", "2", "yes", "ON", " 1"}) EXPECT_EQ(-1, parse_switch(bad)) << bad;
  EXPECT_EQ(-1, parse_switch(nullptr));
}

}  // namespace
}  // namespace ts
