#include "model/weights.h"

#include "base/error.h"
#include "formats/gguf/gguf_reader.h"
#include "kernels/dtype_table.h"
#include "quant/quantize.h"

namespace ts {

bool has_tensor(const gguf::GgufFile& f, const std::string& name) { return f.find_tensor(name) != nullptr; }

WeightMatrix load_matrix(const gguf::GgufFile& f, const std::string& name, int64_t rows, int64_t cols) {
  const gguf::TensorInfo& t = f.tensor(name);
  if (t.dims[0] != cols || t.rows() != rows) {
    fail("{}: tensor '{}' has shape [{}, {}], expected [{}, {}]", f.path(), name, t.rows(), t.dims[0], rows, cols);
  }
  if (!has_kernels(t.type)) fail("{}: tensor '{}' has type {}, which is not supported", f.path(), name, dtype_name(t.type));
  return WeightMatrix{t.type, rows, cols, t.data};
}

std::vector<float> load_vector(const gguf::GgufFile& f, const std::string& name, int64_t n) {
  const gguf::TensorInfo& t = f.tensor(name);
  if (static_cast<int64_t>(t.n_elements) != n) {
    fail("{}: tensor '{}' has {} elements, expected {}", f.path(), name, t.n_elements, n);
  }
  if (!dtype_info(t.type).supported) fail("{}: tensor '{}' has unsupported type {}", f.path(), name, dtype_name(t.type));
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(t.type, t.data, out.data(), n);
  return out;
}

}  // namespace ts
