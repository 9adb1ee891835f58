// Perf events: nothing is recorded unless a recorder is attached or the level asks for it;
// zones carry their names, layers and linear shapes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/perf.h"

namespace ts {
namespace {

struct Collect : perf::Recorder {
  std::vector<perf::Event> events;
  void on_event(const perf::Event& e) override { events.push_back(e); }
};

TEST(Perf, LevelsParse) {
  perf::Level l = perf::Level::kOff;
  EXPECT_TRUE(perf::parse_level("trace", &l));
  EXPECT_EQ(l, perf::Level::kTrace);
  EXPECT_TRUE(perf::parse_level("off", &l));
  EXPECT_EQ(l, perf::Level::kOff);
  EXPECT_FALSE(perf::parse_level("TRACE", &l));
  EXPECT_FALSE(perf::parse_level("", &l));
}

TEST(Perf, ZonesReachTheRecorderOnlyWhileAttached) {
  perf::set_level(perf::Level::kOff);
  Collect c;
  { perf::Zone z("before"); }
  perf::set_recorder(&c);
  EXPECT_TRUE(perf::active());
  {
    perf::Zone outer("forward");
    perf::Zone lin("ffn_down", 3, 1, 5632, 2048, "q4_0", 1234.0);
  }
  perf::set_recorder(nullptr);
  EXPECT_FALSE(perf::active());
  { perf::Zone z("after"); }
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_STREQ(c.events[0].name, "ffn_down");  // inner zone ends first
  EXPECT_EQ(c.events[0].layer, 3);
  EXPECT_EQ(c.events[0].m, 1);
  EXPECT_EQ(c.events[0].k, 5632);
  EXPECT_EQ(c.events[0].n, 2048);
  EXPECT_STREQ(c.events[0].dtype, "q4_0");
  EXPECT_STREQ(c.events[1].name, "forward");
  EXPECT_GE(c.events[1].dur_us, c.events[0].dur_us);
  EXPECT_LE(c.events[1].start_us, c.events[0].start_us);
}

}  // namespace
}  // namespace ts
