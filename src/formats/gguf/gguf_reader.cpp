#include "formats/gguf/gguf_reader.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "base/checked_math.h"
#include "base/error.h"

namespace ts::gguf {

std::string_view value_type_name(ValueType type) {
  switch (type) {
    case ValueType::UINT8: return "uint8";
    case ValueType::INT8: return "int8";
    case ValueType::UINT16: return "uint16";
    case ValueType::INT16: return "int16";
    case ValueType::UINT32: return "uint32";
    case ValueType::INT32: return "int32";
    case ValueType::FLOAT32: return "float32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "uint64";
    case ValueType::INT64: return "int64";
    case ValueType::FLOAT64: return "float64";
  }
  return "unknown";
}

namespace {

// Smallest encoded size of one element of each type; used to bound counts before allocating.
uint64_t min_encoded_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    case ValueType::STRING: return 8;
    case ValueType::ARRAY: return 12;
  }
  return 1;
}

bool valid_value_type(uint32_t raw) { return raw <= static_cast<uint32_t>(ValueType::FLOAT64); }

class Cursor {
 public:
  Cursor(const uint8_t* data, uint64_t size, const std::string& file) : data_(data), size_(size), file_(file) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  const std::string& file() const { return file_; }

  void need(uint64_t n, const std::string& what) const {
    if (n > remaining()) {
      fail("{}: truncated at offset {} reading {} ({} bytes needed, {} left)", file_, pos_, what, n, remaining());
    }
  }

  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const std::string& what) {
    const uint64_t len = read<uint64_t>(what + " length");
    if (len > remaining()) {
      fail("{}: {} has length {} but only {} bytes remain at offset {}", file_, what, len, remaining(), pos_);
    }
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& file_;
};

void read_scalar(Cursor& c, ValueType type, Value& v, const std::string& what) {
  switch (type) {
    case ValueType::UINT8: v.int_value = c.read<uint8_t>(what); break;
    case ValueType::INT8: v.int_value = c.read<int8_t>(what); break;
    case ValueType::UINT16: v.int_value = c.read<uint16_t>(what); break;
    case ValueType::INT16: v.int_value = c.read<int16_t>(what); break;
    case ValueType::UINT32: v.int_value = c.read<uint32_t>(what); break;
    case ValueType::INT32: v.int_value = c.read<int32_t>(what); break;
    case ValueType::UINT64:
      v.uint_value = c.read<uint64_t>(what);
      v.int_value = static_cast<int64_t>(std::min<uint64_t>(v.uint_value, std::numeric_limits<int64_t>::max()));
      return;
    case ValueType::INT64: v.int_value = c.read<int64_t>(what); break;
    case ValueType::FLOAT32: v.float_value = static_cast<double>(c.read<float>(what)); return;
    case ValueType::FLOAT64: v.float_value = c.read<double>(what); return;
    case ValueType::BOOL: {
      const uint8_t b = c.read<uint8_t>(what);
      if (b > 1) fail("{}: {} is a bool with invalid value {}", c.file(), what, b);
      v.bool_value = b != 0;
      v.int_value = b;
      return;
    }
    case ValueType::STRING: v.string_value = c.read_string(what); return;
    case ValueType::ARRAY: fail("{}: {}: nested arrays are not supported", c.file(), what);
  }
  v.uint_value = static_cast<uint64_t>(v.int_value);
}

Value read_value(Cursor& c, ValueType type, const std::string& key) {
  Value v;
  v.type = type;
  if (type != ValueType::ARRAY) {
    read_scalar(c, type, v, "value of '" + key + "'");
    return v;
  }
  const uint32_t raw_elem = c.read<uint32_t>("array type of '" + key + "'");
  if (!valid_value_type(raw_elem)) fail("{}: array '{}' has unknown element type {}", c.file(), key, raw_elem);
  v.elem_type = static_cast<ValueType>(raw_elem);
  if (v.elem_type == ValueType::ARRAY) fail("{}: array '{}': nested arrays are not supported", c.file(), key);
  v.array_size = c.read<uint64_t>("array length of '" + key + "'");
  const auto min_bytes = checked_mul(v.array_size, min_encoded_size(v.elem_type));
  if (!min_bytes || *min_bytes > c.remaining()) {
    fail("{}: array '{}' claims {} elements of {} but only {} bytes remain", c.file(), key, v.array_size,
         value_type_name(v.elem_type), c.remaining());
  }
  const size_t n = static_cast<size_t>(v.array_size);
  Value elem;
  if (v.elem_type == ValueType::STRING) {
    v.string_array.reserve(n);
    for (size_t i = 0; i < n; ++i) v.string_array.push_back(c.read_string("element of '" + key + "'"));
  } else if (is_float(v.elem_type)) {
    v.float_array.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      read_scalar(c, v.elem_type, elem, "element of '" + key + "'");
      v.float_array.push_back(elem.float_value);
    }
  } else {
    v.int_array.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      read_scalar(c, v.elem_type, elem, "element of '" + key + "'");
      v.int_array.push_back(elem.int_value);
    }
  }
  return v;
}

}  // namespace

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->name_ = path;
  f->mapped_ = MappedFile(path);
  f->bytes_ = f->mapped_.data();
  f->size_ = f->mapped_.size();
  f->parse();
  return f;
}

std::unique_ptr<GgufFile> GgufFile::from_bytes(std::vector<uint8_t> bytes, const std::string& name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->name_ = name;
  f->owned_ = std::move(bytes);
  f->bytes_ = f->owned_.data();
  f->size_ = f->owned_.size();
  f->parse();
  return f;
}

std::unique_ptr<GgufFile> GgufFile::from_views(std::string name, std::map<std::string, Value> metadata,
                                               std::vector<TensorInfo> tensors, std::shared_ptr<const void> owner) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->name_ = std::move(name);
  f->kv_ = std::move(metadata);
  f->owner_ = std::move(owner);
  f->tensors_ = std::move(tensors);
  for (size_t i = 0; i < f->tensors_.size(); ++i) {
    if (!f->tensor_index_.emplace(f->tensors_[i].name, i).second) {
      fail("{}: duplicate tensor name '{}'", f->name_, f->tensors_[i].name);
    }
  }
  return f;
}

void GgufFile::parse() {
  Cursor c(bytes_, size_, name_);
  const uint32_t magic = c.read<uint32_t>("magic");
  if (magic != kMagic) fail("{}: bad magic 0x{:08x} (not a GGUF file)", name_, magic);
  version_ = c.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3) fail("{}: unsupported GGUF version {} (supported: 2, 3)", name_, version_);
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at least
  // 8 + 4 + 8 + 4 + 8. Larger counts cannot be genuine, whatever they would make us allocate.
  if (auto need = checked_mul(n_kv, 13); !need || *need > c.remaining()) {
    fail("{}: metadata count {} is impossible for a file of {} bytes", name_, n_kv, size_);
  }
  if (auto need = checked_mul(n_tensors, 32); !need || *need > c.remaining()) {
    fail("{}: tensor count {} is impossible for a file of {} bytes", name_, n_tensors, size_);
  }

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.read_string(fmt::format("key of metadata entry {}", i));
    if (key.empty()) fail("{}: metadata entry {} has an empty key", name_, i);
    const uint32_t raw_type = c.read<uint32_t>("type of '" + key + "'");
    if (!valid_value_type(raw_type)) fail("{}: metadata '{}' has unknown value type {}", name_, key, raw_type);
    Value v = read_value(c, static_cast<ValueType>(raw_type), key);
    if (kv_.count(key) != 0) fail("{}: duplicate metadata key '{}'", name_, key);
    kv_.emplace(std::move(key), std::move(v));
  }

  if (const Value* a = find("general.alignment")) {
    if (a->type != ValueType::UINT32) {
      fail("{}: general.alignment must be uint32, found {}", name_, value_type_name(a->type));
    }
    const uint64_t al = static_cast<uint64_t>(a->int_value);
    if (al == 0 || (al & (al - 1)) != 0) fail("{}: general.alignment {} is not a power of two", name_, al);
    alignment_ = static_cast<uint32_t>(al);
  }

  tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    t.name = c.read_string(fmt::format("name of tensor {}", i));
    const uint32_t n_dims = c.read<uint32_t>("n_dims of tensor '" + t.name + "'");
    if (n_dims == 0 || n_dims > kMaxDims) {
      fail("{}: tensor '{}' has n_dims {} (must be 1..{})", name_, t.name, n_dims, kMaxDims);
    }
    t.n_dims = static_cast<int>(n_dims);
    uint64_t count = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const int64_t dim = c.read<int64_t>(fmt::format("dimension {} of tensor '{}'", d, t.name));
      if (dim <= 0) fail("{}: tensor '{}' has dimension {} = {} (must be positive)", name_, t.name, d, dim);
      t.dims[d] = dim;
      auto next = checked_mul(count, static_cast<uint64_t>(dim));
      if (!next || *next > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail("{}: tensor '{}' element count overflows", name_, t.name);
      }
      count = *next;
    }
    t.n_elements = count;
    const uint32_t raw_type = c.read<uint32_t>("type of tensor '" + t.name + "'");
    const auto info = dtype_info(raw_type);
    if (!info) fail("{}: tensor '{}' has unknown tensor type {}", name_, t.name, raw_type);
    t.type = static_cast<DType>(raw_type);
    if (t.dims[0] % info->block_size != 0) {
      fail("{}: tensor '{}' row length {} is not a multiple of the {} block size {}", name_, t.name, t.dims[0],
           info->name, info->block_size);
    }
    auto bytes = checked_mul(count / info->block_size, info->type_size);
    if (!bytes) fail("{}: tensor '{}' byte size overflows", name_, t.name);
    t.n_bytes = *bytes;
    t.offset = c.read<uint64_t>("offset of tensor '" + t.name + "'");
    if (t.offset % alignment_ != 0) {
      fail("{}: tensor '{}' offset {} is not a multiple of the alignment {}", name_, t.name, t.offset, alignment_);
    }
    if (tensor_index_.count(t.name) != 0) fail("{}: duplicate tensor name '{}'", name_, t.name);
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  data_offset_ = align_up(c.pos(), alignment_);
  if (!tensors_.empty() && data_offset_ > size_) {
    fail("{}: data section would start at {} past the end of the {}-byte file", name_, data_offset_, size_);
  }
  const uint64_t data_size = size_ >= data_offset_ ? size_ - data_offset_ : 0;
  // Tensors must lie inside the data section and must not overlap one another.
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto& t : tensors_) {
    auto end = checked_add(t.offset, t.n_bytes);
    if (!end || *end > data_size) {
      fail("{}: tensor '{}' data [{}, +{}) lies outside the {}-byte data section", name_, t.name, t.offset,
           t.n_bytes, data_size);
    }
    t.data = bytes_ + data_offset_ + t.offset;
    ranges.emplace_back(t.offset, *end);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) {
      fail("{}: tensor data ranges overlap at offset {}", name_, ranges[i].first);
    }
  }
}

const Value* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

const TensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& GgufFile::tensor(const std::string& name) const {
  const TensorInfo* t = find_tensor(name);
  if (t == nullptr) fail("{}: missing tensor '{}'", name_, name);
  return *t;
}

int64_t GgufFile::get_int(const std::string& key) const {
  const Value* v = find(key);
  if (v == nullptr) fail("{}: missing metadata '{}'", name_, key);
  if (!is_integer(v->type)) fail("{}: metadata '{}' must be an integer, found {}", name_, key, value_type_name(v->type));
  if (v->type == ValueType::UINT64 && v->uint_value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    fail("{}: metadata '{}' value {} is out of range", name_, key, v->uint_value);
  }
  return v->int_value;
}

int64_t GgufFile::get_int(const std::string& key, int64_t fallback) const {
  return find(key) ? get_int(key) : fallback;
}

double GgufFile::get_float(const std::string& key) const {
  const Value* v = find(key);
  if (v == nullptr) fail("{}: missing metadata '{}'", name_, key);
  if (is_float(v->type)) return v->float_value;
  if (is_integer(v->type)) return static_cast<double>(v->int_value);
  fail("{}: metadata '{}' must be a number, found {}", name_, key, value_type_name(v->type));
}

double GgufFile::get_float(const std::string& key, double fallback) const {
  return find(key) ? get_float(key) : fallback;
}

bool GgufFile::get_bool(const std::string& key, bool fallback) const {
  const Value* v = find(key);
  if (v == nullptr) return fallback;
  if (v->type != ValueType::BOOL) fail("{}: metadata '{}' must be a bool, found {}", name_, key, value_type_name(v->type));
  return v->bool_value;
}

std::string GgufFile::get_string(const std::string& key) const {
  const Value* v = find(key);
  if (v == nullptr) fail("{}: missing metadata '{}'", name_, key);
  if (v->type != ValueType::STRING) fail("{}: metadata '{}' must be a string, found {}", name_, key, value_type_name(v->type));
  return v->string_value;
}

std::string GgufFile::get_string(const std::string& key, const std::string& fallback) const {
  return find(key) ? get_string(key) : fallback;
}

namespace {
const Value& array_of(const GgufFile& f, const std::string& key, bool (*ok)(ValueType), const char* kind) {
  const Value* v = f.find(key);
  if (v == nullptr) fail("{}: missing metadata '{}'", f.path(), key);
  if (v->type != ValueType::ARRAY || !ok(v->elem_type)) {
    fail("{}: metadata '{}' must be an array of {}, found {}{}", f.path(), key, kind, value_type_name(v->type),
         v->type == ValueType::ARRAY ? fmt::format(" of {}", value_type_name(v->elem_type)) : "");
  }
  return *v;
}
}  // namespace

const std::vector<std::string>& GgufFile::get_string_array(const std::string& key) const {
  return array_of(*this, key, [](ValueType t) { return t == ValueType::STRING; }, "strings").string_array;
}

const std::vector<double>& GgufFile::get_float_array(const std::string& key) const {
  return array_of(*this, key, is_float, "floats").float_array;
}

const std::vector<int64_t>& GgufFile::get_int_array(const std::string& key) const {
  return array_of(*this, key, [](ValueType t) { return is_integer(t) || t == ValueType::BOOL; }, "integers").int_array;
}

}  // namespace ts::gguf
