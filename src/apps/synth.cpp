#include "apps/synth.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/error.h"
#include "base/fp16.h"
#include "formats/gguf/gguf_reader.h"
#include "formats/gguf/gguf_writer.h"
#include "quant/quantize.h"

namespace ts {

SynthPreset synth_preset(const std::string& name) {
  if (name == "tinyllama-1.1b") return {name, 2048, 22, 32, 4, 5632, 2048, 10000.0f};
  if (name == "smollm2-135m") return {name, 576, 30, 9, 3, 1536, 8192, 100000.0f};
  if (name == "tiny") return {name, 128, 2, 4, 2, 256, 512, 10000.0f};
  fail("unknown preset '{}' (known: tinyllama-1.1b, smollm2-135m, tiny)", name);
}

namespace {

// Box-Muller over a fixed engine: the same seed gives the same file on every platform.
class Normal {
 public:
  explicit Normal(uint64_t seed) : rng_(seed) {}
  float next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = (static_cast<double>(rng_() >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = static_cast<float>(r * std::sin(2.0 * M_PI * u2));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(2.0 * M_PI * u2));
  }

 private:
  std::mt19937_64 rng_;
  float spare_ = 0.0f;
  bool has_spare_ = false;
};

std::vector<uint8_t> random_matrix(Normal& normal, int64_t rows, int64_t cols, DType type, float stddev) {
  std::vector<uint8_t> out(row_bytes(type, static_cast<uint64_t>(cols)) * static_cast<size_t>(rows));
  std::vector<float> row(static_cast<size_t>(cols));  // [cols]
  const size_t stride = row_bytes(type, static_cast<uint64_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    // The weights are defined as f16 values whatever the output type, so a Q8_0/Q4_0 file equals
    // what any GGUF quantizer makes of the f16 file with the same seed.
    for (auto& x : row) x = fp16_to_f32(f32_to_fp16(normal.next() * stddev));
    quantize_row(type, row.data(), out.data() + static_cast<size_t>(r) * stride, cols);
  }
  return out;
}

std::vector<uint8_t> ones(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n), 1.0f);
  std::vector<uint8_t> out(v.size() * sizeof(float));
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

}  // namespace

void write_synth_model(const SynthPreset& p, DType type, const std::string& vocab_path, uint64_t seed,
                       const std::string& out_path) {
  if (type != DType::F16 && type != DType::Q8_0 && type != DType::Q4_0 && type != DType::F32) {
    fail("synth: type {} is not offered (f32, f16, q8_0, q4_0)", dtype_name(type));
  }
  auto vocab = gguf::GgufFile::open(vocab_path);
  const auto n_vocab = static_cast<int64_t>(vocab->get_string_array("tokenizer.ggml.tokens").size());
  gguf::GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_string("general.name", "synth-" + p.name);
  w.add_u32("general.file_type", type == DType::F16 ? 1 : type == DType::Q8_0 ? 7 : type == DType::Q4_0 ? 2 : 0);
  w.add_u32("general.quantization_version", 2);
  w.add_u32("llama.context_length", static_cast<uint32_t>(p.n_ctx));
  w.add_u32("llama.embedding_length", static_cast<uint32_t>(p.n_embd));
  w.add_u32("llama.block_count", static_cast<uint32_t>(p.n_layer));
  w.add_u32("llama.feed_forward_length", static_cast<uint32_t>(p.n_ff));
  w.add_u32("llama.attention.head_count", static_cast<uint32_t>(p.n_head));
  w.add_u32("llama.attention.head_count_kv", static_cast<uint32_t>(p.n_head_kv));
  w.add_u32("llama.rope.dimension_count", static_cast<uint32_t>(p.n_embd / p.n_head));
  w.add_f32("llama.rope.freq_base", p.rope_base);
  w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.add_u32("llama.vocab_size", static_cast<uint32_t>(n_vocab));
  for (const auto& [key, value] : vocab->metadata()) {
    if (key.rfind("tokenizer.", 0) == 0) w.add_value(key, value);
  }

  Normal normal(seed);
  const float sd = 0.02f;
  const int64_t head_dim = p.n_embd / p.n_head;
  const int64_t kv_dim = p.n_head_kv * head_dim;
  w.add_tensor("token_embd.weight", {p.n_embd, n_vocab}, type, random_matrix(normal, n_vocab, p.n_embd, type, sd));
  for (int64_t i = 0; i < p.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    w.add_tensor(b + "attn_norm.weight", {p.n_embd}, DType::F32, ones(p.n_embd));
    w.add_tensor(b + "attn_q.weight", {p.n_embd, p.n_embd}, type, random_matrix(normal, p.n_embd, p.n_embd, type, sd));
    w.add_tensor(b + "attn_k.weight", {p.n_embd, kv_dim}, type, random_matrix(normal, kv_dim, p.n_embd, type, sd));
    w.add_tensor(b + "attn_v.weight", {p.n_embd, kv_dim}, type, random_matrix(normal, kv_dim, p.n_embd, type, sd));
    w.add_tensor(b + "attn_output.weight", {p.n_embd, p.n_embd}, type, random_matrix(normal, p.n_embd, p.n_embd, type, sd));
    w.add_tensor(b + "ffn_norm.weight", {p.n_embd}, DType::F32, ones(p.n_embd));
    w.add_tensor(b + "ffn_gate.weight", {p.n_embd, p.n_ff}, type, random_matrix(normal, p.n_ff, p.n_embd, type, sd));
    w.add_tensor(b + "ffn_up.weight", {p.n_embd, p.n_ff}, type, random_matrix(normal, p.n_ff, p.n_embd, type, sd));
    w.add_tensor(b + "ffn_down.weight", {p.n_ff, p.n_embd}, type, random_matrix(normal, p.n_embd, p.n_ff, type, sd));
  }
  w.add_tensor("output_norm.weight", {p.n_embd}, DType::F32, ones(p.n_embd));
  w.add_tensor("output.weight", {p.n_embd, n_vocab}, type, random_matrix(normal, n_vocab, p.n_embd, type, sd));
  w.write(out_path);
}

}  // namespace ts
