// `tokenize` (llama-tokenize conventions) and `inspect`.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "apps/common.h"
#include "base/error.h"
#include "model/config.h"
#include "model/hf_import.h"
#include "quant/quantize.h"

namespace ts {

namespace {

struct TokenizeFlags {
  std::string model, prompt, file;
  bool from_stdin = false, ids = false, no_bos = false, no_parse_special = false;
};

void tokenize_command(const TokenizeFlags& f) {
  Tokenizer tok(load_vocab(f.model));
  const int sources = (!f.prompt.empty() ? 1 : 0) + (!f.file.empty() ? 1 : 0) + (f.from_stdin ? 1 : 0);
  if (sources != 1) fail("give exactly one of -p TEXT, -f FILE or --stdin");
  std::string text = f.prompt;
  if (!f.file.empty()) text = read_text_file(f.file);
  if (f.from_stdin) text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  const auto ids = tok.encode(text, !f.no_bos, !f.no_parse_special);
  if (f.ids) {
    std::printf("[");
    for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? ", %d" : "%d", ids[i]);
    std::printf("]\n");
    return;
  }
  for (int32_t id : ids) std::printf("%6d -> '%s'\n", id, tok.token_to_piece(id, true).c_str());
}

void inspect_command(const std::string& path, bool json) {
  auto f = open_model_file(path);
  const bool imported = is_hf_checkpoint(path);
  nlohmann::json j;
  j["file"] = path;
  j["format"] = imported ? "safetensors" : "gguf";
  if (!imported) {
    j["gguf_version"] = f->version();
    j["file_bytes"] = f->file_size();
  }
  uint64_t weight_bytes = 0;
  std::map<std::string, uint64_t> by_type;
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : f->tensors()) {
    weight_bytes += t.n_bytes;
    by_type[std::string(dtype_name(t.type))] += t.n_bytes;
    std::vector<int64_t> dims(t.dims.begin(), t.dims.begin() + t.n_dims);
    tensors.push_back({{"name", t.name}, {"type", dtype_name(t.type)}, {"dims", dims}, {"bytes", t.n_bytes}});
  }
  j["tensors"] = tensors;
  j["bytes_by_type"] = by_type;
  j["weight_bytes"] = weight_bytes;
  if (f->find("general.architecture")) {
    const ModelConfig c = ModelConfig::from_gguf(*f);
    j["config"] = {{"arch", c.arch}, {"name", c.name}, {"n_vocab", c.n_vocab}, {"n_embd", c.n_embd},
                   {"n_layer", c.n_layer}, {"n_head", c.n_head}, {"n_head_kv", c.n_head_kv},
                   {"head_dim", c.head_dim}, {"n_ff", c.n_ff}, {"n_ctx_train", c.n_ctx_train},
                   {"rope_freq_base", c.rope_freq_base}, {"norm_eps", c.norm_eps}};
  }
  if (f->find("tokenizer.ggml.model")) {
    const Vocab v = Vocab::from_gguf(*f);
    j["vocab"] = {{"model", v.model_name}, {"pre", v.pre}, {"size", v.size()}, {"bos", v.bos}, {"eos", v.eos},
                  {"add_bos", v.add_bos}, {"has_chat_template", !v.chat_template.empty()}};
  }
  if (json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  if (imported) {
    std::printf("file        %s (Hugging Face checkpoint: %s)\n", path.c_str(), f->path().c_str());
  } else {
    std::printf("file        %s (GGUF v%u, %.1f MiB)\n", path.c_str(), f->version(), static_cast<double>(f->file_size()) / 1048576.0);
  }
  if (j.contains("config")) {
    const auto& c = j["config"];
    std::printf("arch        %s  \"%s\"\n", c["arch"].get<std::string>().c_str(), c["name"].get<std::string>().c_str());
    std::printf("dims        vocab %lld, embd %lld, layers %lld, heads %lld (kv %lld, head dim %lld), ffn %lld, ctx %lld\n",
                c["n_vocab"].get<long long>(), c["n_embd"].get<long long>(), c["n_layer"].get<long long>(),
                c["n_head"].get<long long>(), c["n_head_kv"].get<long long>(), c["head_dim"].get<long long>(),
                c["n_ff"].get<long long>(), c["n_ctx_train"].get<long long>());
    std::printf("rope        base %.0f; rms eps %g\n", c["rope_freq_base"].get<double>(), c["norm_eps"].get<double>());
  }
  if (j.contains("vocab")) {
    const auto& v = j["vocab"];
    std::printf("vocab       %s (pre '%s'), %lld tokens, bos %d, eos %d, add_bos %s, chat template %s\n",
                v["model"].get<std::string>().c_str(), v["pre"].get<std::string>().c_str(), v["size"].get<long long>(),
                v["bos"].get<int>(), v["eos"].get<int>(), v["add_bos"].get<bool>() ? "yes" : "no",
                v["has_chat_template"].get<bool>() ? "yes" : "no");
  }
  std::printf("weights     %zu tensors, %.1f MiB:", f->tensors().size(), static_cast<double>(weight_bytes) / 1048576.0);
  for (const auto& [type, bytes] : by_type) std::printf(" %s %.1f MiB", type.c_str(), static_cast<double>(bytes) / 1048576.0);
  std::printf("\n");
  for (const auto& t : f->tensors()) {
    std::string dims;
    for (int d = 0; d < t.n_dims; ++d) dims += (d ? " x " : "") + std::to_string(t.dims[static_cast<size_t>(d)]);
    std::printf("  %-32s %-6s [%s] %.2f MiB\n", t.name.c_str(), std::string(dtype_name(t.type)).c_str(), dims.c_str(),
                static_cast<double>(t.n_bytes) / 1048576.0);
  }
}

// Compares the tensors of two GGUF files: byte-identical data, or else the difference of the
// dequantized values. Exit status 1 when any tensor is missing or differs.
int diff_command(const std::string& path_a, const std::string& path_b) {
  auto a = open_model_file(path_a);
  auto b = open_model_file(path_b);
  int identical = 0, differ = 0, missing = 0;
  std::vector<float> ra, rb;
  for (const auto& ta : a->tensors()) {
    const gguf::TensorInfo* tb = b->find_tensor(ta.name);
    if (tb == nullptr || tb->dims != ta.dims) {
      std::printf("  %-32s %s\n", ta.name.c_str(), tb == nullptr ? "missing in second file" : "shape differs");
      ++missing;
      continue;
    }
    if (tb->type == ta.type && tb->n_bytes == ta.n_bytes && std::memcmp(ta.data, tb->data, ta.n_bytes) == 0) {
      ++identical;
      continue;
    }
    ++differ;
    const int64_t cols = ta.dims[0], rows = ta.rows();
    ra.resize(static_cast<size_t>(cols));
    rb.resize(static_cast<size_t>(cols));
    double max_abs = 0.0, err2 = 0.0, ref2 = 0.0;
    int64_t rows_differing = 0;
    for (int64_t r = 0; r < rows; ++r) {
      dequantize_row(ta.type, ta.data + static_cast<size_t>(r) * (ta.n_bytes / static_cast<uint64_t>(rows)), ra.data(), cols);
      dequantize_row(tb->type, tb->data + static_cast<size_t>(r) * (tb->n_bytes / static_cast<uint64_t>(rows)), rb.data(), cols);
      bool row_differs = false;
      for (int64_t i = 0; i < cols; ++i) {
        const double d = static_cast<double>(ra[i]) - static_cast<double>(rb[i]);
        row_differs |= d != 0.0;
        max_abs = std::max(max_abs, std::fabs(d));
        err2 += d * d;
        ref2 += static_cast<double>(ra[i]) * static_cast<double>(ra[i]);
      }
      rows_differing += row_differs ? 1 : 0;
    }
    std::printf("  %-32s %s vs %s: %lld of %lld rows differ, max |diff| %.3g, relative RMS %.3g\n", ta.name.c_str(),
                std::string(dtype_name(ta.type)).c_str(), std::string(dtype_name(tb->type)).c_str(),
                static_cast<long long>(rows_differing), static_cast<long long>(rows), max_abs,
                ref2 > 0.0 ? std::sqrt(err2 / ref2) : 0.0);
  }
  for (const auto& tb : b->tensors()) {
    if (a->find_tensor(tb.name) == nullptr) {
      std::printf("  %-32s missing in first file\n", tb.name.c_str());
      ++missing;
    }
  }
  std::printf("tensors: %d byte-identical, %d differ, %d missing or reshaped\n", identical, differ, missing);
  return differ + missing == 0 ? 0 : 1;
}

// Writes each tapped tensor as raw little-endian f32 plus a line in index.tsv
// (file, rows, cols), named like llama.cpp's graph tensors ("Qcur-3") for side-by-side diffs.
class DumpTap final : public TensorTap {
 public:
  explicit DumpTap(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    index_.open(dir_ / "index.tsv");
    if (!index_) fail("cannot write {}", (dir_ / "index.tsv").string());
  }
  void on_tensor(const char* name, int64_t layer, const float* data, int64_t rows, int64_t cols) override {
    const std::string file = layer < 0 ? std::string(name) : std::string(name) + "-" + std::to_string(layer);
    std::ofstream out(dir_ / (file + ".f32"), std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(rows * cols * 4));
    if (!out) fail("cannot write {}", (dir_ / (file + ".f32")).string());
    index_ << file << "\t" << rows << "\t" << cols << "\n";
  }

 private:
  std::filesystem::path dir_;
  std::ofstream index_;
};

void dump_activations(const std::string& path, const std::string& prompt, const std::vector<int32_t>& token_ids,
                      const std::string& dir, int threads) {
  LoadedModel lm = load_everything(path, threads, 512);
  if (prompt.empty() == token_ids.empty()) fail("--activations needs exactly one of --prompt or --token-ids");
  const auto ids = token_ids.empty() ? lm.tokenizer->encode(prompt, true, true) : token_ids;
  if (ids.empty() || static_cast<int64_t>(ids.size()) > lm.model->max_batch()) {
    fail("--activations needs a prompt of 1..{} tokens (got {})", lm.model->max_batch(), ids.size());
  }
  const ModelConfig& c = lm.model->config();
  KvCache kv(c, static_cast<int64_t>(ids.size()));
  std::vector<float> logits(static_cast<size_t>(c.n_vocab) * ids.size());  // [n_tokens, n_vocab]
  DumpTap tap(dir);
  lm.model->set_tap(&tap);
  lm.model->forward(ids.data(), static_cast<int64_t>(ids.size()), 0, kv, logits.data(), true);
  lm.model->set_tap(nullptr);
  std::fprintf(stderr, "activations of %zu prompt tokens written to %s\n", ids.size(), dir.c_str());
}

}  // namespace

void add_tool_commands(CLI::App& app) {
  auto f = std::make_shared<TokenizeFlags>();
  CLI::App* tok = app.add_subcommand("tokenize", "Tokenize text with a model's vocabulary");
  tok->add_option("-m,--model", f->model, "GGUF file, Hugging Face checkpoint directory or tokenizer.json")->required()->check(CLI::ExistingPath);
  tok->add_option("-p,--prompt", f->prompt, "Text to tokenize");
  tok->add_option("-f,--file", f->file, "Read the text from a file")->check(CLI::ExistingFile);
  tok->add_flag("--stdin", f->from_stdin, "Read the text from standard input");
  tok->add_flag("--ids", f->ids, "Print only the ids, as [1, 2, 3]");
  tok->add_flag("--no-bos", f->no_bos, "Do not add BOS even if the vocabulary asks for it");
  tok->add_flag("--no-parse-special", f->no_parse_special, "Treat special-token text as plain text");
  tok->callback([f] { tokenize_command(*f); });

  struct InspectFlags {
    std::string path, activations, prompt, diff;
    std::vector<int32_t> token_ids;
    bool json = false;
    int threads = 0;
  };
  auto i = std::make_shared<InspectFlags>();
  CLI::App* ins = app.add_subcommand("inspect", "Show a GGUF file's architecture, dimensions, tensors and vocabulary");
  ins->add_option("-m,--model", i->path, "GGUF file or Hugging Face checkpoint directory")->required()->check(CLI::ExistingPath);
  ins->add_flag("--json", i->json, "Machine-readable output");
  ins->add_option("--activations", i->activations,
                  "Run --prompt once and write every intermediate tensor (raw f32 + index.tsv) to this folder");
  ins->add_option("-p,--prompt", i->prompt, "Prompt for --activations");
  ins->add_option("--token-ids", i->token_ids, "Token ids for --activations instead of a prompt (e.g. 1,2,3)")
      ->delimiter(',');
  ins->add_option("--diff", i->diff,
                  "Compare every tensor with this second model (byte-identical, or dequantized difference)")
      ->check(CLI::ExistingPath);
  add_threads_flag(ins, i->threads);
  ins->callback([i] {
    if (!i->diff.empty()) {
      if (diff_command(i->path, i->diff) != 0) throw CLI::RuntimeError(1);
    } else if (i->activations.empty()) {
      if (!i->prompt.empty() || !i->token_ids.empty()) fail("--prompt and --token-ids are only used with --activations");
      inspect_command(i->path, i->json);
    } else {
      dump_activations(i->path, i->prompt, i->token_ids, i->activations, i->threads);
    }
  });
}

}  // namespace ts
