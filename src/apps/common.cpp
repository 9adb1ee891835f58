#include "apps/common.h"

#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/timer.h"
#include "model/hf_import.h"

namespace ts {

namespace {

// The GGUF file's own vocabulary, or a Hugging Face checkpoint's tokenizer.json.
Vocab load_vocab(const gguf::GgufFile& file, const std::string& path) {
  if (!is_hf_checkpoint(path)) return Vocab::from_gguf(file);
  fail("{}: reading tokenizer.json is not supported yet", path);
}

}  // namespace

LoadedModel load_everything(const std::string& path, int threads, int64_t max_batch) {
  LoadedModel m;
  const double t0 = now_ms();
  m.file = open_model_file(path);
  m.tokenizer = std::make_unique<Tokenizer>(load_vocab(*m.file, path));
  m.pool = std::make_unique<ThreadPool>(threads);
  m.model = load_model(*m.file, *m.pool, ModelOptions{max_batch});
  if (m.model->config().n_vocab != m.tokenizer->size()) {
    fail("{}: the model has {} output rows but the vocabulary has {} tokens", path, m.model->config().n_vocab,
         m.tokenizer->size());
  }
  m.load_ms = now_ms() - t0;
  return m;
}

void add_threads_flag(CLI::App* cmd, int& threads) {
  threads = ThreadPool::default_num_threads();
  cmd->add_option("-t,--threads", threads, "Worker threads (default: physical cores available to this process)")->check(CLI::Range(1, 512));
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read '{}'", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace ts
