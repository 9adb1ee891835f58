#pragma once
// GGUF v2/v3 reader. Every count, length, dimension and offset is checked against the bytes
// that remain and for integer overflow before it is used, so a malformed file can neither
// crash the reader nor make it allocate more than the file itself implies.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/mmap_file.h"
#include "formats/gguf/gguf_value.h"
#include "quant/types.h"

namespace ts::gguf {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kDefaultAlignment = 32;
constexpr int kMaxDims = 4;

struct TensorInfo {
  std::string name;
  int n_dims = 0;
  std::array<int64_t, kMaxDims> dims{1, 1, 1, 1};  // dims[0] is the contiguous (row) dimension
  DType type = DType::F32;
  uint64_t offset = 0;     // relative to the data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;

  int64_t rows() const { return dims[1] * dims[2] * dims[3]; }
};

class GgufFile {
 public:
  // Maps and parses the file; throws ts::Error naming the field and value on any defect.
  static std::unique_ptr<GgufFile> open(const std::string& path);
  // Parses bytes held in memory (the object keeps them).
  static std::unique_ptr<GgufFile> from_bytes(std::vector<uint8_t> bytes, const std::string& name);
  // The same store assembled from metadata and tensor views whose bytes live elsewhere: a
  // SafeTensors checkpoint imported under GGUF names and keys, so every architecture has one
  // loader. `owner` keeps the viewed bytes alive. Throws on a duplicate tensor name.
  static std::unique_ptr<GgufFile> from_views(std::string name, std::map<std::string, Value> metadata,
                                              std::vector<TensorInfo> tensors, std::shared_ptr<const void> owner);

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  const std::string& path() const { return name_; }
  uint64_t file_size() const { return size_; }
  uint64_t data_offset() const { return data_offset_; }

  const std::map<std::string, Value>& metadata() const { return kv_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }

  const Value* find(const std::string& key) const;
  const TensorInfo* find_tensor(const std::string& name) const;
  const TensorInfo& tensor(const std::string& name) const;  // throws if missing

  // Typed getters: throw naming the key if the value is missing (no default) or of the wrong type.
  int64_t get_int(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_float(const std::string& key) const;
  double get_float(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  const std::vector<std::string>& get_string_array(const std::string& key) const;
  const std::vector<double>& get_float_array(const std::string& key) const;
  const std::vector<int64_t>& get_int_array(const std::string& key) const;

 private:
  GgufFile() = default;
  void parse();

  std::string name_;
  MappedFile mapped_;
  std::vector<uint8_t> owned_;
  std::shared_ptr<const void> owner_;
  const uint8_t* bytes_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::map<std::string, Value> kv_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace ts::gguf
