#include "model/llama.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <span>
#include <vector>

#include "base/error.h"
#include "base/perf.h"
#include "formats/gguf/gguf_reader.h"
#include "kernels/numerics.h"
#include "model/decoder.h"
#include "model/weights.h"

namespace ts {

namespace {

struct LlamaLayer {
  std::vector<float> attn_norm;  // [n_embd]
  WeightMatrix wq;               // [q_dim, n_embd]
  WeightMatrix wk;               // [kv_dim, n_embd]
  WeightMatrix wv;               // [kv_dim, n_embd]
  WeightMatrix wo;               // [n_embd, q_dim]
  std::vector<float> ffn_norm;   // [n_embd]
  WeightMatrix w_gate;           // [n_ff, n_embd]
  WeightMatrix w_up;             // [n_ff, n_embd]
  WeightMatrix w_down;           // [n_embd, n_ff]
};

class Llama final : public Decoder {
 public:
  Llama(const gguf::GgufFile& f, ThreadPool& pool, const ModelOptions& opt)
      : Decoder(ModelConfig::from_gguf(f), pool, opt.max_batch) {
    const ModelConfig& c = cfg_;
    load_embeddings(f);
    if (has_tensor(f, "rope_freqs.weight")) rope_freqs_ = load_vector(f, "rope_freqs.weight", c.n_rot / 2);
    for (int64_t i = 0; i < c.n_layer; ++i) {
      const std::string p = "blk." + std::to_string(i) + ".";
      LlamaLayer l;
      l.attn_norm = load_vector(f, p + "attn_norm.weight", c.n_embd);
      l.wq = load_matrix(f, p + "attn_q.weight", c.q_dim(), c.n_embd);
      l.wk = load_matrix(f, p + "attn_k.weight", c.kv_dim(), c.n_embd);
      l.wv = load_matrix(f, p + "attn_v.weight", c.kv_dim(), c.n_embd);
      l.wo = load_matrix(f, p + "attn_output.weight", c.n_embd, c.q_dim());
      l.ffn_norm = load_vector(f, p + "ffn_norm.weight", c.n_embd);
      l.w_gate = load_matrix(f, p + "ffn_gate.weight", c.n_ff, c.n_embd);
      l.w_up = load_matrix(f, p + "ffn_up.weight", c.n_ff, c.n_embd);
      l.w_down = load_matrix(f, p + "ffn_down.weight", c.n_embd, c.n_ff);
      layers_.push_back(std::move(l));
    }
    std::vector<WeightMatrix*> matrices;
    for (LlamaLayer& l : layers_) matrices.insert(matrices.end(), {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down});
    // Llama-family models take the fastest block order where a changed rounding order barely
    // moves their distributions (TinyLlama-shaped Q8_0 in the exact integer order against
    // llama.cpp: PPL +0.009%, mean KL 3.4e-6; SmolLM2's Q8_0 output table: PPL and KL equal to 4
    // digits). Not for Q4_1 layers: each product's last-bit differences move the next product's
    // int8 activations by whole quantization steps, and SmolLM2 in Q4_1's exact order left
    // llama.cpp's greedy tokens (1 of 8 prompts the same for 16 tokens, same top token 94.98%,
    // mean KL 0.0046), so it keeps llama.cpp's order unless asked (--block-order fastest: ~1.8x
    // the Q4_1 products' speed at M > 1 with AVX-512 VNNI).
    bool q4_1 = false;
    for (const WeightMatrix* w : matrices) q4_1 = q4_1 || w->type == DType::Q4_1;
    pack_and_allocate(std::move(matrices), q4_1 ? BlockOrder::kLlamaCpp : BlockOrder::kFastest);
    std::vector<SplitLayer> split;
    for (LlamaLayer& l : layers_) split.push_back({&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down});
    enable_split_decode(std::move(split), numeric_kernels().swiglu);
  }

  void forward_batch(std::span<const SeqChunk> chunks, KvStore& kv, float* logits) override {
    const int64_t n = lay_out_batch(chunks, kv);
    if (split_decode_applies(chunks, kv, n)) return forward_split_decode(chunks, kv, logits);
    const ModelConfig& c = cfg_;
    const int64_t E = c.n_embd;
    perf::Zone forward_zone("forward");

    // x = embedding(tokens)
    embed(token_embd_, n, 1.0f);
    tap("embd", -1, x_.data(), n, E);

    for (int64_t il = 0; il < c.n_layer; ++il) {
      const LlamaLayer& L = layers_[static_cast<size_t>(il)];
      perf::Zone layer_zone("layer", il);
      // The previous layer's FFN output (in h_) joins the residual stream inside this layer's first norm.
      attention_block(L, chunks, kv, il, n, il > 0 ? ResidualAdd{h_.data(), "l_out", il - 1} : ResidualAdd{});
      if (il == c.n_layer - 1) narrow_row_context_to_outputs(chunks);
      ffn_block(L, il, n);
    }
    residual(c.n_layer - 1, n);
    tap("l_out", c.n_layer - 1, x_.data(), n, E);

    // logits = W_out · RMSNorm(x), for each chunk's last token or all of them
    output_logits(chunks, logits);
  }

 private:
  // x = x + ffn_out (the previous layer's output, when given)
  // x = x + Wo · attention(rope(Wq·h), rope(Wk·h), Wv·h), h = RMSNorm(x)
  void attention_block(const LlamaLayer& L, std::span<const SeqChunk> chunks, KvStore& kv, int64_t il, int64_t n,
                       const ResidualAdd& ffn_out) {
    const ModelConfig& c = cfg_;
    const int64_t E = c.n_embd;
    perf::Zone block_zone("attn", il);
    add_norm_linear(ffn_out, "attn_norm", "attn_qkv", il, L.attn_norm, n, {{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}});
    apply_rope(n, il, c.rope_freq_base, c.rope_freq_scale);
    tap("Qcur", il, q_.data(), n, c.q_dim());
    tap("Kcur", il, k_.data(), n, c.kv_dim());
    tap("Vcur", il, v_.data(), n, c.kv_dim());
    kv_update(chunks, kv, il, n);
    attention(chunks, kv, il, 1.0f / std::sqrt(static_cast<float>(c.head_dim)), 0);
    tap("kqv_out", il, attn_.data(), n, c.q_dim());
    linear("attn_out", il, L.wo, attn_.data(), n, h_.data());
    tap("attn_out", il, h_.data(), n, E);
  }

  // x = x + attn_out (in h_)
  // x = x + W_down · (silu(W_gate·h) ⊙ W_up·h), h = RMSNorm(x)
  void ffn_block(const LlamaLayer& L, int64_t il, int64_t n) {
    const ModelConfig& c = cfg_;
    const int64_t E = c.n_embd;
    perf::Zone block_zone("ffn", il);
    add_norm_linear({h_.data(), "ffn_inp", il}, "ffn_norm", "ffn_gate_up", il, L.ffn_norm, n,
                    {{&L.w_gate, gate_.data()}, {&L.w_up, up_.data()}});
    tap("ffn_gate", il, gate_.data(), n, c.n_ff);
    tap("ffn_up", il, up_.data(), n, c.n_ff);
    gated_linear("swiglu", "ffn_swiglu", numeric_kernels().swiglu, "ffn_down", il, L.w_down, n, h_.data());
    tap("ffn_out", il, h_.data(), n, E);
  }

  std::vector<LlamaLayer> layers_;
};

}  // namespace

std::unique_ptr<Model> make_llama(const gguf::GgufFile& file, ThreadPool& pool, const ModelOptions& options) {
  return std::make_unique<Llama>(file, pool, options);
}

}  // namespace ts
