#pragma once
// SafeTensors reader over mmap: one file, or a sharded checkpoint through its
// model.safetensors.index.json. The format is an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the
// byte buffer. Everything in the header is checked before it is used: its size, each entry's
// fields, element count x element size (overflow-checked) against the byte range, and the
// ranges themselves, which must tile the buffer exactly (inside the file, no gaps, no overlap).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/mmap_file.h"
#include "quant/types.h"

namespace ts::safetensors {

constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;  // the format's own limit
constexpr int kMaxDims = 8;

struct TensorView {
  std::string name;
  std::string dtype;             // as written: "F32", "BF16", "I64", ...
  std::optional<DType> type;     // our element type, when we have one
  std::vector<int64_t> shape;    // outermost first (row-major)
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;
  std::string file;              // the shard that holds it
};

// One .safetensors file.
class SafeTensorsFile {
 public:
  static std::unique_ptr<SafeTensorsFile> open(const std::string& path);
  // Parses bytes held in memory (the object keeps them); for tests and tools.
  static std::unique_ptr<SafeTensorsFile> from_bytes(std::vector<uint8_t> bytes, const std::string& name);

  const std::string& path() const { return name_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafeTensorsFile() = default;
  void parse(const uint8_t* bytes, uint64_t size);

  std::string name_;
  MappedFile mapped_;
  std::vector<uint8_t> owned_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Every tensor of a checkpoint: a single file, or the shards an index names.
class Checkpoint {
 public:
  // path: a .safetensors file, a model.safetensors.index.json, or a directory holding either
  // (model.safetensors, else model.safetensors.index.json). Throws naming the file and field.
  static std::unique_ptr<Checkpoint> open(const std::string& path);

  const std::string& path() const { return path_; }
  const TensorView* find(const std::string& name) const;
  const std::map<std::string, const TensorView*>& tensors() const { return index_; }

 private:
  std::string path_;
  std::vector<std::unique_ptr<SafeTensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
};

// Bytes per element of a SafeTensors dtype name; nullopt if the name is not one.
std::optional<uint64_t> element_size(const std::string& dtype);

}  // namespace ts::safetensors
