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
#include "kernels/ops.h"
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

constexpr int64_t kMaxHeadDim = 512;
constexpr int64_t kQueryBlock = 8;  // queries of one head per attention job
constexpr int64_t kKeyChunk = 64;   // keys per pass: 64 rows x head_dim floats stay in L1

class Llama final : public Model {
 public:
  Llama(const gguf::GgufFile& f, ThreadPool& pool, const ModelOptions& opt)
      : cfg_(ModelConfig::from_gguf(f)), pool_(pool), max_batch_(opt.max_batch) {
    const ModelConfig& c = cfg_;
    if (max_batch_ <= 0) fail("max batch {} must be positive", max_batch_);
    if (c.head_dim > kMaxHeadDim) fail("{}: head size {} exceeds the supported {}", f.path(), c.head_dim, kMaxHeadDim);
    token_embd_ = load_matrix(f, "token_embd.weight", c.n_vocab, c.n_embd);
    output_norm_ = load_vector(f, "output_norm.weight", c.n_embd);
    output_ = has_tensor(f, "output.weight") ? load_matrix(f, "output.weight", c.n_vocab, c.n_embd) : token_embd_;
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
    // Repack the matrices into the interleaved layout the fast kernels read (once, in parallel);
    // the embedding table stays as mapped, since only single rows of it are looked up.
    for (LlamaLayer& l : layers_) {
      for (WeightMatrix* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) *w = packed_.pack(*w, pool_);
    }
    output_ = packed_.pack(output_, pool_);
    allocate_buffers();
  }

  const ModelConfig& config() const override { return cfg_; }
  int64_t max_batch() const override { return max_batch_; }

  void forward_batch(std::span<const SeqChunk> chunks, KvStore& kv, float* logits) override {
    const ModelConfig& c = cfg_;
    const int64_t E = c.n_embd;
    const int64_t n = lay_out_batch(chunks, kv);
    perf::Zone forward_zone("forward");

    // x = embedding(tokens)
    {
      perf::Zone zone("embedding");
      for (int64_t t = 0; t < n; ++t) dequantize_matrix_row(token_embd_, token_[static_cast<size_t>(t)], x_.data() + t * E);
    }
    tap("embd", -1, x_.data(), n, E);

    for (int64_t il = 0; il < c.n_layer; ++il) {
      const LlamaLayer& L = layers_[static_cast<size_t>(il)];
      perf::Zone layer_zone("layer", il);
      attention_block(L, chunks, kv, il, n);
      ffn_block(L, il, n);
    }

    // logits = W_out · RMSNorm(x), for each chunk's last token or all of them
    int64_t rows = 0;
    {
      perf::Zone zone("norm");
      int64_t t0 = 0;
      for (const SeqChunk& ch : chunks) {
        const int64_t first = ch.logits == LogitRows::kAll ? t0 : ch.logits == LogitRows::kLast ? t0 + ch.n_tokens - 1 : t0 + ch.n_tokens;
        for (int64_t t = first; t < t0 + ch.n_tokens; ++t) {
          rms_norm(x_.data() + t * E, output_norm_.data(), h_.data() + rows++ * E, E, c.norm_eps);
        }
        t0 += ch.n_tokens;
      }
    }
    tap("result_norm", -1, h_.data(), rows, E);
    if (rows > 0) {
      {
        perf::Zone zone("lm_head");
        linear("output", -1, output_, h_.data(), rows, logits);
      }
      tap("result_output", -1, logits, rows, c.n_vocab);
    }
  }

 private:
  // x = x + Wo · attention(rope(Wq·h), rope(Wk·h), Wv·h), h = RMSNorm(x)
  void attention_block(const LlamaLayer& L, std::span<const SeqChunk> chunks, KvStore& kv, int64_t il, int64_t n) {
    const ModelConfig& c = cfg_;
    const int64_t E = c.n_embd;
    perf::Zone block_zone("attn", il);
    norm_rows("attn_norm", il, L.attn_norm, n);
    tap("attn_norm", il, h_.data(), n, E);
    {
      perf::Zone zone = linear_zone("attn_qkv", il, n, {&L.wq, &L.wk, &L.wv});
      matmul_fused({{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}}, h_.data(), n, pool_, scratch_.data(),
                   scratch_.size());
    }
    apply_rope(n, il);
    tap("Qcur", il, q_.data(), n, c.q_dim());
    tap("Kcur", il, k_.data(), n, c.kv_dim());
    tap("Vcur", il, v_.data(), n, c.kv_dim());
    {
      // The cache holds f16 values (rounded here; stored as float until the packed f16 cache lands).
      perf::Zone zone("kv_update", il);
      for (int64_t t = 0; t < n; ++t) {
        const SeqChunk& ch = chunks[static_cast<size_t>(chunk_of_[static_cast<size_t>(t)])];
        const int64_t pos = pos_[static_cast<size_t>(t)];
        const int32_t block = ch.block_table[pos / kv.block_size()];
        round_to_f16(k_.data() + t * c.kv_dim(), c.kv_dim(), kv.k_row(il, block, pos % kv.block_size()));
        round_to_f16(v_.data() + t * c.kv_dim(), c.kv_dim(), kv.v_row(il, block, pos % kv.block_size()));
      }
    }
    {
      perf::Zone zone("attention", il);
      attention(chunks, kv, il);
    }
    tap("kqv_out", il, attn_.data(), n, c.q_dim());
    linear("attn_out", il, L.wo, attn_.data(), n, h_.data());
    tap("attn_out", il, h_.data(), n, E);
    residual(il, n);
    tap("ffn_inp", il, x_.data(), n, E);
  }

  // x = x + W_down · (silu(W_gate·h) ⊙ W_up·h), h = RMSNorm(x)
  void ffn_block(const LlamaLayer& L, int64_t il, int64_t n) {
    const ModelConfig& c = cfg_;
    const int64_t E = c.n_embd;
    perf::Zone block_zone("ffn", il);
    norm_rows("ffn_norm", il, L.ffn_norm, n);
    tap("ffn_norm", il, h_.data(), n, E);
    {
      perf::Zone zone = linear_zone("ffn_gate_up", il, n, {&L.w_gate, &L.w_up});
      matmul_fused({{&L.w_gate, gate_.data()}, {&L.w_up, up_.data()}}, h_.data(), n, pool_, scratch_.data(),
                   scratch_.size());
    }
    tap("ffn_gate", il, gate_.data(), n, c.n_ff);
    tap("ffn_up", il, up_.data(), n, c.n_ff);
    {
      perf::Zone zone("swiglu", il);
      numeric_kernels().swiglu(gate_.data(), up_.data(), n * c.n_ff);
    }
    tap("ffn_swiglu", il, gate_.data(), n, c.n_ff);
    linear("ffn_down", il, L.w_down, gate_.data(), n, h_.data());
    tap("ffn_out", il, h_.data(), n, E);
    residual(il, n);
    tap("l_out", il, x_.data(), n, E);
  }

  // h = RMSNorm(x) row by row.
  void norm_rows(const char* name, int64_t il, const std::vector<float>& weight, int64_t n) {
    perf::Zone zone(name, il);
    const int64_t E = cfg_.n_embd;
    for (int64_t t = 0; t < n; ++t) rms_norm(x_.data() + t * E, weight.data(), h_.data() + t * E, E, cfg_.norm_eps);
  }

  // x += h
  void residual(int64_t il, int64_t n) {
    perf::Zone zone("residual", il);
    add_inplace(x_.data(), h_.data(), n * cfg_.n_embd);
  }

  // A zone for one (possibly fused) linear product: [rows, n_embd or K] x [K, sum of N].
  static perf::Zone linear_zone(const char* name, int64_t il, int64_t rows, std::initializer_list<const WeightMatrix*> ws) {
    if (!perf::active()) return perf::Zone(name, il);  // off: skip the shape and byte bookkeeping
    int64_t n_out = 0;
    double bytes = 0.0;
    for (const WeightMatrix* w : ws) {
      n_out += w->rows;
      bytes += static_cast<double>(row_bytes(w->type, static_cast<uint64_t>(w->cols))) * static_cast<double>(w->rows);
    }
    const WeightMatrix& first = **ws.begin();
    return perf::Zone(name, il, rows, first.cols, n_out, dtype_name(first.type).data(), bytes);
  }
  void allocate_buffers() {
    const ModelConfig& c = cfg_;
    const auto B = static_cast<size_t>(max_batch_);
    x_.assign(B * static_cast<size_t>(c.n_embd), 0.0f);
    h_.assign(B * static_cast<size_t>(std::max(c.n_embd, c.q_dim())), 0.0f);
    q_.assign(B * static_cast<size_t>(c.q_dim()), 0.0f);
    k_.assign(B * static_cast<size_t>(c.kv_dim()), 0.0f);
    v_.assign(B * static_cast<size_t>(c.kv_dim()), 0.0f);
    attn_.assign(B * static_cast<size_t>(c.q_dim()), 0.0f);
    gate_.assign(B * static_cast<size_t>(c.n_ff), 0.0f);
    up_.assign(B * static_cast<size_t>(c.n_ff), 0.0f);
    rope_cs_.assign(static_cast<size_t>(c.n_rot), 0.0f);
    token_.assign(B, 0);
    pos_.assign(B, 0);
    chunk_of_.assign(B, 0);
    jobs_.reserve(B);
    size_t scratch = 0;
    auto need = [&](const WeightMatrix& w) { scratch = std::max(scratch, matmul_scratch_bytes(w, max_batch_)); };
    need(output_);
    for (const auto& l : layers_) {
      for (const WeightMatrix* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) need(*w);
    }
    scratch_.assign(scratch, 0);
    grow_scores(std::min<int64_t>(c.n_ctx_train, 4096));
  }

  void grow_scores(int64_t n_ctx) {
    ctx_capacity_ = n_ctx;
    scores_.assign(static_cast<size_t>(pool_.num_threads() * kQueryBlock * n_ctx), 0.0f);
  }

  void linear(const char* name, int64_t il, const WeightMatrix& w, const float* in, int64_t rows, float* out) {
    perf::Zone zone = linear_zone(name, il, rows, {&w});
    matmul(w, in, rows, out, pool_, scratch_.data(), scratch_.size());
  }

  void apply_rope(int64_t n, int64_t il) {
    perf::Zone zone("rope", il);
    const ModelConfig& c = cfg_;
    const float* factors = rope_freqs_.empty() ? nullptr : rope_freqs_.data();
    for (int64_t t = 0; t < n; ++t) {
      rope_table(rope_cs_.data(), c.n_rot, pos_[static_cast<size_t>(t)], c.rope_freq_base, c.rope_freq_scale, factors);
      for (int64_t h = 0; h < c.n_head; ++h) {
        rope_apply(q_.data() + t * c.q_dim() + h * c.head_dim, rope_cs_.data(), c.n_rot, c.rope_neox);
      }
      for (int64_t h = 0; h < c.n_head_kv; ++h) {
        rope_apply(k_.data() + t * c.kv_dim() + h * c.head_dim, rope_cs_.data(), c.n_rot, c.rope_neox);
      }
    }
  }

  static void round_to_f16(const float* in, int64_t n, float* out) { numeric_kernels().round_f16(in, n, out); }

  // Checks the chunks against the buffers and the store, and lays out per-token positions and
  // chunk indices and the attention jobs. Returns the number of tokens.
  int64_t lay_out_batch(std::span<const SeqChunk> chunks, const KvStore& kv) {
    const ModelConfig& c = cfg_;
    if (chunks.empty()) fail("forward: no sequences in the batch");
    if (kv.n_layer() != c.n_layer || kv.kv_dim() != c.kv_dim()) {
      fail("forward: KV store of {} layers x {} values does not fit a model of {} x {}", kv.n_layer(), kv.kv_dim(), c.n_layer, c.kv_dim());
    }
    int64_t n = 0, max_ctx = 0, rows = 0;
    for (const SeqChunk& ch : chunks) {
      if (ch.n_tokens <= 0) fail("forward: a sequence with {} tokens", ch.n_tokens);
      n += ch.n_tokens;
      rows += ch.logits == LogitRows::kAll ? ch.n_tokens : ch.logits == LogitRows::kLast ? 1 : 0;
      if (n > max_batch_) fail("forward: {}+ tokens in the batch (must be 1..{})", n, max_batch_);
      const int64_t end = ch.pos0 + ch.n_tokens;
      if (ch.pos0 < 0 || ch.n_blocks <= 0 || end > ch.n_blocks * kv.block_size()) {
        fail("forward: positions {}..{} exceed the {} blocks of {} given", ch.pos0, end - 1, ch.n_blocks, kv.block_size());
      }
      for (int64_t b = 0; b * kv.block_size() < end; ++b) {
        if (ch.block_table[b] < 0 || ch.block_table[b] >= kv.num_blocks()) {
          fail("forward: block {} outside the store's 0..{}", ch.block_table[b], kv.num_blocks() - 1);
        }
      }
      max_ctx = std::max(max_ctx, end);
    }
    if (rows > max_batch_) fail("forward: {} logit rows exceed {}", rows, max_batch_);
    if (max_ctx > ctx_capacity_) grow_scores(max_ctx);
    jobs_.clear();
    int64_t t = 0;
    for (size_t s = 0; s < chunks.size(); ++s) {
      const SeqChunk& ch = chunks[s];
      for (int64_t i = 0; i < ch.n_tokens; ++i, ++t) {
        if (ch.tokens[i] < 0 || ch.tokens[i] >= c.n_vocab) fail("forward: token id {} outside vocabulary of {}", ch.tokens[i], c.n_vocab);
        token_[static_cast<size_t>(t)] = ch.tokens[i];
        pos_[static_cast<size_t>(t)] = ch.pos0 + i;
        chunk_of_[static_cast<size_t>(t)] = static_cast<int32_t>(s);
      }
      // Query blocks never straddle the prompt's end: the two sides sum in different orders.
      const int64_t split = std::clamp<int64_t>(ch.prompt_end - ch.pos0, 0, ch.n_tokens);
      for (int64_t q0 = 0; q0 < ch.n_tokens;) {
        const int64_t q1 = std::min({ch.n_tokens, q0 + kQueryBlock, q0 < split ? split : ch.n_tokens});
        jobs_.push_back({static_cast<int32_t>(s), t - ch.n_tokens + q0, t - ch.n_tokens + q1, q0 < split});
        q0 = q1;
      }
    }
    return n;
  }

  // Causal attention of each new token over its sequence's positions 0..its own, per head;
  // heads share KV heads in groups of n_head / n_head_kv, and keys and values are read through
  // the sequence's block table. Q meets the f16 keys in f16 and the probabilities meet the f16
  // values in f16, with llama.cpp's summation order for prompt or decoded tokens (see
  // SeqChunk::prompt_end and kernels/numerics.h).
  void attention(std::span<const SeqChunk> chunks, const KvStore& kv, int64_t il) {
    const ModelConfig& c = cfg_;
    const NumericKernels& ak = numeric_kernels();
    const int64_t group = c.n_head / c.n_head_kv;
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    // Jobs are blocks of consecutive queries of one head: each chunk of keys is then read once
    // per block (and reused from L1 by its queries) instead of once per query. Causal rows cost in
    // proportion to their position, so small jobs are handed out dynamically.
    const size_t jobs = jobs_.size() * static_cast<size_t>(c.n_head);
    const size_t chunk = std::max<size_t>(1, jobs / (static_cast<size_t>(pool_.num_threads()) * 16));
    pool_.parallel_for_dynamic(jobs, chunk, [&](size_t begin, size_t end, int thread) {
      // [kQueryBlock, ctx_capacity] scores of this thread's block
      float* scores = scores_.data() + static_cast<size_t>(thread) * static_cast<size_t>(kQueryBlock * ctx_capacity_);
      for (size_t job = begin; job < end; ++job) {
        const int64_t h = static_cast<int64_t>(job) % c.n_head;
        const QueryBlock& qb = jobs_[job / static_cast<size_t>(c.n_head)];
        const SeqChunk& ch = chunks[static_cast<size_t>(qb.chunk)];
        const int64_t t0 = qb.t0, t1 = qb.t1;
        const SumOrder qk_order = sum_order_for(qb.prompt ? 2 : 1, c.head_dim);
        const SumOrder pv_order = qb.prompt ? SumOrder::kBatch : SumOrder::kSingle;
        const PagedRows keys = kv.k_rows(il, ch.block_table, (h / group) * c.head_dim);
        const PagedRows values = kv.v_rows(il, ch.block_table, (h / group) * c.head_dim);
        float q[kQueryBlock][kMaxHeadDim];  // [queries, head_dim]
        int64_t n_keys[kQueryBlock] = {};
        for (int64_t t = t0; t < t1; ++t) {
          round_to_f16(q_.data() + t * c.q_dim() + h * c.head_dim, c.head_dim, q[t - t0]);
          n_keys[t - t0] = pos_[static_cast<size_t>(t)] + 1;
        }
        // Scores key run by key run (runs end at KV block boundaries); each key's dot product is
        // the same computation as when a query runs alone.
        const int64_t max_keys = n_keys[t1 - t0 - 1];
        for (int64_t p0 = 0; p0 < max_keys;) {
          const int64_t p1 = std::min({p0 + kKeyChunk, max_keys, p0 + keys.rows_left_in_block(p0)});
          const float* run = keys.row(p0);
          for (int64_t i = 0; i < t1 - t0; ++i) {
            if (p0 >= n_keys[i]) continue;
            ak.scores(q[i], run, keys.row_stride, std::min(p1, n_keys[i]) - p0, c.head_dim, qk_order, scale,
                      scores + i * ctx_capacity_ + p0);
          }
          p0 = p1;
        }
        for (int64_t i = 0; i < t1 - t0; ++i) {
          float* row = scores + i * ctx_capacity_;
          ak.softmax(row, n_keys[i]);
          round_to_f16(row, n_keys[i], row);
        }
        ak.weighted_sums(scores, ctx_capacity_, n_keys, t1 - t0, values, c.head_dim,
                         attn_.data() + t0 * c.q_dim() + h * c.head_dim, c.q_dim(), pv_order);
      }
    });
  }

  ModelConfig cfg_;
  ThreadPool& pool_;
  int64_t max_batch_;
  WeightMatrix token_embd_;        // [n_vocab, n_embd]
  WeightMatrix output_;            // [n_vocab, n_embd] (token_embd_ when tied)
  std::vector<float> output_norm_; // [n_embd]
  std::vector<float> rope_freqs_;  // [n_rot / 2] optional per-frequency divisors
  std::vector<LlamaLayer> layers_;
  PackedWeights packed_;           // owns the repacked matrices the layers point into

  // Activations, preallocated for max_batch_ tokens: no allocation per forward call.
  std::vector<float> x_;     // [max_batch, n_embd] residual stream
  std::vector<float> h_;     // [max_batch, max(n_embd, q_dim)] normed input / block output
  std::vector<float> q_;     // [max_batch, q_dim]
  std::vector<float> k_;     // [max_batch, kv_dim]
  std::vector<float> v_;     // [max_batch, kv_dim]
  std::vector<float> attn_;  // [max_batch, q_dim]
  std::vector<float> gate_;  // [max_batch, n_ff]
  std::vector<float> up_;    // [max_batch, n_ff]
  std::vector<float> rope_cs_;  // [n_rot / 2, 2] cos and sin for one position
  std::vector<float> scores_;  // [n_threads, kQueryBlock, ctx_capacity]
  // Per-token layout of the current batch, and its attention jobs (blocks of one chunk's queries).
  struct QueryBlock {
    int32_t chunk;
    int64_t t0, t1;  // rows [t0, t1) of the batch
    bool prompt;     // prompt tokens (batched sum order) or generated ones (single-query order)
  };
  std::vector<int32_t> token_;     // [max_batch]
  std::vector<int64_t> pos_;       // [max_batch]
  std::vector<int32_t> chunk_of_;  // [max_batch]
  std::vector<QueryBlock> jobs_;   // at most max_batch
  std::vector<uint8_t> scratch_;  // quantized activations for matmul
  int64_t ctx_capacity_ = 0;
};

}  // namespace

std::unique_ptr<Model> make_llama(const gguf::GgufFile& file, ThreadPool& pool, const ModelOptions& options) {
  return std::make_unique<Llama>(file, pool, options);
}

}  // namespace ts
