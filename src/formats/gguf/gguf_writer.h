#pragma once
// Writes GGUF v3 files (used by `synth` and by tests that build files in memory).
#include <cstdint>
#include <string>
#include <vector>

#include "formats/gguf/gguf_value.h"
#include "quant/types.h"

namespace ts::gguf {

class GgufWriter {
 public:
  void add_string(const std::string& key, const std::string& value);
  void add_u32(const std::string& key, uint32_t value);
  void add_i32(const std::string& key, int32_t value);
  void add_f32(const std::string& key, float value);
  void add_bool(const std::string& key, bool value);
  void add_string_array(const std::string& key, const std::vector<std::string>& values);
  void add_f32_array(const std::string& key, const std::vector<float>& values);
  void add_i32_array(const std::string& key, const std::vector<int32_t>& values);
  // Copies a metadata value as read from another file (arrays of any element type included).
  void add_value(const std::string& key, const Value& value);

  // dims[0] is the row (contiguous) dimension; data must be row_bytes(type, dims[0]) * rows.
  void add_tensor(const std::string& name, const std::vector<int64_t>& dims, DType type, std::vector<uint8_t> data);

  std::vector<uint8_t> to_bytes() const;
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> dims;
    DType type;
    std::vector<uint8_t> data;
  };
  std::vector<uint8_t> kv_bytes_;
  uint64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
};

}  // namespace ts::gguf
