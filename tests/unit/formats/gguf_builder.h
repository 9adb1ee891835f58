#pragma once
// Hand-assembles GGUF bytes so tests can write exactly the defect they want.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace ts::test {

struct GgufBytes {
  std::vector<uint8_t> b;
  template <typename T>
  GgufBytes& put(T v) {
    const size_t at = b.size();
    b.resize(at + sizeof(T));
    std::memcpy(b.data() + at, &v, sizeof(T));
    return *this;
  }
  GgufBytes& str(const std::string& s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  GgufBytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return put<uint32_t>(0x46554747).put<uint32_t>(version).put<uint64_t>(n_tensors).put<uint64_t>(n_kv);
  }
  GgufBytes& kv_u32(const std::string& key, uint32_t v) { return str(key).put<uint32_t>(4).put<uint32_t>(v); }
  GgufBytes& kv_str(const std::string& key, const std::string& v) { return str(key).put<uint32_t>(8).str(v); }
  // tensor info: name, dims (dims[0] contiguous), ggml type, offset
  GgufBytes& tensor(const std::string& name, std::vector<int64_t> dims, uint32_t type, uint64_t offset) {
    str(name).put<uint32_t>(static_cast<uint32_t>(dims.size()));
    for (int64_t d : dims) put<int64_t>(d);
    return put<uint32_t>(type).put<uint64_t>(offset);
  }
  GgufBytes& pad(size_t alignment = 32) {
    b.resize((b.size() + alignment - 1) / alignment * alignment, 0);
    return *this;
  }
  GgufBytes& zeros(size_t n) {
    b.resize(b.size() + n, 0);
    return *this;
  }
};

// A small valid file: two metadata entries and two f32 tensors.
inline std::vector<uint8_t> valid_gguf() {
  GgufBytes g;
  g.header(2, 2).kv_str("general.architecture", "llama").kv_u32("llama.block_count", 1);
  g.tensor("a", {8}, 0, 0).tensor("b", {4, 2}, 0, 32);
  g.pad().zeros(64);
  return g.b;
}

}  // namespace ts::test
