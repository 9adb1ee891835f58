// SafeTensors reader: valid files and sharded checkpoints load with the right views; the
// malformed-file corpus is rejected with a message naming the file and what is wrong, with no
// allocation much larger than the file.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "formats/safetensors/safetensors_reader.h"

#include "../counting_allocator.h"

namespace ts {
namespace {

using safetensors::Checkpoint;
using safetensors::SafeTensorsFile;

// A file from a header text and a buffer of n_data bytes (values 0, 1, 2, ...).
std::vector<uint8_t> file_bytes(const std::string& header, uint64_t n_data, uint64_t declared_len = ~uint64_t{0}) {
  const uint64_t len = declared_len == ~uint64_t{0} ? header.size() : declared_len;
  std::vector<uint8_t> b(8);
  for (int i = 0; i < 8; ++i) b[static_cast<size_t>(i)] = static_cast<uint8_t>(len >> (8 * i));
  b.insert(b.end(), header.begin(), header.end());
  for (uint64_t i = 0; i < n_data; ++i) b.push_back(static_cast<uint8_t>(i));
  return b;
}

const char* const kValid =
    R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
    R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}})";

TEST(SafeTensors, ReadsViewsOfAValidFile) {
  auto f = SafeTensorsFile::from_bytes(file_bytes(kValid, 32), "ok.safetensors");
  ASSERT_EQ(f->tensors().size(), 2u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  const auto& a = f->tensors()[0].name == "a" ? f->tensors()[0] : f->tensors()[1];
  const auto& b = f->tensors()[0].name == "a" ? f->tensors()[1] : f->tensors()[0];
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.n_elements, 6u);
  EXPECT_EQ(a.n_bytes, 24u);
  ASSERT_TRUE(a.type.has_value());
  EXPECT_EQ(*a.type, DType::F32);
  EXPECT_EQ(a.data[0], 0);
  EXPECT_EQ(b.data[0], 24);  // b's view starts right after a's 24 bytes
  EXPECT_EQ(*b.type, DType::BF16);
}

TEST(SafeTensors, ScalarAndEmptyTensorsAreValid) {
  const std::string h = R"({"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"e":{"dtype":"F16","shape":[0,5],"data_offsets":[8,8]}})";
  auto f = SafeTensorsFile::from_bytes(file_bytes(h, 8), "edge.safetensors");
  ASSERT_EQ(f->tensors().size(), 2u);
}

struct Case {
  std::string name;
  std::vector<uint8_t> bytes;
  std::string expect;
};

std::vector<Case> corpus() {
  std::vector<Case> c;
  auto add = [&](std::string name, std::vector<uint8_t> b, std::string expect) {
    c.push_back({std::move(name), std::move(b), std::move(expect)});
  };
  auto one = [](const std::string& entry) { return "{\"t\":" + entry + "}"; };
  add("empty file", {}, "too short");
  add("seven bytes", {1, 2, 3, 4, 5, 6, 7}, "too short");
  add("header length huge", file_bytes("{}", 0, uint64_t{1} << 62), "exceeds the limit");
  add("header length max", file_bytes("{}", 0, ~uint64_t{0} - 1), "exceeds the limit");
  add("header past end", file_bytes("{}", 0, 1000), "past the end");
  add("header not an object", file_bytes("[1,2]", 0), "JSON object");
  add("header invalid json", file_bytes("{\"t\":", 0), "not valid JSON");
  add("header truncated json", file_bytes(R"({"t":{"dtype":"F32")", 0), "not valid JSON");
  add("entry not an object", file_bytes(one("5"), 0), "not an object");
  add("no dtype", file_bytes(one(R"({"shape":[1],"data_offsets":[0,4]})"), 4), "no dtype");
  add("dtype not a string", file_bytes(one(R"({"dtype":7,"shape":[1],"data_offsets":[0,4]})"), 4), "no dtype");
  add("unknown dtype", file_bytes(one(R"({"dtype":"F24","shape":[1],"data_offsets":[0,4]})"), 4), "unknown dtype 'F24'");
  add("no shape", file_bytes(one(R"({"dtype":"F32","data_offsets":[0,4]})"), 4), "no shape");
  add("shape not array", file_bytes(one(R"({"dtype":"F32","shape":4,"data_offsets":[0,4]})"), 4), "no shape");
  add("negative dim", file_bytes(one(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), 4), "non-negative");
  add("fractional dim", file_bytes(one(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})"), 4), "non-negative");
  add("string dim", file_bytes(one(R"({"dtype":"F32","shape":["1"],"data_offsets":[0,4]})"), 4), "non-negative");
  add("too many dims", file_bytes(one(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]})"), 4), "dimensions");
  add("element count overflow", file_bytes(one(R"({"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,4]})"), 4), "overflows");
  add("byte size overflow", file_bytes(one(R"({"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,4]})"), 4), "overflows");
  add("dim beyond u64", file_bytes(one(R"({"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]})"), 4), "non-negative");
  add("no offsets", file_bytes(one(R"({"dtype":"F32","shape":[1]})"), 4), "data_offsets");
  add("one offset", file_bytes(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})"), 4), "data_offsets");
  add("negative offset", file_bytes(one(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})"), 4), "non-negative");
  add("offsets reversed", file_bytes(one(R"({"dtype":"F32","shape":[1],"data_offsets":[4,0]})"), 4), "end before");
  add("offsets past buffer", file_bytes(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})"), 2), "run past");
  add("huge offsets", file_bytes(one(R"({"dtype":"F32","shape":[1],"data_offsets":[18446744073709551608,18446744073709551612]})"), 4), "run past");
  add("size mismatch", file_bytes(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})"), 4), "needs 8");
  add("unknown field", file_bytes(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1})"), 4), "unknown field 'x'");
  add("metadata not object", file_bytes(R"({"__metadata__":[1]})", 0), "__metadata__");
  add("metadata value not string", file_bytes(R"({"__metadata__":{"k":1}})", 0), "not a string");
  add("hole at start", file_bytes(one(R"({"dtype":"F32","shape":[1],"data_offsets":[4,8]})"), 8), "belong to no tensor");
  add("trailing bytes", file_bytes(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})"), 12), "at the end belong to no tensor");
  add("hole between", file_bytes(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})", 6), "belong to no tensor");
  add("overlap", file_bytes(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})", 6), "overlaps");
  add("aliased", file_bytes(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 4), "overlaps");
  add("deep nesting", file_bytes("{\"t\":" + std::string(5000, '[') + std::string(5000, ']') + "}", 0), "not an object");
  add("control chars in name", file_bytes("{\"\\u0001\":{\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,0]}}", 0), "unknown dtype");
  const auto valid = file_bytes(kValid, 32);
  for (size_t cut = 0; cut + 1 < valid.size(); cut += 3) {
    add("truncated at " + std::to_string(cut), std::vector<uint8_t>(valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(cut)), "");
  }
  return c;
}

TEST(SafeTensorsMalformed, CorpusIsLargeEnough) { EXPECT_GE(corpus().size(), 30u + 50u); }

TEST(SafeTensorsMalformed, EveryCaseIsRejectedWithAClearMessage) {
  for (const Case& c : corpus()) {
    test::g_largest_allocation = 0;
    try {
      auto f = SafeTensorsFile::from_bytes(c.bytes, "case.safetensors");
      ADD_FAILURE() << c.name << ": accepted";
    } catch (const std::exception& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("case.safetensors"), std::string::npos) << c.name << ": message does not name the file: " << msg;
      if (!c.expect.empty()) {
        EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
      }
    }
    EXPECT_LE(test::g_largest_allocation.load(), 64 * c.bytes.size() + 65536) << c.name;
  }
}

// Random damage to a valid file (flipped bytes, including in the length prefix and the JSON):
// every variant either loads, with views inside the buffer, or is refused with an error naming
// the file. Run under the sanitizers, this is a small fuzzer.
TEST(SafeTensorsMalformed, RandomlyDamagedFilesNeverCrash) {
  const auto valid = file_bytes(kValid, 32);
  std::mt19937 rng(5);
  int accepted = 0, refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    auto b = valid;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      const size_t at = rng() % b.size();
      b[at] = trial % 3 == 0 ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>(b[at] ^ (1u << (rng() % 8)));
    }
    if (trial % 5 == 0) b.resize(rng() % (b.size() + 1));
    try {
      auto f = SafeTensorsFile::from_bytes(b, "fuzz.safetensors");
      for (const auto& t : f->tensors()) {
        ASSERT_NE(t.data, nullptr);
        volatile uint8_t sink = 0;
        for (uint64_t i = 0; i < t.n_bytes; ++i) sink = static_cast<uint8_t>(sink ^ t.data[i]);  // inside the buffer
      }
      ++accepted;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("fuzz.safetensors"), std::string::npos) << e.what();
      ++refused;
    }
  }
  EXPECT_GT(refused, 1000);
  EXPECT_GT(accepted, 0);  // some flips land in tensor data, which any bytes may hold
}

class ShardedCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ts_st_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::vector<uint8_t>& b) {
    std::ofstream(dir_ / name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  void write(const std::string& name, const std::string& s) { std::ofstream(dir_ / name) << s; }
  std::string expect_error() {
    try {
      Checkpoint::open(dir_.string());
    } catch (const std::exception& e) {
      return e.what();
    }
    return "accepted";
  }
  std::filesystem::path dir_;
};

TEST_F(ShardedCheckpoint, LoadsEveryShardNamedByTheIndex) {
  write("s1.safetensors", file_bytes(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8));
  write("s2.safetensors", file_bytes(R"({"y":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4));
  write("model.safetensors.index.json", R"({"metadata":{"total_size":12},"weight_map":{"x":"s1.safetensors","y":"s2.safetensors"}})");
  auto cp = Checkpoint::open(dir_.string());
  ASSERT_NE(cp->find("x"), nullptr);
  ASSERT_NE(cp->find("y"), nullptr);
  EXPECT_EQ(cp->find("y")->shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(cp->find("z"), nullptr);
}

TEST_F(ShardedCheckpoint, SingleFileDirectory) {
  write("model.safetensors", file_bytes(kValid, 32));
  EXPECT_EQ(Checkpoint::open(dir_.string())->tensors().size(), 2u);
}

TEST_F(ShardedCheckpoint, IndexErrorsNameWhatIsWrong) {
  EXPECT_NE(expect_error().find("no model.safetensors"), std::string::npos);
  write("model.safetensors.index.json", "{\"weight_map\":");
  EXPECT_NE(expect_error().find("not valid JSON"), std::string::npos);
  write("model.safetensors.index.json", R"({"weight_map":{"x":"../evil.safetensors"}})");
  EXPECT_NE(expect_error().find("not a plain file name"), std::string::npos);
  write("model.safetensors.index.json", R"({"weight_map":{"x":"missing.safetensors"}})");
  EXPECT_NE(expect_error().find("missing.safetensors"), std::string::npos);
  write("s1.safetensors", file_bytes(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8));
  write("model.safetensors.index.json", R"({"weight_map":{"x":"s1.safetensors","w":"s1.safetensors"}})");
  EXPECT_NE(expect_error().find("does not hold it"), std::string::npos);
  write("s2.safetensors", file_bytes(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8));
  write("model.safetensors.index.json", R"({"weight_map":{"x":"s1.safetensors"}})");
  EXPECT_EQ(expect_error(), "accepted");
  write("model.safetensors.index.json", R"({"weight_map":{"w":"s2.safetensors","x":"s1.safetensors"}})");
  EXPECT_NE(expect_error().find("does not hold it"), std::string::npos);
  write("model.safetensors.index.json", R"({"weight_map":{}})");
  EXPECT_NE(expect_error().find("empty"), std::string::npos);
}

}  // namespace
}  // namespace ts
