// The microarchitecture tuning: how far ahead each CPU family's one-group weight tiles prefetch,
// and the spellings of the override.
#include <gtest/gtest.h>

#include "kernels/cpu_features.h"

namespace ts {
namespace {

// Leaf 1 EAX values of real parts: family = base family + extended family when the base is 0xF.
constexpr unsigned kZen4Genoa = 0x00A10F11;     // family 0x19, model 0x11
constexpr unsigned kZen3Milan = 0x00A00F11;     // family 0x19, model 0x01, no AVX-512
constexpr unsigned kZen5Turin = 0x00B00F21;     // family 0x1A
constexpr unsigned kSapphireRapids = 0x000806F8;  // family 6

TEST(CpuTuning, StreamPrefetchPerFamily) {
  constexpr StreamPrefetch kGeneric = CpuTuning::kGenericStreamPrefetch;
  EXPECT_EQ(StreamPrefetch{}, stream_prefetch_default("AuthenticAMD", kZen4Genoa, true));
  // The same family without AVX-512 is Zen 3, whose AVX-512 tiles never run: the generic choice.
  EXPECT_EQ(kGeneric, stream_prefetch_default("AuthenticAMD", kZen3Milan, false));
  EXPECT_EQ((StreamPrefetch{6144, false}), stream_prefetch_default("AuthenticAMD", kZen5Turin, true));
  EXPECT_EQ(kGeneric, stream_prefetch_default("GenuineIntel", kSapphireRapids, true));
  EXPECT_EQ((StreamPrefetch{3072, true, 6144}), kGeneric);
  // Rows under 2048 elements take the short-row distance where one is set.
  EXPECT_EQ(6144u, kGeneric.distance(576));
  EXPECT_EQ(6144u, kGeneric.distance(2047));
  EXPECT_EQ(3072u, kGeneric.distance(2048));
  EXPECT_EQ(3072u, kGeneric.distance(5632));
  EXPECT_EQ(6144u, (StreamPrefetch{6144, false}).distance(576));
  // AMD families under another vendor string (a hypervisor's, say) are not taken for AMD's.
  EXPECT_EQ(kGeneric, stream_prefetch_default("GenuineIntel", kZen4Genoa, true));
  EXPECT_EQ(kGeneric, stream_prefetch_default("GenuineIntel", kZen5Turin, true));
  EXPECT_EQ(kGeneric, stream_prefetch_default(nullptr, kZen4Genoa, true));
}

TEST(CpuTuning, StreamPrefetchOverride) {
  const StreamPrefetch zen5{6144, false};
  EXPECT_EQ(StreamPrefetch{}, parse_stream_prefetch("off", zen5));
  EXPECT_EQ(StreamPrefetch{}, parse_stream_prefetch("0", CpuTuning::kGenericStreamPrefetch));
  // On: this CPU's choice, or the generic one where the CPU's default is none.
  EXPECT_EQ(zen5, parse_stream_prefetch("on", zen5));
  EXPECT_EQ(CpuTuning::kGenericStreamPrefetch, parse_stream_prefetch("1", StreamPrefetch{}));
  EXPECT_EQ((StreamPrefetch{64, false}), parse_stream_prefetch("64", zen5));
  EXPECT_EQ((StreamPrefetch{4096, false}), parse_stream_prefetch("4096", CpuTuning::kGenericStreamPrefetch));
  EXPECT_EQ((StreamPrefetch{65536, true}), parse_stream_prefetch("65536:l2", zen5));
  for (const char* bad : {"", "63", "65537", "-64", "+64", "3k", "3072 ", " 3072", "3072:", "3072:L2", "3072:l1",
                          "3072:l2x", "0:l2", "99999999999999999999999", "yes"}) {
    EXPECT_FALSE(parse_stream_prefetch(bad, zen5).has_value()) << bad;
  }
  EXPECT_FALSE(parse_stream_prefetch(nullptr, zen5).has_value());
}

TEST(CpuTuning, SwitchSpellings) {
  for (const char* on : {"1", "on", "true"}) EXPECT_EQ(1, parse_switch(on)) << on;
  for (const char* off : {"0", "off", "false"}) EXPECT_EQ(0, parse_switch(off)) << off;
  for (const char* bad : {"", "2", "yes", "ON", " 1"}) EXPECT_EQ(-1, parse_switch(bad)) << bad;
  EXPECT_EQ(-1, parse_switch(nullptr));
}

}  // namespace
}  // namespace ts
