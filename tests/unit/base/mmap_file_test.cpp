#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/mmap_file.h"

namespace ts {
namespace {

// A file of `bytes` bytes where byte i is i % 251, in the test's temporary directory.
std::string write_file(const std::string& name, size_t bytes) {
  const std::string path = (std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()))).string();
  std::vector<char> data(bytes);
  for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<char>(i % 251);
  std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(bytes));
  return path;
}

// How many of the pages under [data, data + bytes) this process has mapped (the "present" bit
// of /proc/self/pagemap, which a process may read for itself); -1 where it cannot be read.
long present_pages(const uint8_t* data, size_t bytes) {
  const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  long present = 0;
  for (uintptr_t a = reinterpret_cast<uintptr_t>(data) / page * page; a < reinterpret_cast<uintptr_t>(data) + bytes; a += page) {
    uint64_t entry = 0;
    if (::pread(fd, &entry, sizeof(entry), static_cast<off_t>(a / page * sizeof(entry))) != sizeof(entry)) {
      present = -1;
      break;
    }
    present += static_cast<long>(entry >> 63);
  }
  ::close(fd);
  return present;
}

TEST(MappedFile, PrefaultMapsEveryPageOfTheRange) {
  constexpr size_t kBytes = 1 << 20;
  const std::string path = write_file("prefault", kBytes);
  {
    const MappedFile f(path);
    const long page = ::sysconf(_SC_PAGESIZE);
    const long pages = static_cast<long>(kBytes) / page;
    // Nothing has read the fresh mapping: no page of it is mapped yet.
    const long before = present_pages(f.data(), kBytes);
    if (before < 0) GTEST_SKIP() << "/proc/self/pagemap cannot be read here";
    EXPECT_EQ(before, 0);
    // Unaligned at both ends: the pages that hold the range's first and last bytes count too.
    prefault_read(f.data() + 100, kBytes - 200);
    EXPECT_EQ(present_pages(f.data(), kBytes), pages);
    EXPECT_EQ(f.data()[kBytes - 1], static_cast<uint8_t>((kBytes - 1) % 251));
  }
  std::filesystem::remove(path);
}

TEST(MappedFile, PrefaultOfNothingIsHarmless) {
  prefault_read(nullptr, 100);
  const std::string path = write_file("prefault-empty", 4096);
  {
    const MappedFile f(path);
    prefault_read(f.data(), 0);
    prefault_read(f.data() + 4095, 1);  // the last byte only
    EXPECT_EQ(f.data()[4095], static_cast<uint8_t>(4095 % 251));
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace ts
