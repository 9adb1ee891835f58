#pragma once
// GGUF metadata values. Arrays keep their elements in the widest type of their kind so that
// callers need not care whether a file stored scores as f32 or f64, ids as i32 or u32.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ts::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

std::string_view value_type_name(ValueType type);

inline bool is_integer(ValueType t) {
  return t == ValueType::UINT8 || t == ValueType::INT8 || t == ValueType::UINT16 || t == ValueType::INT16 ||
         t == ValueType::UINT32 || t == ValueType::INT32 || t == ValueType::UINT64 || t == ValueType::INT64;
}
inline bool is_float(ValueType t) { return t == ValueType::FLOAT32 || t == ValueType::FLOAT64; }

struct Value {
  ValueType type = ValueType::UINT8;
  // Scalars
  int64_t int_value = 0;     // every integer type (uint64 above INT64_MAX kept in uint_value)
  uint64_t uint_value = 0;
  double float_value = 0.0;
  bool bool_value = false;
  std::string string_value;
  // Arrays
  ValueType elem_type = ValueType::UINT8;
  uint64_t array_size = 0;
  std::vector<int64_t> int_array;      // integer and bool elements
  std::vector<double> float_array;     // f32 and f64 elements
  std::vector<std::string> string_array;
};

}  // namespace ts::gguf
