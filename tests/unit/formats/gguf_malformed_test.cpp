// The malformed-file corpus: every case must be rejected with a message naming what is wrong,
// without crashing and without any allocation larger than the file can justify.
#include <gtest/gtest.h>

#include <functional>

#include "formats/gguf/gguf_reader.h"
#include "gguf_builder.h"

#include "../counting_allocator.h"

namespace ts {
namespace {

using test::GgufBytes;

struct Case {
  std::string name;
  std::vector<uint8_t> bytes;
  std::string expect;  // a fragment the error message must contain
};

std::vector<Case> corpus() {
  std::vector<Case> c;
  auto add = [&](std::string name, const GgufBytes& g, std::string expect) { c.push_back({std::move(name), g.b, std::move(expect)}); };
  add("empty file", GgufBytes{}, "truncated");
  add("three bytes", GgufBytes{}.put<uint16_t>(0x4747).put<uint8_t>(0x55), "truncated");
  add("bad magic", GgufBytes{}.put<uint32_t>(0x12345678).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(0), "bad magic");
  add("version 1", GgufBytes{}.header(0, 0, 1), "unsupported GGUF version 1");
  add("version 4", GgufBytes{}.header(0, 0, 4), "unsupported GGUF version 4");
  add("huge kv count", GgufBytes{}.header(0, uint64_t{1} << 60), "metadata count");
  add("huge tensor count", GgufBytes{}.header(uint64_t{1} << 58, 0), "tensor count");
  add("max kv count", GgufBytes{}.header(0, ~uint64_t{0}), "metadata count");
  add("key length past end", GgufBytes{}.header(0, 1).put<uint64_t>(1000).zeros(8), "length 1000");
  add("value string past end", GgufBytes{}.header(0, 1).str("k").put<uint32_t>(8).put<uint64_t>(1 << 20), "length");
  add("array length huge", GgufBytes{}.header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(4).put<uint64_t>(uint64_t{1} << 62), "claims");
  add("string array past end", GgufBytes{}.header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(3).str("a"), "claims 3 elements");
  add("unknown value type", GgufBytes{}.header(0, 1).str("k").put<uint32_t>(99).zeros(8), "unknown value type 99");
  add("unknown array element type", GgufBytes{}.header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(77).put<uint64_t>(1), "unknown element type 77");
  add("nested array", GgufBytes{}.header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(9).put<uint64_t>(1).zeros(16), "nested");
  add("bool value 2", GgufBytes{}.header(0, 1).str("k").put<uint32_t>(7).put<uint8_t>(2), "invalid value 2");
  add("empty key", GgufBytes{}.header(0, 1).str("").put<uint32_t>(4).put<uint32_t>(1), "empty key");
  add("duplicate key", GgufBytes{}.header(0, 2).kv_u32("a", 1).kv_u32("a", 2), "duplicate metadata key 'a'");
  add("alignment not power of two", GgufBytes{}.header(0, 1).kv_u32("general.alignment", 3), "power of two");
  add("alignment zero", GgufBytes{}.header(0, 1).kv_u32("general.alignment", 0), "power of two");
  add("alignment wrong type", GgufBytes{}.header(0, 1).kv_str("general.alignment", "32"), "must be uint32");
  add("n_dims zero", GgufBytes{}.header(1, 0).tensor("t", {}, 0, 0).pad().zeros(32), "n_dims 0");
  add("n_dims five", GgufBytes{}.header(1, 0).tensor("t", {1, 1, 1, 1, 1}, 0, 0).pad().zeros(32), "n_dims 5");
  add("zero dimension", GgufBytes{}.header(1, 0).tensor("t", {4, 0}, 0, 0).pad().zeros(32), "must be positive");
  add("negative dimension", GgufBytes{}.header(1, 0).tensor("t", {4, -2}, 0, 0).pad().zeros(32), "must be positive");
  add("element count overflow", GgufBytes{}.header(1, 0).tensor("t", {int64_t{1} << 40, int64_t{1} << 40}, 0, 0).pad().zeros(32), "overflows");
  add("byte size beyond file", GgufBytes{}.header(1, 0).tensor("t", {int64_t{1} << 40, int64_t{1} << 20}, 0, 0).pad().zeros(32), "outside");
  add("unknown tensor type", GgufBytes{}.header(1, 0).tensor("t", {8}, 99, 0).pad().zeros(32), "unknown tensor type 99");
  add("ragged quantized row", GgufBytes{}.header(1, 0).tensor("t", {33}, 2, 0).pad().zeros(64), "not a multiple");
  add("misaligned offset", GgufBytes{}.header(1, 0).tensor("t", {8}, 0, 4).pad().zeros(64), "alignment");
  add("offset past end", GgufBytes{}.header(1, 0).tensor("t", {8}, 0, 4096).pad().zeros(32), "outside");
  add("offset overflow", GgufBytes{}.header(1, 0).tensor("t", {8}, 0, ~uint64_t{31}).pad().zeros(32), "outside");
  add("data truncated", GgufBytes{}.header(1, 0).tensor("t", {64}, 0, 0).pad().zeros(100), "outside");
  add("duplicate tensor name", GgufBytes{}.header(2, 0).tensor("t", {8}, 0, 0).tensor("t", {8}, 0, 32).pad().zeros(64), "duplicate tensor name 't'");
  {
    GgufBytes g;
    g.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32).pad().zeros(96);
    // a spans [0, 64), b starts at 32: they overlap
    add("overlapping tensors", g, "overlap");
  }
  add("data section past end", GgufBytes{}.header(1, 0).tensor("t", {8}, 0, 0), "past the end");
  // Truncation of a valid file at every offset
  const auto valid = test::valid_gguf();
  for (size_t cut = 0; cut + 1 < valid.size(); cut += (cut < 120 ? 1 : 7)) {
    Case t{"truncated at " + std::to_string(cut), std::vector<uint8_t>(valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(cut)), ""};
    c.push_back(std::move(t));
  }
  return c;
}

TEST(GgufMalformed, CorpusIsLargeEnough) { EXPECT_GE(corpus().size(), 30u + 100u); }

TEST(GgufMalformed, EveryCaseIsRejectedWithAClearMessage) {
  const auto cases = corpus();
  for (const Case& c : cases) {
    test::g_largest_allocation = 0;
    try {
      auto f = gguf::GgufFile::from_bytes(c.bytes, "case.gguf");
      ADD_FAILURE() << c.name << ": accepted";
    } catch (const std::exception& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("case.gguf"), std::string::npos) << c.name << ": message does not name the file: " << msg;
      if (!c.expect.empty()) {
        EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
      }
    }
    // Copies of the input itself aside, nothing may be much larger than the file.
    EXPECT_LE(test::g_largest_allocation.load(), 16 * c.bytes.size() + 4096) << c.name;
  }
}

TEST(GgufMalformed, ValidFileStillLoads) {
  EXPECT_NO_THROW(gguf::GgufFile::from_bytes(test::valid_gguf(), "valid.gguf"));
}

}  // namespace
}  // namespace ts
