#pragma once
// What the subcommands share: loading a model with its tokenizer, flag validation.
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "base/thread_pool.h"
#include "formats/gguf/gguf_reader.h"
#include "kv/kv_store.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace ts {

struct LoadedModel {
  std::unique_ptr<gguf::GgufFile> file;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Model> model;
  double load_ms = 0.0;
};

// path: a GGUF file or a Hugging Face checkpoint (directory, config.json or weights file).
LoadedModel load_everything(const std::string& path, int threads, int64_t max_batch);

// The tokenizer vocabulary of a GGUF file, a Hugging Face checkpoint or a tokenizer.json.
Vocab load_vocab(const std::string& path);

// -t/--threads with validation and the default (physical cores available to this process).
void add_threads_flag(CLI::App* cmd, int& threads);
// --kv-type f16|q8_0|f32: how the KV cache stores keys and values (default f16).
void add_kv_type_flag(CLI::App* cmd, KvType& type);
// --attention exact|online (AttentionMode; an f32 KV cache always uses online).
void add_attention_flag(CLI::App* cmd, AttentionMode& mode);
// --block-order llamacpp|fastest (BlockOrder); unset keeps the architecture's default.
void add_block_order_flag(CLI::App* cmd, std::optional<BlockOrder>& order);
inline void apply_block_order(Model& model, const std::optional<BlockOrder>& order) {
  if (order) model.set_block_order(*order);
}

std::string read_text_file(const std::string& path);

void add_generate_commands(CLI::App& app);
void add_tool_commands(CLI::App& app);
void add_perplexity_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_bench_commands(CLI::App& app);
void add_chipsim_command(CLI::App& app);
void add_profile_command(CLI::App& app);
void add_sweep_command(CLI::App& app);
void add_serve_command(CLI::App& app);

}  // namespace ts
