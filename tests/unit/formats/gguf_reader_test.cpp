#include <gtest/gtest.h>

#include "formats/gguf/gguf_reader.h"
#include "formats/gguf/gguf_writer.h"
#include "gguf_builder.h"

namespace ts {
namespace {

TEST(GgufReader, ReadsHandBuiltFile) {
  auto f = gguf::GgufFile::from_bytes(test::valid_gguf(), "valid");
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("llama.block_count"), 1);
  ASSERT_EQ(f->tensors().size(), 2u);
  EXPECT_EQ(f->tensor("b").rows(), 2);
  EXPECT_EQ(f->tensor("b").n_bytes, 32u);
  EXPECT_THROW(f->get_int("general.architecture"), std::exception);  // wrong type is named
  EXPECT_THROW(f->tensor("missing"), std::exception);
}

TEST(GgufWriter, RoundTripsEveryValueKind) {
  gguf::GgufWriter w;
  w.add_string("s", "hello");
  w.add_u32("u", 7);
  w.add_i32("i", -3);
  w.add_f32("f", 1.5f);
  w.add_bool("b", true);
  w.add_string_array("sa", {"x", "", "yz"});
  w.add_f32_array("fa", {0.5f, -1.0f});
  w.add_i32_array("ia", {1, -2, 3});
  std::vector<uint8_t> data(34 * 2, 0);
  w.add_tensor("q", {32, 2}, DType::Q8_0, data);
  auto f = gguf::GgufFile::from_bytes(w.to_bytes(), "written");
  EXPECT_EQ(f->get_string("s"), "hello");
  EXPECT_EQ(f->get_int("u"), 7);
  EXPECT_EQ(f->get_int("i"), -3);
  EXPECT_DOUBLE_EQ(f->get_float("f"), 1.5);
  EXPECT_TRUE(f->get_bool("b", false));
  EXPECT_EQ(f->get_string_array("sa"), (std::vector<std::string>{"x", "", "yz"}));
  EXPECT_EQ(f->get_float_array("fa"), (std::vector<double>{0.5, -1.0}));
  EXPECT_EQ(f->get_int_array("ia"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f->tensor("q").type, DType::Q8_0);
  EXPECT_EQ(f->tensor("q").n_bytes, 68u);
}

TEST(GgufReader, OpensSharedVocabularies) {
  auto f = gguf::GgufFile::open(std::string(TS_SHARED_DIR) + "/testdata/vocab/ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens").size(), 32000u);
}

}  // namespace
}  // namespace ts
