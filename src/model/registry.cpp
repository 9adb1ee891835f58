#include "base/error.h"
#include "formats/gguf/gguf_reader.h"
#include "model/llama.h"
#include "model/model.h"

namespace ts {

std::unique_ptr<Model> load_model(const gguf::GgufFile& file, ThreadPool& pool, const ModelOptions& options) {
  const std::string arch = file.get_string("general.architecture");
  if (arch == "llama") return make_llama(file, pool, options);
  fail("{}: architecture '{}' is not supported (supported: llama)", file.path(), arch);
}

}  // namespace ts
