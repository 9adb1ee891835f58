#include "quant/types.h"

#include <array>
#include <cctype>
#include <string>

#include "base/error.h"

namespace ts {

namespace {

struct Entry {
  uint32_t raw;
  DTypeInfo info;
};

// Sizes are the GGUF block layouts; "supported" marks what our kernels implement.
constexpr std::array<Entry, 31> kTypes = {{
    {0, {"f32", 1, 4, true}},       {1, {"f16", 1, 2, true}},
    {2, {"q4_0", 32, 18, true}},    {3, {"q4_1", 32, 20, true}},
    {6, {"q5_0", 32, 22, true}},   {7, {"q5_1", 32, 24, false}},
    {8, {"q8_0", 32, 34, true}},    {9, {"q8_1", 32, 36, false}},
    {10, {"q2_k", 256, 84, false}}, {11, {"q3_k", 256, 110, false}},
    {12, {"q4_k", 256, 144, true}}, {13, {"q5_k", 256, 176, false}},
    {14, {"q6_k", 256, 210, true}}, {15, {"q8_k", 256, 292, false}},
    {16, {"iq2_xxs", 256, 66, false}}, {17, {"iq2_xs", 256, 74, false}},
    {18, {"iq3_xxs", 256, 98, false}}, {19, {"iq1_s", 256, 50, false}},
    {20, {"iq4_nl", 32, 18, false}},   {21, {"iq3_s", 256, 110, false}},
    {22, {"iq2_s", 256, 82, false}},   {23, {"iq4_xs", 256, 136, false}},
    {24, {"i8", 1, 1, false}},      {25, {"i16", 1, 2, false}},
    {26, {"i32", 1, 4, false}},     {27, {"i64", 1, 8, false}},
    {28, {"f64", 1, 8, false}},     {29, {"iq1_m", 256, 56, false}},
    {30, {"bf16", 1, 2, true}},     {34, {"tq1_0", 256, 54, false}},
    {35, {"tq2_0", 256, 66, false}},
}};

}  // namespace

std::optional<DTypeInfo> dtype_info(uint32_t raw) {
  for (const auto& e : kTypes) {
    if (e.raw == raw) return e.info;
  }
  return std::nullopt;
}

DTypeInfo dtype_info(DType type) {
  auto info = dtype_info(static_cast<uint32_t>(type));
  if (!info) fail("unknown tensor type {}", static_cast<uint32_t>(type));
  return *info;
}

std::string_view dtype_name(DType type) {
  auto info = dtype_info(static_cast<uint32_t>(type));
  return info ? info->name : std::string_view("unknown");
}

std::optional<DType> dtype_from_name(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& e : kTypes) {
    if (e.info.name == lower) return static_cast<DType>(e.raw);
  }
  return std::nullopt;
}

size_t row_bytes(DType type, uint64_t n) {
  const DTypeInfo info = dtype_info(type);
  if (n % info.block_size != 0) {
    fail("row of {} elements is not a multiple of the {} block size {}", n, info.name, info.block_size);
  }
  return static_cast<size_t>(n / info.block_size * info.type_size);
}

}  // namespace ts
