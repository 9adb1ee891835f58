#include "apps/common.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/timer.h"
#include "model/hf_import.h"

namespace ts {

namespace {

// A Hugging Face checkpoint's tokenizer.json (path: the checkpoint or the tokenizer.json itself).
Vocab hf_vocab(const std::string& path) {
  namespace fs = std::filesystem;
  if (fs::path(path).filename() == "tokenizer.json") return Vocab::from_tokenizer_json(path);
  const fs::path dir = fs::is_directory(path) ? fs::path(path) : fs::path(path).parent_path();
  if (!fs::exists(dir / "tokenizer.json")) fail("{}: no tokenizer.json beside the weights", path);
  return Vocab::from_tokenizer_json((dir / "tokenizer.json").string());
}

bool is_tokenizer_json(const std::string& path) {
  return std::filesystem::path(path).filename() == "tokenizer.json";
}

}  // namespace

Vocab load_vocab(const std::string& path) {
  if (is_tokenizer_json(path) || is_hf_checkpoint(path)) return hf_vocab(path);
  return Vocab::from_gguf(*gguf::GgufFile::open(path));
}

LoadedModel load_everything(const std::string& path, int threads, int64_t max_batch) {
  LoadedModel m;
  const double t0 = now_ms();
  m.file = open_model_file(path);
  m.tokenizer = std::make_unique<Tokenizer>(is_hf_checkpoint(path) ? hf_vocab(path) : Vocab::from_gguf(*m.file));
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

void add_kv_type_flag(CLI::App* cmd, KvType& type) {
  cmd->add_option_function<std::string>(
         "--kv-type", [&type](const std::string& s) { type = parse_kv_type(s); },
         "KV cache element type: f16 (default, as llama.cpp), q8_0 (47% smaller, small rounding error) or f32 (twice f16, no rounding)")
      ->check(CLI::IsMember({"f16", "q8_0", "f32"}));
}

void add_attention_flag(CLI::App* cmd, AttentionMode& mode) {
  cmd->add_option_function<std::string>(
         "--attention", [&mode](const std::string& s) { mode = s == "online" ? AttentionMode::kOnline : AttentionMode::kExact; },
         "exact (default: softmax over whole score rows, llama.cpp's arithmetic bit for bit) or online (one tiled "
         "pass with an online softmax, as flash attention; f32 throughout; always used with --kv-type f32)")
      ->check(CLI::IsMember({"exact", "online"}));
}

void add_block_order_flag(CLI::App* cmd, std::optional<BlockOrder>& order) {
  cmd->add_option_function<std::string>(
         "--block-order",
         [&order](const std::string& s) {
           order = s == block_order_name(BlockOrder::kLlamaCpp) ? BlockOrder::kLlamaCpp : BlockOrder::kFastest;
         },
         "how quantized products sum their blocks: llamacpp (llama.cpp's arithmetic bit for bit) or fastest (this "
         "CPU's fastest order; differs only for Q8_0 on AVX2 without AVX-512 VNNI, and for Q4_1 with AVX-512 VNNI, "
         "where prefill runs ~1.5x faster but greedy text can leave llama.cpp's). Default: llamacpp "
         "for Gemma 3 and for models with Q4_1 layers (SmolLM2), fastest for the others")
      ->check(CLI::IsMember({block_order_name(BlockOrder::kLlamaCpp), block_order_name(BlockOrder::kFastest)}));
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read '{}'", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace ts
