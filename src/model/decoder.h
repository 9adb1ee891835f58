#pragma once
// What every decoder-only architecture here shares: the layout of a batch of sequence chunks,
// the activation buffers, the KV update, paged causal attention (optionally within a sliding
// window), RoPE, RMSNorm rows, residual adds, the output projection, and linear products with
// their perf zones. An architecture file (llama.cpp, gemma3.cpp) holds its weights and writes
// its block equations with these.
#include <cstdint>
#include <atomic>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include "base/perf.h"
#include "kernels/matmul.h"
#include "model/model.h"

namespace ts::gguf { class GgufFile; }

namespace ts {

class Decoder : public Model {
 public:
  const ModelConfig& config() const override { return cfg_; }
  int64_t max_batch() const override { return max_batch_; }
  void set_block_order(BlockOrder order) override;
  BlockOrder block_order() const override { return block_order_; }
  int split_decode_threads() const override { return split_parts_; }

 protected:
  static constexpr int64_t kMaxHeadDim = 512;

  Decoder(ModelConfig cfg, ThreadPool& pool, int64_t max_batch);

  // token_embd_, output_norm_ (and its bias if any) and output_ (token_embd_ when the file has no output.weight).
  void load_embeddings(const gguf::GgufFile& f);
  // Repacks `layer_matrices` and output_ into the interleaved layout the fast kernels read (the
  // embedding table stays as mapped: only single rows of it are looked up), then sizes the
  // activation buffers for max_batch tokens and the matmul scratch for all of them. Call once
  // every weight is loaded; `order` is the architecture's default BlockOrder.
  void pack_and_allocate(std::vector<WeightMatrix*> layer_matrices, BlockOrder order);

  // Checks the chunks against the buffers and the store, and lays out per-token positions and
  // chunk indices and the attention jobs. Returns the number of tokens.
  int64_t lay_out_batch(std::span<const SeqChunk> chunks, const KvStore& kv);

  // x = table[token] * scale for every token of the batch.
  void embed(const WeightMatrix& table, int64_t n, float scale);
  // h = RMSNorm(in) * weight, row by row ([n, n_embd]; in may be h_ itself).
  void norm_rows(const char* name, int64_t il, const std::vector<float>& weight, const float* in, int64_t n);
  // h = LayerNorm(in) * weight + bias, row by row ([n, n_embd]).
  void layer_norm_rows(const char* name, int64_t il, const std::vector<float>& weight, const std::vector<float>& bias,
                       const float* in, int64_t n);
  // x += add (h_ when null)
  void residual(int64_t il, int64_t n, const float* add = nullptr);
  // A residual add folded into the norm after it: x += add ([n, n_embd]; may be h_ itself),
  // tapped as `name` of `layer`. add == nullptr: none.
  struct ResidualAdd {
    const float* add = nullptr;
    const char* name = nullptr;
    int64_t layer = -1;
  };
  // x += r.add, h = RMSNorm(x) * weight, then y_i = h · W_iᵀ for each target, row by row. The
  // add shares the norm's pass; where the targets take quantized activations (packed types) the
  // quantization does too, and h never goes through memory as floats. With a tap set, the
  // separate ops, each result tapped. Every way gives the separate ops' bits.
  void add_norm_linear(const ResidualAdd& r, const char* norm_name, const char* linear_name, int64_t il,
                       const std::vector<float>& weight, int64_t n, std::initializer_list<MatmulTarget> targets);
  // Rotates each token's query and key heads for its position (q_, k_).
  void apply_rope(int64_t n, int64_t il, float freq_base, float freq_scale);
  // The cos/sin table of the batch's n positions for one RoPE base ([n, n_rot / 2, 2]), made on
  // first use in a forward pass.
  const float* rope_cos_sin(int64_t n, float freq_base, float freq_scale);
  // Stores each token's k_ and v_ rows (rounded to f16, or quantized to Q8_0) at its position in its blocks.
  void kv_update(std::span<const SeqChunk> chunks, KvStore& kv, int64_t il, int64_t n);
  // kv_update of token row t's KV heads [h_begin, h_end) only.
  void store_kv_heads(std::span<const SeqChunk> chunks, KvStore& kv, int64_t il, int64_t t, int64_t h_begin, int64_t h_end);
  // attn_ = softmax(q · K^T * kq_scale) · V per head over each token's visible positions: all
  // earlier ones, or with window > 0 the last `window` (its own included).
  void attention(std::span<const SeqChunk> chunks, const KvStore& kv, int64_t il, float kq_scale, int64_t window);
  // From the last layer's feed-forward block on, llama.cpp computes only the rows that give
  // logits: a chunk that wants its last token's logits has that row computed alone there.
  // Call between the last layer's attention and feed-forward blocks.
  void narrow_row_context_to_outputs(std::span<const SeqChunk> chunks);
  // logits = output_ · RMSNorm(x) * output_norm_ (LayerNorm with output_norm_b_ when the file
  // has output_norm.bias) for the rows each chunk's LogitRows asks for.
  void output_logits(std::span<const SeqChunk> chunks, float* logits);

  // f(t0, t1) over the token rows [0, n): split across the pool for prompt-sized batches (a
  // decode step's few rows are not worth the hand-off). Rows are independent, so the results
  // do not depend on the split.
  template <typename F>
  void for_token_rows(int64_t n, F&& f) {
    if (n < kParallelRows || pool_.num_threads() == 1) return f(int64_t{0}, n);
    pool_.parallel_for(static_cast<size_t>(n),
                       [&](size_t t0, size_t t1, int) { f(static_cast<int64_t>(t0), static_cast<int64_t>(t1)); });
  }
  static constexpr int64_t kParallelRows = 16;

  void linear(const char* name, int64_t il, const WeightMatrix& w, const float* in, int64_t rows, float* out);
  // gate_ = gating(gate_, up_) (SwiGLU, GeGLU: elementwise), tapped as tap_name, then out =
  // gate_ · W_downᵀ. For one token on packed weights, each thread gates and quantizes its half
  // of the row in one pass before the product, instead of the calling thread all of it while
  // the other waits (Zen 5, TinyLlama shapes: 3.3 -> 2.0 µs per layer from the end of gate/up
  // to the start of down with the host's memory at ~45 GB/s; no change at ~80 GB/s, where a
  // layout giving each thread the gate and up rows it wrote itself did not help either). Same
  // bits either way: both steps are elementwise or per 32-wide block.
  using GatingFn = void (*)(float* gate, const float* up, int64_t n);
  void gated_linear(const char* gating_name, const char* tap_name, GatingFn gating, const char* linear_name, int64_t il,
                    const WeightMatrix& w_down, int64_t n, float* out);
  // ---- Decode steps split across the threads ----
  // One pre-norm gated layer (Llama's): RMSNorm, Q/K/V, attention, output projection, RMSNorm,
  // gate/up, gating, down.
  struct SplitLayer {
    const std::vector<float>* attn_norm;  // [n_embd]
    WeightMatrix *wq, *wk, *wv, *wo;
    const std::vector<float>* ffn_norm;   // [n_embd]
    WeightMatrix *gate, *up, *down;
  };
  // Lets decode steps of one token run forward_split_decode where the shapes divide among the
  // pool's threads (call after pack_and_allocate; the layers' matrices must stay put). While
  // the block order is BlockOrder::kFastest, wo and down then sum their columns in one run per
  // thread (WeightMatrix::k_parts) in every product, so a split step and a batched one give
  // the same bits.
  void enable_split_decode(std::vector<SplitLayer> layers, GatingFn gating);
  // Whether this batch (n tokens) is a decode step forward_split_decode can take.
  bool split_decode_applies(std::span<const SeqChunk> chunks, const KvStore& kv, int64_t n) const;
  // The whole forward pass of one token (after lay_out_batch) in one parallel region, the
  // threads joined by a barrier twice per layer instead of handing off a dozen times. Thread p
  // owns query heads and KV heads [p, p + 1) x n / T, the same slice of the FFN's columns, and
  // run p of wo's and down's sums: it computes its heads' Q/K/V rows, their RoPE, cache
  // update and attention, and wo's partial sum over its heads' columns, all without waiting;
  // after a barrier each thread adds up the partial sums (in thread order) into its own copy
  // of the residual stream and its norm; then its gate/up rows, their gating and down's partial
  // sum over them; a barrier. Then each thread computes its share of the logits rows. Each
  // product streams the owner's contiguous slice of the weights (wo and down in runs); a
  // thread that finishes early takes groups from the back of another's slice (with that
  // thread's activations where the sum is over its columns), so a thread slowed by its
  // neighbours on a shared host holds the other up by little. Between threads pass only the
  // partial sums (2 x n_embd floats per layer) and stolen work. Same bits as forward_batch.
  void forward_split_decode(std::span<const SeqChunk> chunks, KvStore& kv, float* logits);

  // A zone for one (possibly fused) linear product: [rows, K] x [K, sum of N].
  static perf::Zone linear_zone(const char* name, int64_t il, int64_t rows, std::initializer_list<const WeightMatrix*> ws,
                                bool on = true);
  static perf::Zone linear_zone(const char* name, int64_t il, int64_t rows, std::initializer_list<MatmulTarget> targets);

  ModelConfig cfg_;
  ThreadPool& pool_;
  int64_t max_batch_;
  std::vector<float> rope_freqs_;  // [n_rot / 2] optional per-frequency divisors
  WeightMatrix token_embd_;         // [n_vocab, n_embd]
  WeightMatrix output_;             // [n_vocab, n_embd] (token_embd_ when tied)
  std::vector<float> output_norm_;  // [n_embd]
  std::vector<float> output_norm_b_;  // [n_embd] or empty: the final norm is an RMSNorm
  PackedWeights packed_;            // owns the repacked matrices the layers point into
  std::vector<WeightMatrix*> matrices_;  // every matrix pack_and_allocate saw, output_ included
  BlockOrder block_order_ = BlockOrder::kLlamaCpp;

  // Activations, preallocated for max_batch_ tokens: no allocation per forward call.
  std::vector<float> x_;     // [max_batch, n_embd] residual stream
  std::vector<float> h_;     // [max_batch, max(n_embd, q_dim)] normed input / block output
  std::vector<float> q_;     // [max_batch, q_dim]
  std::vector<float> k_;     // [max_batch, kv_dim]
  std::vector<float> v_;     // [max_batch, kv_dim]
  std::vector<float> attn_;  // [max_batch, q_dim]
  std::vector<float> gate_;  // [max_batch, n_ff]
  std::vector<float> up_;    // [max_batch, n_ff]
  // Where one product's activations are quantized: the next of kRingSlots small buffers in turn
  // for decode-sized batches (up to kRingRows rows), else the one buffer sized for max_batch
  // rows. The calling thread writes the activations and every thread reads them; writing into
  // a line another core still holds waits for that copy to be invalidated, which between the
  // dies of a two-die placement is a round trip of ~350 ns. Taking turns over 16 buffers (four
  // layers' products: on TinyLlama ~100 MB of weights stream past before a buffer returns)
  // lets the other core's copies age out of its caches first. Zen 4 guest on two dies:
  // quantizing the 5632 inputs of the down projection took 18k cycles against 6.7k with the
  // turns, and a decode token 0.4-2.5% less time (median 1.25%, 15 repetitions, odd and even
  // tokens alternating); on one die 5.5k cycles either way and no change per token.
  struct Scratch {
    uint8_t* data;
    size_t bytes;
  };
  Scratch act_scratch(int64_t rows);
  static constexpr int kRingSlots = 16;
  static constexpr int64_t kRingRows = 4;
  static constexpr size_t kRingAlign = 64;  // slots start on cache lines
  std::vector<uint8_t> scratch_;  // [matmul_scratch_bytes at max_batch rows]
  std::vector<uint8_t> ring_;     // [kRingSlots, ring_slot_bytes_] after 64-byte alignment
  size_t ring_slot_bytes_ = 0;
  int ring_next_ = 0;

  // forward_split_decode's state: threads (parts) when it is enabled, else 1.
  int split_parts_ = 1;
  bool split_ready_ = false;  // the shapes divide: split_parts_ follows the block order
  std::vector<SplitLayer> split_layers_;
  GatingFn split_gating_ = nullptr;
  std::unique_ptr<ArrivalBarrier> split_barrier_;
  size_t split_row_floats_ = 0;   // a thread's n_embd floats, padded to whole cache lines
  std::vector<float> split_rows_;  // [4, threads, split_row_floats_] + alignment: x, sum, wo and down partials
  size_t split_act_bytes_ = 0;     // a thread's quantized activations, padded to whole cache lines
  std::vector<uint8_t> split_act_;  // [threads, split_act_bytes_] + alignment
  // A thread's share of one product's items (split_items): [front, back) and a tag naming the
  // product in one word; `done` counts the finished items, whoever ran them.
  struct alignas(64) SplitShare {
    std::atomic<uint64_t> word{0};
    std::atomic<int64_t> done{0};
  };
  std::unique_ptr<SplitShare[]> split_shares_;  // [threads]
  uint64_t split_calls_ = 0;
  // Runs fn(begin, end, owner) over every thread's n items of one product (tagged `tag`),
  // balancing by stealing; with wait_own, returns once this thread's items are all done.
  template <typename F>
  void split_items(uint64_t tag, int part, int64_t n, bool wait_own, F&& fn);
  float* split_row(int which, int part);
  BlockQ8S* split_act(int part);
  void split_decode_part(std::span<const SeqChunk> chunks, KvStore& kv, float* logits, const float* cos_sin, int part);
  void apply_k_parts();

  // Per-token layout of the current batch.
  std::vector<int32_t> token_;     // [max_batch]
  std::vector<int64_t> pos_;       // [max_batch]
  std::vector<int32_t> chunk_of_;  // [max_batch]
  // RowContext (kernels/dtype_table.h) of each token's row, and of each logit row: where
  // llama.cpp would have batched it, so products sum in its order (see llama_cpp_row_context).
  std::vector<uint8_t> row_ctx_;   // [max_batch]
  std::vector<uint8_t> out_ctx_;   // [max_batch]

 private:
  static constexpr int64_t kQueryBlock = 8;  // query rows per attention job

  void grow_scores(int64_t n_ctx);
  struct QueryBlock;
  struct AttnJob;
  template <typename F>
  void for_each_attention_job(std::span<const SeqChunk> chunks, F&& f);
  // One f16 attention job (attention() over an f16 store, exact softmax).
  void attend_f16(const AttnJob& job, const QueryBlock& qb, const SeqChunk& ch, float* scores, const KvStore& kv,
                  int64_t il, float kq_scale, int64_t window);
  // attention() over a Q8_0 KV store.
  void attention_q8_0(std::span<const SeqChunk> chunks, const KvStore& kv, int64_t il, float kq_scale, int64_t window);
  // attention() with an online softmax (AttentionMode::kOnline, and any f32 KV store).
  void attention_online(std::span<const SeqChunk> chunks, const KvStore& kv, int64_t il, float kq_scale, int64_t window);

  // cos/sin tables of the current batch's positions, made on first use in a forward pass and
  // shared by its layers; two, for models whose layers alternate two RoPE bases (Gemma 3).
  struct RopeTable {
    float freq_base = 0.0f, freq_scale = 0.0f;
    bool valid = false;
    std::vector<float> cs;  // [max_batch, n_rot / 2, 2]
  };
  RopeTable rope_tables_[2];
  int next_rope_table_ = 0;
  std::vector<float> scores_;   // [n_threads, kQueryBlock, ctx_capacity]
  // Attention jobs: blocks of one chunk's queries.
  struct QueryBlock {
    int32_t chunk;
    int64_t t0, t1;  // rows [t0, t1) of the batch
    bool prompt;     // prompt tokens (batched sum order) or generated ones (single-query order)
  };
  std::vector<QueryBlock> jobs_;  // at most max_batch
  // One attention job: a block's tokens for one head, or, for a block of one token (decoding),
  // up to kQueryBlock heads that share a KV head, so the keys and values of that KV head are
  // read once for all of them (grouped-query attention). Either way at most kQueryBlock rows,
  // all reading the same KV head; each row's sums are those of the row alone.
  struct AttnJob {
    int32_t block;    // index into jobs_
    int32_t head0;    // first query head
    int32_t n_heads;  // 1: rows are the block's tokens; more: rows are heads head0.. of its one token
    int64_t rows(const QueryBlock& qb) const { return n_heads > 1 ? n_heads : qb.t1 - qb.t0; }
    int64_t token(const QueryBlock& qb, int64_t r) const { return n_heads > 1 ? qb.t0 : qb.t0 + r; }
    int64_t head(int64_t r) const { return n_heads > 1 ? head0 + r : head0; }
  };
  std::vector<AttnJob> attn_jobs_;  // at most max_batch x n_head
  int64_t ctx_capacity_ = 0;
};

}  // namespace ts
