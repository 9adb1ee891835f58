// GPT-2: learned position embeddings added to the token embeddings, pre-LayerNorm blocks with
// biases everywhere, one fused QKV projection, multi-head attention without RoPE, a GELU (tanh)
// MLP, a final LayerNorm and the output projection tied to the token embeddings.
#include "model/gpt2.h"

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

struct Gpt2Layer {
  std::vector<float> attn_norm, attn_norm_b;  // [n_embd]
  WeightMatrix wqkv;                          // [3 * n_embd, n_embd]: rows of Q, then K, then V
  std::vector<float> bqkv;                    // [3 * n_embd]
  WeightMatrix wo;                            // [n_embd, n_embd]
  std::vector<float> bo;                      // [n_embd]
  std::vector<float> ffn_norm, ffn_norm_b;    // [n_embd]
  WeightMatrix w_up;                          // [n_ff, n_embd]
  std::vector<float> b_up;                    // [n_ff]
  WeightMatrix w_down;                        // [n_embd, n_ff]
  std::vector<float> b_down;                  // [n_embd]
};

// rows x cols += bias broadcast over the rows
void add_bias(float* out, const std::vector<float>& bias, int64_t rows) {
  const auto cols = static_cast<int64_t>(bias.size());
  for (int64_t r = 0; r < rows; ++r) add_inplace(out + r * cols, bias.data(), cols);
}

class Gpt2 final : public Decoder {
 public:
  Gpt2(const gguf::GgufFile& f, ThreadPool& pool, const ModelOptions& opt)
      : Decoder(ModelConfig::from_gguf(f), pool, opt.max_batch) {
    const ModelConfig& c = cfg_;
    const int64_t E = c.n_embd;
    if (c.n_head_kv != c.n_head || c.head_dim * c.n_head != E) {
      fail("{}: gpt2 needs n_head_kv = n_head and head size x heads = n_embd", f.path());
    }
    load_embeddings(f);
    position_embd_ = load_matrix(f, "position_embd.weight", c.n_ctx_train, E);
    for (int64_t i = 0; i < c.n_layer; ++i) {
      const std::string p = "blk." + std::to_string(i) + ".";
      Gpt2Layer l;
      l.attn_norm = load_vector(f, p + "attn_norm.weight", E);
      l.attn_norm_b = load_vector(f, p + "attn_norm.bias", E);
      l.wqkv = load_matrix(f, p + "attn_qkv.weight", 3 * E, E);
      l.bqkv = load_vector(f, p + "attn_qkv.bias", 3 * E);
      l.wo = load_matrix(f, p + "attn_output.weight", E, E);
      l.bo = load_vector(f, p + "attn_output.bias", E);
      l.ffn_norm = load_vector(f, p + "ffn_norm.weight", E);
      l.ffn_norm_b = load_vector(f, p + "ffn_norm.bias", E);
      l.w_up = load_matrix(f, p + "ffn_up.weight", c.n_ff, E);
      l.b_up = load_vector(f, p + "ffn_up.bias", c.n_ff);
      l.w_down = load_matrix(f, p + "ffn_down.weight", E, c.n_ff);
      l.b_down = load_vector(f, p + "ffn_down.bias", E);
      layers_.push_back(std::move(l));
    }
    std::vector<WeightMatrix*> matrices;
    for (Gpt2Layer& l : layers_) matrices.insert(matrices.end(), {&l.wqkv, &l.wo, &l.w_up, &l.w_down});
    // As for Llama: no post-norms to magnify a changed rounding order.
    pack_and_allocate(std::move(matrices), BlockOrder::kFastest);
    qkv_.assign(static_cast<size_t>(max_batch_ * 3 * E), 0.0f);
  }

  void forward_batch(std::span<const SeqChunk> chunks, KvStore& kv, float* logits) override {
    const ModelConfig& c = cfg_;
    const int64_t E = c.n_embd;
    const int64_t n = lay_out_batch(chunks, kv);
    perf::Zone forward_zone("forward");
    for (int64_t t = 0; t < n; ++t) {
      if (pos_[static_cast<size_t>(t)] >= c.n_ctx_train) {
        fail("forward: position {} is beyond GPT-2's {} learned positions", pos_[static_cast<size_t>(t)], c.n_ctx_train);
      }
    }

    // x = W_token[token] + W_pos[position]
    embed(token_embd_, n, 1.0f);
    {
      perf::Zone zone("embedding");
      std::vector<float>& row = pos_row_;
      for (int64_t t = 0; t < n; ++t) {
        dequantize_matrix_row(position_embd_, pos_[static_cast<size_t>(t)], row.data());
        add_inplace(x_.data() + t * E, row.data(), E);
      }
    }
    tap("inp_embd", -1, x_.data(), n, E);

    for (int64_t il = 0; il < c.n_layer; ++il) {
      const Gpt2Layer& L = layers_[static_cast<size_t>(il)];
      perf::Zone layer_zone("layer", il);
      attention_block(L, chunks, kv, il, n);
      if (il == c.n_layer - 1) narrow_row_context_to_outputs(chunks);
      ffn_block(L, il, n);
    }

    // logits = W_out · LayerNorm(x)
    output_logits(chunks, logits);
  }

 private:
  // x = x + Wo · attention(Q, K, V) + bo, [Q K V] = Wqkv · LayerNorm(x) + bqkv
  void attention_block(const Gpt2Layer& L, std::span<const SeqChunk> chunks, KvStore& kv, int64_t il, int64_t n) {
    const ModelConfig& c = cfg_;
    const int64_t E = c.n_embd;
    perf::Zone block_zone("attn", il);
    layer_norm_rows("attn_norm", il, L.attn_norm, L.attn_norm_b, x_.data(), n);
    tap("attn_norm", il, h_.data(), n, E);
    linear("attn_qkv", il, L.wqkv, h_.data(), n, qkv_.data());
    {
      perf::Zone zone("bias", il);
      add_bias(qkv_.data(), L.bqkv, n);
      for (int64_t t = 0; t < n; ++t) {  // [n, 3E] -> q_, k_, v_ [n, E] each
        const float* row = qkv_.data() + t * 3 * E;
        std::copy(row, row + E, q_.data() + t * E);
        std::copy(row + E, row + 2 * E, k_.data() + t * E);
        std::copy(row + 2 * E, row + 3 * E, v_.data() + t * E);
      }
    }
    tap("Qcur", il, q_.data(), n, E);
    tap("Kcur", il, k_.data(), n, E);
    tap("Vcur", il, v_.data(), n, E);
    kv_update(chunks, kv, il, n);
    attention(chunks, kv, il, 1.0f / std::sqrt(static_cast<float>(c.head_dim)), 0);
    tap("kqv_out", il, attn_.data(), n, E);
    linear("attn_out", il, L.wo, attn_.data(), n, h_.data());
    add_bias(h_.data(), L.bo, n);
    tap("attn_out", il, h_.data(), n, E);
    residual(il, n);
    tap("ffn_inp", il, x_.data(), n, E);
  }

  // x = x + W_down · gelu(W_up · LayerNorm(x) + b_up) + b_down
  void ffn_block(const Gpt2Layer& L, int64_t il, int64_t n) {
    const ModelConfig& c = cfg_;
    const int64_t E = c.n_embd;
    perf::Zone block_zone("ffn", il);
    layer_norm_rows("ffn_norm", il, L.ffn_norm, L.ffn_norm_b, x_.data(), n);
    tap("ffn_norm", il, h_.data(), n, E);
    linear("ffn_up", il, L.w_up, h_.data(), n, up_.data());
    add_bias(up_.data(), L.b_up, n);
    tap("ffn_up", il, up_.data(), n, c.n_ff);
    {
      perf::Zone zone("gelu", il);
      const int64_t F = c.n_ff;
      for_token_rows(n, [&](int64_t t0, int64_t t1) { gelu(up_.data() + t0 * F, (t1 - t0) * F); });
    }
    tap("ffn_gelu", il, up_.data(), n, c.n_ff);
    linear("ffn_down", il, L.w_down, up_.data(), n, h_.data());
    add_bias(h_.data(), L.b_down, n);
    tap("ffn_out", il, h_.data(), n, E);
    residual(il, n);
    tap("l_out", il, x_.data(), n, E);
  }

  std::vector<Gpt2Layer> layers_;
  WeightMatrix position_embd_;  // [n_ctx_train, n_embd]
  std::vector<float> qkv_;      // [max_batch, 3 * n_embd]
  std::vector<float> pos_row_ = std::vector<float>(static_cast<size_t>(cfg_.n_embd));  // [n_embd]
};

}  // namespace

std::unique_ptr<Model> make_gpt2(const gguf::GgufFile& file, ThreadPool& pool, const ModelOptions& options) {
  return std::make_unique<Gpt2>(file, pool, options);
}

}  // namespace ts
