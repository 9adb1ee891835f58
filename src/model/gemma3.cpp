// Gemma 3 text models (270M, 1B, ...) from GGUF: embeddings scaled by sqrt(n_embd), RMSNorm
// before and after attention and the MLP, RMSNorm of each query and key head, GeGLU with tanh
// GELU, sliding-window local layers interleaved with global ones (one global layer in every
// `sliding_window_pattern`), RoPE base 10000 on local layers and rope.freq_base on global ones,
// tied embeddings. (GGUF files store the norm weights with Gemma's "+1" already added, so every
// norm here is a plain RMSNorm.)
#include "model/gemma3.h"

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/perf.h"
#include "formats/gguf/gguf_reader.h"
#include "kernels/ops.h"
#include "model/decoder.h"
#include "model/weights.h"

namespace ts {

namespace {

struct Gemma3Layer {
  std::vector<float> attn_norm;       // [n_embd]
  WeightMatrix wq;                    // [q_dim, n_embd]
  WeightMatrix wk;                    // [kv_dim, n_embd]
  WeightMatrix wv;                    // [kv_dim, n_embd]
  std::vector<float> q_norm;          // [head_dim]
  std::vector<float> k_norm;          // [head_dim]
  WeightMatrix wo;                    // [n_embd, q_dim]
  std::vector<float> post_attn_norm;  // [n_embd]
  std::vector<float> ffn_norm;        // [n_embd]
  WeightMatrix w_gate;                // [n_ff, n_embd]
  WeightMatrix w_up;                  // [n_ff, n_embd]
  WeightMatrix w_down;                // [n_embd, n_ff]
  std::vector<float> post_ffn_norm;   // [n_embd]
};

// Local layers' RoPE base; the file's rope.freq_base applies to the global layers.
constexpr float kLocalRopeBase = 10000.0f;

class Gemma3 final : public Decoder {
 public:
  Gemma3(const gguf::GgufFile& f, ThreadPool& pool, const ModelOptions& opt)
      : Decoder(ModelConfig::from_gguf(f), pool, opt.max_batch) {
    cfg_.rope_neox = true;
    const ModelConfig& c = cfg_;
    if (c.sliding_window <= 0) fail("{}: gemma3 needs attention.sliding_window", f.path());
    window_pattern_ = f.get_int("gemma3.attention.sliding_window_pattern", 6);
    if (window_pattern_ < 1) fail("{}: sliding_window_pattern {} must be positive", f.path(), window_pattern_);
    load_embeddings(f);
    for (int64_t i = 0; i < c.n_layer; ++i) {
      const std::string p = "blk." + std::to_string(i) + ".";
      Gemma3Layer l;
      l.attn_norm = load_vector(f, p + "attn_norm.weight", c.n_embd);
      l.wq = load_matrix(f, p + "attn_q.weight", c.q_dim(), c.n_embd);
      l.wk = load_matrix(f, p + "attn_k.weight", c.kv_dim(), c.n_embd);
      l.wv = load_matrix(f, p + "attn_v.weight", c.kv_dim(), c.n_embd);
      l.q_norm = load_vector(f, p + "attn_q_norm.weight", c.head_dim);
      l.k_norm = load_vector(f, p + "attn_k_norm.weight", c.head_dim);
      l.wo = load_matrix(f, p + "attn_output.weight", c.n_embd, c.q_dim());
      l.post_attn_norm = load_vector(f, p + "post_attention_norm.weight", c.n_embd);
      l.ffn_norm = load_vector(f, p + "ffn_norm.weight", c.n_embd);
      l.w_gate = load_matrix(f, p + "ffn_gate.weight", c.n_ff, c.n_embd);
      l.w_up = load_matrix(f, p + "ffn_up.weight", c.n_ff, c.n_embd);
      l.w_down = load_matrix(f, p + "ffn_down.weight", c.n_embd, c.n_ff);
      l.post_ffn_norm = load_vector(f, p + "post_ffw_norm.weight", c.n_embd);
      layers_.push_back(std::move(l));
    }
    std::vector<WeightMatrix*> matrices;
    for (Gemma3Layer& l : layers_) matrices.insert(matrices.end(), {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down});
    // llama.cpp's block order by default: Gemma 3's large post-norm weights turn any change of
    // rounding into visible differences (Q8_0 in the exact integer order alone moves its
    // distributions by mean KL 0.02 from llama.cpp's, as much as llama.cpp's own flash-attention
    // switch), and in its common files Q8_0 holds only a few V projections and the output table,
    // so the faster order would buy it little.
    pack_and_allocate(std::move(matrices), BlockOrder::kLlamaCpp);
  }

  void forward_batch(std::span<const SeqChunk> chunks, KvStore& kv, float* logits) override {
    const ModelConfig& c = cfg_;
    const int64_t n = lay_out_batch(chunks, kv);
    perf::Zone forward_zone("forward");

    // x = embedding(tokens) * sqrt(n_embd)
    embed(token_embd_, n, std::sqrt(static_cast<float>(c.n_embd)));
    tap("inp_scaled", -1, x_.data(), n, c.n_embd);

    for (int64_t il = 0; il < c.n_layer; ++il) {
      const Gemma3Layer& L = layers_[static_cast<size_t>(il)];
      perf::Zone layer_zone("layer", il);
      attention_block(L, chunks, kv, il, n);
      if (il == c.n_layer - 1) narrow_row_context_to_outputs(chunks);
      ffn_block(L, il, n);
    }

    // logits = E · RMSNorm(x) (tied embeddings unless the file has output.weight)
    output_logits(chunks, logits);
  }

 private:
  bool is_local(int64_t il) const { return (il + 1) % window_pattern_ != 0; }

  // x = x + RMSNorm(Wo · attention(rope(norm(Wq·h)) / sqrt(d), rope(norm(Wk·h)), Wv·h)), h = RMSNorm(x)
  void attention_block(const Gemma3Layer& L, std::span<const SeqChunk> chunks, KvStore& kv, int64_t il, int64_t n) {
    const ModelConfig& c = cfg_;
    perf::Zone block_zone("attn", il);
    norm_rows("attn_norm", il, L.attn_norm, x_.data(), n);
    tap("attn_norm", il, h_.data(), n, c.n_embd);
    {
      perf::Zone zone = linear_zone("attn_qkv", il, n, {&L.wq, &L.wk, &L.wv});
      const Scratch scratch = act_scratch(n);
      matmul_fused({{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}}, h_.data(), n, pool_, scratch.data,
                   scratch.bytes, row_ctx_.data());
    }
    {
      perf::Zone zone("qk_norm", il);
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t h = 0; h < c.n_head; ++h) {
          float* q = q_.data() + t * c.q_dim() + h * c.head_dim;
          rms_norm(q, L.q_norm.data(), q, c.head_dim, c.norm_eps);
        }
        for (int64_t h = 0; h < c.n_head_kv; ++h) {
          float* k = k_.data() + t * c.kv_dim() + h * c.head_dim;
          rms_norm(k, L.k_norm.data(), k, c.head_dim, c.norm_eps);
        }
      }
    }
    tap("Kcur_normed", il, k_.data(), n, c.kv_dim());
    const bool local = is_local(il);
    apply_rope(n, il, local ? kLocalRopeBase : c.rope_freq_base, local ? 1.0f : c.rope_freq_scale);
    // Gemma scales the queries (before they meet the f16 keys) rather than the scores.
    const float q_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    for (int64_t i = 0; i < n * c.q_dim(); ++i) q_[static_cast<size_t>(i)] *= q_scale;
    tap("Qcur", il, q_.data(), n, c.q_dim());
    tap("Kcur", il, k_.data(), n, c.kv_dim());
    tap("Vcur", il, v_.data(), n, c.kv_dim());
    kv_update(chunks, kv, il, n);
    attention(chunks, kv, il, 1.0f, local ? c.sliding_window : 0);
    tap("kqv_out", il, attn_.data(), n, c.q_dim());
    linear("attn_out", il, L.wo, attn_.data(), n, h_.data());
    tap("attn_wo", il, h_.data(), n, c.n_embd);
    norm_rows("attn_post_norm", il, L.post_attn_norm, h_.data(), n);
    tap("attn_post_norm", il, h_.data(), n, c.n_embd);
    residual(il, n);
    tap("sa_out", il, x_.data(), n, c.n_embd);
  }

  // x = x + RMSNorm(W_down · (gelu(W_gate·h) ⊙ W_up·h)), h = RMSNorm(x)
  void ffn_block(const Gemma3Layer& L, int64_t il, int64_t n) {
    const ModelConfig& c = cfg_;
    perf::Zone block_zone("ffn", il);
    norm_rows("ffn_norm", il, L.ffn_norm, x_.data(), n);
    tap("ffn_norm", il, h_.data(), n, c.n_embd);
    {
      perf::Zone zone = linear_zone("ffn_gate_up", il, n, {&L.w_gate, &L.w_up});
      const Scratch scratch = act_scratch(n);
      matmul_fused({{&L.w_gate, gate_.data()}, {&L.w_up, up_.data()}}, h_.data(), n, pool_, scratch.data,
                   scratch.bytes, row_ctx_.data());
    }
    tap("ffn_gate", il, gate_.data(), n, c.n_ff);
    tap("ffn_up", il, up_.data(), n, c.n_ff);
    gated_linear("geglu", "ffn_geglu", geglu, "ffn_down", il, L.w_down, n, h_.data());
    tap("ffn_out", il, h_.data(), n, c.n_embd);
    norm_rows("ffn_post_norm", il, L.post_ffn_norm, h_.data(), n);
    tap("ffn_post_norm", il, h_.data(), n, c.n_embd);
    residual(il, n);
    tap("l_out", il, x_.data(), n, c.n_embd);
  }

  int64_t window_pattern_ = 6;
  std::vector<Gemma3Layer> layers_;
};

}  // namespace

std::unique_ptr<Model> make_gemma3(const gguf::GgufFile& file, ThreadPool& pool, const ModelOptions& options) {
  return std::make_unique<Gemma3>(file, pool, options);
}

}  // namespace ts
