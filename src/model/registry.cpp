#include "base/error.h"
#include "formats/gguf/gguf_reader.h"
#include "model/gemma3.h"
#include "model/gpt2.h"
#include "model/llama.h"
#include "model/model.h"

namespace ts {

std::unique_ptr<Model> load_model(const gguf::GgufFile& file, ThreadPool& pool, const ModelOptions& options) {
  const std::string arch = file.get_string("general.architecture");
  if (arch == "llama") return make_llama(file, pool, options);
  if (arch == "gemma3") return make_gemma3(file, pool, options);
  if (arch == "gpt2") return make_gpt2(file, pool, options);
  fail("{}: architecture '{}' is not supported (supported: llama, gemma3, gpt2)", file.path(), arch);
}

}  // namespace ts

namespace ts {

void Model::fail_positions(int64_t pos0, int64_t n, int64_t n_ctx) {
  fail("forward: positions {}..{} exceed the context of {}", pos0, pos0 + n - 1, n_ctx);
}

}  // namespace ts
