#pragma once
// Read-only memory map of a whole file. Moves, never copies.
#include <cstddef>
#include <cstdint>
#include <string>

namespace ts {

class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release();
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Maps the pages under [addr, addr + bytes) of a file mapping into this process now, so that no
// later first read of one of them stops for a page fault. For tables read a row at a time in
// no order (a decode step's token embedding lands on a page nothing has read yet): without it
// each such row cost a fault of ~10 µs, ~0.1% of a TinyLlama-shaped decode step. A hint: a
// kernel without MADV_POPULATE_READ gets one read per page instead.
void prefault_read(const void* addr, size_t bytes);

}  // namespace ts
