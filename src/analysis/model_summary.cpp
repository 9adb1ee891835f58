#include "analysis/model_summary.h"

#include <cctype>
#include <map>

#include "fmt/format.h"

namespace ts {

ModelSummary summarize_model(const gguf::GgufFile& file) {
  ModelSummary s;
  std::map<DType, uint64_t> bytes_by_type;
  for (const auto& t : file.tensors()) {
    s.bytes += t.n_bytes;
    s.params += t.n_elements;
    if (t.n_dims >= 2) bytes_by_type[t.type] += t.n_bytes;
  }
  DType main_type = DType::F32;
  uint64_t most = 0;
  for (const auto& [type, b] : bytes_by_type) {
    if (b > most) {
      most = b;
      main_type = type;
    }
  }
  const double p = static_cast<double>(s.params);
  const std::string size = p >= 1e9 ? fmt::format("{:.1f}B", p / 1e9) : fmt::format("{:.0f}M", p / 1e6);
  std::string type_name(dtype_name(main_type));
  for (auto& ch : type_name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  s.name = fmt::format("{} {} {}", file.get_string("general.architecture", "?"), size, type_name);
  return s;
}

}  // namespace ts
