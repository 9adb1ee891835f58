#include "formats/gguf/gguf_writer.h"

#include <cstdio>
#include <cstring>
#include <memory>

#include "base/checked_math.h"
#include "base/error.h"
#include "formats/gguf/gguf_reader.h"

namespace ts::gguf {

namespace {

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

}  // namespace

void GgufWriter::add_string(const std::string& key, const std::string& value) {
  put_string(kv_bytes_, key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::STRING));
  put_string(kv_bytes_, value);
  ++n_kv_;
}

void GgufWriter::add_u32(const std::string& key, uint32_t value) {
  put_string(kv_bytes_, key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::UINT32));
  put<uint32_t>(kv_bytes_, value);
  ++n_kv_;
}

void GgufWriter::add_i32(const std::string& key, int32_t value) {
  put_string(kv_bytes_, key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::INT32));
  put<int32_t>(kv_bytes_, value);
  ++n_kv_;
}

void GgufWriter::add_f32(const std::string& key, float value) {
  put_string(kv_bytes_, key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::FLOAT32));
  put<float>(kv_bytes_, value);
  ++n_kv_;
}

void GgufWriter::add_bool(const std::string& key, bool value) {
  put_string(kv_bytes_, key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::BOOL));
  put<uint8_t>(kv_bytes_, value ? 1 : 0);
  ++n_kv_;
}

void GgufWriter::add_string_array(const std::string& key, const std::vector<std::string>& values) {
  put_string(kv_bytes_, key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::ARRAY));
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::STRING));
  put<uint64_t>(kv_bytes_, values.size());
  for (const auto& s : values) put_string(kv_bytes_, s);
  ++n_kv_;
}

void GgufWriter::add_f32_array(const std::string& key, const std::vector<float>& values) {
  put_string(kv_bytes_, key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::ARRAY));
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::FLOAT32));
  put<uint64_t>(kv_bytes_, values.size());
  for (float v : values) put<float>(kv_bytes_, v);
  ++n_kv_;
}

void GgufWriter::add_i32_array(const std::string& key, const std::vector<int32_t>& values) {
  put_string(kv_bytes_, key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::ARRAY));
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::INT32));
  put<uint64_t>(kv_bytes_, values.size());
  for (int32_t v : values) put<int32_t>(kv_bytes_, v);
  ++n_kv_;
}

void GgufWriter::add_value(const std::string& key, const Value& v) {
  switch (v.type) {
    case ValueType::STRING: return add_string(key, v.string_value);
    case ValueType::BOOL: return add_bool(key, v.bool_value);
    case ValueType::FLOAT32: case ValueType::FLOAT64: return add_f32(key, static_cast<float>(v.float_value));
    case ValueType::ARRAY:
      if (v.elem_type == ValueType::STRING) return add_string_array(key, v.string_array);
      if (is_float(v.elem_type)) {
        std::vector<float> f(v.float_array.begin(), v.float_array.end());
        return add_f32_array(key, f);
      } else {
        std::vector<int32_t> ints;
        ints.reserve(v.int_array.size());
        for (int64_t x : v.int_array) ints.push_back(static_cast<int32_t>(x));
        return add_i32_array(key, ints);
      }
    case ValueType::INT8: case ValueType::INT16: case ValueType::INT32: case ValueType::INT64:
      return add_i32(key, static_cast<int32_t>(v.int_value));
    default:
      return add_u32(key, static_cast<uint32_t>(v.int_value));
  }
}

void GgufWriter::add_tensor(const std::string& name, const std::vector<int64_t>& dims, DType type,
                            std::vector<uint8_t> data) {
  uint64_t rows = 1;
  for (size_t i = 1; i < dims.size(); ++i) rows *= static_cast<uint64_t>(dims[i]);
  const uint64_t expected = row_bytes(type, static_cast<uint64_t>(dims.at(0))) * rows;
  if (expected != data.size()) {
    fail("gguf writer: tensor '{}' has {} bytes of data, its shape needs {}", name, data.size(), expected);
  }
  tensors_.push_back({name, dims, type, std::move(data)});
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::vector<uint8_t> out;
  put<uint32_t>(out, kMagic);
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, n_kv_);
  out.insert(out.end(), kv_bytes_.begin(), kv_bytes_.end());
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_string(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) put<int64_t>(out, d);
    put<uint32_t>(out, static_cast<uint32_t>(t.type));
    put<uint64_t>(out, offset);
    offset = align_up(offset + t.data.size(), kDefaultAlignment);
  }
  out.resize(align_up(out.size(), kDefaultAlignment), 0);
  for (const auto& t : tensors_) {
    out.insert(out.end(), t.data.begin(), t.data.end());
    out.resize(align_up(out.size(), kDefaultAlignment), 0);
  }
  return out;
}

void GgufWriter::write(const std::string& path) const {
  const std::vector<uint8_t> bytes = to_bytes();
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) fail("cannot create '{}'", path);
  if (std::fwrite(bytes.data(), 1, bytes.size(), f.get()) != bytes.size()) fail("cannot write '{}'", path);
}

}  // namespace ts::gguf
