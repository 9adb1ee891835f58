#include "formats/safetensors/safetensors_reader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "base/checked_math.h"
#include "base/error.h"

namespace ts::safetensors {

using nlohmann::json;

std::optional<uint64_t> element_size(const std::string& dtype) {
  static const std::map<std::string, uint64_t> kSizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8},
  };
  auto it = kSizes.find(dtype);
  if (it == kSizes.end()) return std::nullopt;
  return it->second;
}

namespace {

std::optional<DType> our_type(const std::string& dtype) {
  if (dtype == "F32") return DType::F32;
  if (dtype == "F16") return DType::F16;
  if (dtype == "BF16") return DType::BF16;
  if (dtype == "F64") return DType::F64;
  if (dtype == "I8") return DType::I8;
  if (dtype == "I16") return DType::I16;
  if (dtype == "I32") return DType::I32;
  if (dtype == "I64") return DType::I64;
  return std::nullopt;
}

// A printable excerpt of a name taken from the file, so errors stay one readable line.
std::string excerpt(const std::string& s) {
  std::string out;
  for (char ch : s.substr(0, 80)) out += (static_cast<unsigned char>(ch) < 0x20) ? '?' : ch;
  return "'" + out + (s.size() > 80 ? "...'" : "'");
}

json parse_json(const uint8_t* begin, uint64_t size, const std::string& file, const char* what) {
  json j = json::parse(begin, begin + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail("{}: {} is not valid JSON", file, what);
  return j;
}

std::string read_small_file(const std::string& path, uint64_t cap) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) fail("{}: cannot read ({})", path, ec.message());
  if (size > cap) fail("{}: {} bytes is larger than the {} a JSON index may have", path, size, cap);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) fail("{}: read error", path);
  return ss.str();
}

}  // namespace

std::unique_ptr<SafeTensorsFile> SafeTensorsFile::open(const std::string& path) {
  std::unique_ptr<SafeTensorsFile> f(new SafeTensorsFile());
  f->name_ = path;
  f->mapped_ = MappedFile(path);
  f->parse(f->mapped_.data(), f->mapped_.size());
  return f;
}

std::unique_ptr<SafeTensorsFile> SafeTensorsFile::from_bytes(std::vector<uint8_t> bytes, const std::string& name) {
  std::unique_ptr<SafeTensorsFile> f(new SafeTensorsFile());
  f->name_ = name;
  f->owned_ = std::move(bytes);
  f->parse(f->owned_.data(), f->owned_.size());
  return f;
}

void SafeTensorsFile::parse(const uint8_t* bytes, uint64_t size) {
  const std::string& file = name_;
  if (size < 8) fail("{}: {} bytes is too short for a SafeTensors header length", file, size);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeaderBytes) fail("{}: header length {} exceeds the limit of {}", file, header_len, kMaxHeaderBytes);
  if (header_len > size - 8) fail("{}: header length {} runs past the end of the {}-byte file", file, header_len, size);
  if (header_len < 2 || bytes[8] != '{') fail("{}: header does not start with a JSON object", file);
  const json header = parse_json(bytes + 8, header_len, file, "header");
  if (!header.is_object()) fail("{}: header is not a JSON object", file);

  const uint8_t* buffer = bytes + 8 + header_len;
  const uint64_t buffer_size = size - 8 - header_len;
  struct Range {
    uint64_t begin, end;
    size_t index;
  };
  std::vector<Range> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("{}: __metadata__ is not an object", file);
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail("{}: __metadata__ value of {} is not a string", file, excerpt(k));
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = fmt::format("{}: tensor {}", file, excerpt(name));
    if (!entry.is_object()) fail("{} is not an object", where);
    for (const auto& [k, v] : entry.items()) {
      (void)v;
      if (k != "dtype" && k != "shape" && k != "data_offsets") fail("{} has an unknown field {}", where, excerpt(k));
    }
    if (!entry.contains("dtype") || !entry["dtype"].is_string()) fail("{} has no dtype string", where);
    if (!entry.contains("shape") || !entry["shape"].is_array()) fail("{} has no shape array", where);
    if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() || entry["data_offsets"].size() != 2) {
      fail("{} needs data_offsets [begin, end]", where);
    }
    TensorView t;
    t.name = name;
    t.file = file;
    t.dtype = entry["dtype"].get<std::string>();
    const auto elem = element_size(t.dtype);
    if (!elem) fail("{} has unknown dtype {}", where, excerpt(t.dtype));
    t.type = our_type(t.dtype);
    const json& shape = entry["shape"];
    if (shape.size() > static_cast<size_t>(kMaxDims)) fail("{} has {} dimensions (at most {})", where, shape.size(), kMaxDims);
    uint64_t count = 1;
    for (const json& d : shape) {
      if (!d.is_number_unsigned()) fail("{}: shape entry {} is not a non-negative integer", where, d.dump());
      const uint64_t dim = d.get<uint64_t>();
      if (dim > static_cast<uint64_t>(INT64_MAX)) fail("{}: dimension {} is too large", where, dim);
      const auto next = checked_mul(count, dim);
      if (!next) fail("{}: element count of shape {} overflows", where, shape.dump());
      count = *next;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto bytes_needed = checked_mul(count, *elem);
    if (!bytes_needed) fail("{}: byte size of shape {} x {} overflows", where, shape.dump(), *elem);
    const json& off = entry["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) fail("{}: data_offsets are not non-negative integers", where);
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (end < begin) fail("{}: data_offsets [{}, {}] end before they begin", where, begin, end);
    if (end > buffer_size) fail("{}: data_offsets [{}, {}] run past the {}-byte buffer", where, begin, end, buffer_size);
    if (end - begin != *bytes_needed) {
      fail("{}: {} bytes in data_offsets [{}, {}], but shape {} of {} needs {}", where, end - begin, begin, end,
           shape.dump(), t.dtype, *bytes_needed);
    }
    t.n_elements = count;
    t.n_bytes = *bytes_needed;
    t.data = buffer + begin;
    ranges.push_back({begin, end, tensors_.size()});
    tensors_.push_back(std::move(t));
  }
  // The buffer must be covered exactly: no holes (hidden data) and no overlaps (aliasing).
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  for (const Range& r : ranges) {
    const std::string& name = tensors_[r.index].name;
    if (r.begin < at) fail("{}: tensor {} at [{}, {}] overlaps the tensor before it (which ends at {})", file, excerpt(name), r.begin, r.end, at);
    if (r.begin > at) fail("{}: bytes [{}, {}) before tensor {} belong to no tensor", file, at, r.begin, excerpt(name));
    at = r.end;
  }
  if (at != buffer_size) fail("{}: bytes [{}, {}) at the end belong to no tensor", file, at, buffer_size);
}

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string& path) {
  namespace fs = std::filesystem;
  auto cp = std::make_unique<Checkpoint>();
  std::error_code ec;
  std::string file = path;
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    if (fs::exists(dir / "model.safetensors", ec)) {
      file = (dir / "model.safetensors").string();
    } else if (fs::exists(dir / "model.safetensors.index.json", ec)) {
      file = (dir / "model.safetensors.index.json").string();
    } else {
      fail("{}: no model.safetensors or model.safetensors.index.json in this directory", path);
    }
  }
  cp->path_ = file;
  const bool is_index = file.size() >= 5 && file.compare(file.size() - 5, 5, ".json") == 0;
  if (!is_index) {
    cp->files_.push_back(SafeTensorsFile::open(file));
  } else {
    const std::string text = read_small_file(file, kMaxHeaderBytes);
    const json index = parse_json(reinterpret_cast<const uint8_t*>(text.data()), text.size(), file, "index");
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      fail("{}: index has no weight_map object", file);
    }
    std::map<std::string, std::set<std::string>> by_shard;  // shard -> tensors the index puts there
    for (const auto& [name, shard] : index["weight_map"].items()) {
      if (!shard.is_string()) fail("{}: weight_map entry {} is not a file name", file, excerpt(name));
      const std::string s = shard.get<std::string>();
      // Shards are siblings of the index: a path that could leave the directory is refused.
      if (s.empty() || s.find('/') != std::string::npos || s.find('\\') != std::string::npos || s == "." || s == "..") {
        fail("{}: weight_map entry {} names shard {}, which is not a plain file name", file, excerpt(name), excerpt(s));
      }
      by_shard[s].insert(name);
    }
    if (by_shard.empty()) fail("{}: weight_map is empty", file);
    const fs::path dir = fs::path(file).parent_path();
    for (const auto& [shard, names] : by_shard) {
      auto f = SafeTensorsFile::open((dir / shard).string());
      std::set<std::string> present;
      for (const TensorView& t : f->tensors()) present.insert(t.name);
      for (const std::string& n : names) {
        if (!present.count(n)) fail("{}: weight_map puts {} in {}, which does not hold it", file, excerpt(n), shard);
      }
      for (const std::string& n : present) {
        if (!names.count(n)) fail("{}: shard {} holds {}, which weight_map does not list there", file, shard, excerpt(n));
      }
      cp->files_.push_back(std::move(f));
    }
  }
  for (const auto& f : cp->files_) {
    for (const TensorView& t : f->tensors()) {
      if (!cp->index_.emplace(t.name, &t).second) fail("{}: tensor {} appears twice", file, excerpt(t.name));
    }
  }
  return cp;
}

const TensorView* Checkpoint::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

}  // namespace ts::safetensors
