#include "model/decoder.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/checked_math.h"
#include "base/error.h"
#include "base/mmap_file.h"
#include "formats/gguf/gguf_reader.h"
#include "kernels/dtype_table.h"
#include "kernels/numerics.h"
#include "kernels/ops.h"
#include "kernels/packed.h"
#include "model/weights.h"
#include "quant/quantize.h"

namespace ts {

namespace {

void round_to_f16(const float* in, int64_t n, float* out) { numeric_kernels().round_f16(in, n, out); }

}  // namespace

Decoder::Decoder(ModelConfig cfg, ThreadPool& pool, int64_t max_batch)
    : cfg_(std::move(cfg)), pool_(pool), max_batch_(max_batch) {
  if (max_batch_ <= 0) fail("max batch {} must be positive", max_batch_);
  if (cfg_.head_dim > kMaxHeadDim) fail("{}: head size {} exceeds the supported {}", cfg_.name, cfg_.head_dim, kMaxHeadDim);
}

void Decoder::load_embeddings(const gguf::GgufFile& f) {
  const ModelConfig& c = cfg_;
  token_embd_ = load_matrix(f, "token_embd.weight", c.n_vocab, c.n_embd);
  // Rows are read one token at a time from the file's mapping, never all of it in order.
  prefault_read(token_embd_.data, f.tensor("token_embd.weight").n_bytes);
  output_norm_ = load_vector(f, "output_norm.weight", c.n_embd);
  if (has_tensor(f, "output_norm.bias")) output_norm_b_ = load_vector(f, "output_norm.bias", c.n_embd);
  output_ = has_tensor(f, "output.weight") ? load_matrix(f, "output.weight", c.n_vocab, c.n_embd) : token_embd_;
}

void Decoder::set_block_order(BlockOrder order) {
  block_order_ = order;
  for (WeightMatrix* w : matrices_) w->order = order;
  apply_k_parts();
}

void Decoder::pack_and_allocate(std::vector<WeightMatrix*> layer_matrices, BlockOrder order) {
  const ModelConfig& c = cfg_;
  layer_matrices.push_back(&output_);
  packed_.pack_all(layer_matrices, pool_);
  matrices_ = layer_matrices;
  set_block_order(order);
  const auto B = static_cast<size_t>(max_batch_);
  x_.assign(B * static_cast<size_t>(c.n_embd), 0.0f);
  h_.assign(B * static_cast<size_t>(std::max(c.n_embd, c.q_dim())), 0.0f);
  q_.assign(B * static_cast<size_t>(c.q_dim()), 0.0f);
  k_.assign(B * static_cast<size_t>(c.kv_dim()), 0.0f);
  v_.assign(B * static_cast<size_t>(c.kv_dim()), 0.0f);
  attn_.assign(B * static_cast<size_t>(c.q_dim()), 0.0f);
  gate_.assign(B * static_cast<size_t>(c.n_ff), 0.0f);
  up_.assign(B * static_cast<size_t>(c.n_ff), 0.0f);
  for (RopeTable& r : rope_tables_) r.cs.assign(B * static_cast<size_t>(c.n_rot), 0.0f);
  token_.assign(B, 0);
  pos_.assign(B, 0);
  chunk_of_.assign(B, 0);
  row_ctx_.assign(B, kRowAlone);
  out_ctx_.assign(B, kRowAlone);
  jobs_.reserve(B);
  attn_jobs_.reserve(B * static_cast<size_t>(c.n_head));
  size_t scratch = 0, slot = 0;
  for (const WeightMatrix* w : layer_matrices) {
    scratch = std::max(scratch, matmul_scratch_bytes(*w, max_batch_));
    slot = std::max(slot, matmul_scratch_bytes(*w, std::min(max_batch_, kRingRows)));
  }
  scratch_.assign(scratch, 0);
  ring_slot_bytes_ = align_up(slot, kRingAlign);
  ring_.assign(kRingSlots * ring_slot_bytes_ + kRingAlign, 0);
  grow_scores(std::min<int64_t>(c.n_ctx_train, 4096));
}

Decoder::Scratch Decoder::act_scratch(int64_t rows) {
  if (rows > kRingRows) return {scratch_.data(), scratch_.size()};
  const auto base = reinterpret_cast<uintptr_t>(ring_.data());
  uint8_t* first = ring_.data() + (align_up(base, kRingAlign) - base);
  uint8_t* slot = first + static_cast<size_t>(ring_next_) * ring_slot_bytes_;
  ring_next_ = (ring_next_ + 1) % kRingSlots;
  return {slot, ring_slot_bytes_};
}

void Decoder::grow_scores(int64_t n_ctx) {
  ctx_capacity_ = n_ctx;
  scores_.assign(static_cast<size_t>(pool_.num_threads() * kQueryBlock * n_ctx), 0.0f);
}

int64_t Decoder::lay_out_batch(std::span<const SeqChunk> chunks, const KvStore& kv) {
  const ModelConfig& c = cfg_;
  if (chunks.empty()) fail("forward: no sequences in the batch");
  if (kv.n_layer() != c.n_layer || kv.kv_dim() != c.kv_dim()) {
    fail("forward: KV store of {} layers x {} values does not fit a model of {} x {}", kv.n_layer(), kv.kv_dim(), c.n_layer, c.kv_dim());
  }
  if (kv.type() == KvType::kQ8_0) kv_row_bytes(kv.type(), c.kv_dim(), c.head_dim);  // throws unless heads are whole blocks
  if (kv.n_heads() != c.n_head_kv) fail("forward: KV store laid out for {} heads, the model has {}", kv.n_heads(), c.n_head_kv);
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
  for (RopeTable& r : rope_tables_) r.valid = false;
  jobs_.clear();
  int64_t t = 0;
  for (size_t s = 0; s < chunks.size(); ++s) {
    const SeqChunk& ch = chunks[s];
    for (int64_t i = 0; i < ch.n_tokens; ++i, ++t) {
      if (ch.tokens[i] < 0 || ch.tokens[i] >= c.n_vocab) fail("forward: token id {} outside vocabulary of {}", ch.tokens[i], c.n_vocab);
      token_[static_cast<size_t>(t)] = ch.tokens[i];
      pos_[static_cast<size_t>(t)] = ch.pos0 + i;
      chunk_of_[static_cast<size_t>(t)] = static_cast<int32_t>(s);
      row_ctx_[static_cast<size_t>(t)] = llama_cpp_row_context(ch.pos0 + i, ch.prompt_end);
    }
    // Query blocks never straddle the prompt's end: the two sides sum in different orders.
    const int64_t split = std::clamp<int64_t>(ch.prompt_end - ch.pos0, 0, ch.n_tokens);
    for (int64_t q0 = 0; q0 < ch.n_tokens;) {
      const int64_t q1 = std::min({ch.n_tokens, q0 + kQueryBlock, q0 < split ? split : ch.n_tokens});
      jobs_.push_back({static_cast<int32_t>(s), t - ch.n_tokens + q0, t - ch.n_tokens + q1, q0 < split});
      q0 = q1;
    }
  }
  attn_jobs_.clear();
  const int64_t group = c.n_head / c.n_head_kv;
  for (size_t b = 0; b < jobs_.size(); ++b) {
    // Several tokens: one head per job. One token: heads in runs within one KV group.
    const int64_t run = jobs_[b].t1 - jobs_[b].t0 > 1 ? 1 : kQueryBlock;
    for (int64_t h = 0; h < c.n_head;) {
      const int64_t end = std::min(h + run, (h / group + 1) * group);
      attn_jobs_.push_back({static_cast<int32_t>(b), static_cast<int32_t>(h), static_cast<int32_t>(end - h)});
      h = end;
    }
  }
  return n;
}

void Decoder::embed(const WeightMatrix& table, int64_t n, float scale) {
  perf::Zone zone("embedding");
  const int64_t E = cfg_.n_embd;
  for_token_rows(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* x = x_.data() + t * E;
      dequantize_matrix_row(table, token_[static_cast<size_t>(t)], x);
      if (scale != 1.0f) {
        for (int64_t i = 0; i < E; ++i) x[i] *= scale;
      }
    }
  });
}

void Decoder::norm_rows(const char* name, int64_t il, const std::vector<float>& weight, const float* in, int64_t n) {
  perf::Zone zone(name, il);
  const int64_t E = cfg_.n_embd;
  for_token_rows(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) rms_norm(in + t * E, weight.data(), h_.data() + t * E, E, cfg_.norm_eps);
  });
}

void Decoder::layer_norm_rows(const char* name, int64_t il, const std::vector<float>& weight,
                              const std::vector<float>& bias, const float* in, int64_t n) {
  perf::Zone zone(name, il);
  const int64_t E = cfg_.n_embd;
  for_token_rows(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) layer_norm(in + t * E, weight.data(), bias.data(), h_.data() + t * E, E, cfg_.norm_eps);
  });
}

void Decoder::residual(int64_t il, int64_t n, const float* add) {
  perf::Zone zone("residual", il);
  const int64_t E = cfg_.n_embd;
  if (add == nullptr) add = h_.data();
  for_token_rows(n, [&](int64_t t0, int64_t t1) { add_inplace(x_.data() + t0 * E, add + t0 * E, (t1 - t0) * E); });
}

perf::Zone Decoder::linear_zone(const char* name, int64_t il, int64_t rows, std::initializer_list<const WeightMatrix*> ws,
                                bool on) {
  if (!on || !perf::active()) return perf::Zone(name, il, false);  // off: skip the shape and byte bookkeeping
  int64_t n_out = 0;
  double bytes = 0.0;
  for (const WeightMatrix* w : ws) {
    n_out += w->rows;
    bytes += static_cast<double>(row_bytes(w->type, static_cast<uint64_t>(w->cols))) * static_cast<double>(w->rows);
  }
  const WeightMatrix& first = **ws.begin();
  return perf::Zone(name, il, rows, first.cols, n_out, dtype_name(first.type).data(), bytes);
}

perf::Zone Decoder::linear_zone(const char* name, int64_t il, int64_t rows, std::initializer_list<MatmulTarget> targets) {
  static_assert(kMaxFused == 4, "the cases below cover 1..kMaxFused targets");
  switch (targets.size()) {  // callers have checked the count (takes_quantized)
    case 1: return linear_zone(name, il, rows, {targets.begin()[0].w});
    case 2: return linear_zone(name, il, rows, {targets.begin()[0].w, targets.begin()[1].w});
    case 3: return linear_zone(name, il, rows, {targets.begin()[0].w, targets.begin()[1].w, targets.begin()[2].w});
    default: return linear_zone(name, il, rows, {targets.begin()[0].w, targets.begin()[1].w, targets.begin()[2].w, targets.begin()[3].w});
  }
}

void Decoder::add_norm_linear(const ResidualAdd& r, const char* norm_name, const char* linear_name, int64_t il,
                              const std::vector<float>& weight, int64_t n, std::initializer_list<MatmulTarget> targets) {
  const int64_t E = cfg_.n_embd;
  auto add_row = [&r, E](int64_t t) { return r.add == nullptr ? nullptr : r.add + t * E; };
  if (tapping()) {  // the separate ops, each result tapped
    if (r.add != nullptr) {
      residual(il, n, r.add);
      tap(r.name, r.layer, x_.data(), n, E);
    }
    norm_rows(norm_name, il, weight, x_.data(), n);
    tap(norm_name, il, h_.data(), n, E);
  } else if (!takes_quantized(targets)) {  // the add in the norm's pass; h in floats for the row kernels
    perf::Zone zone(norm_name, il);
    for_token_rows(n, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) add_rms_norm(x_.data() + t * E, add_row(t), weight.data(), h_.data() + t * E, E, cfg_.norm_eps);
    });
  } else {  // add, norm and quantization in one pass per row
    const int64_t nb = E / kQK;
    const Scratch scratch = act_scratch(n);
    if (static_cast<size_t>(n * nb) * sizeof(BlockQ8S) > scratch.bytes) fail("forward: {} rows exceed the matmul scratch", n);
    auto* act = reinterpret_cast<BlockQ8S*>(scratch.data);  // [n, n_embd / 32]
    {
      perf::Zone zone(norm_name, il);
      for_token_rows(n, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) add_rms_norm_q8s(x_.data() + t * E, add_row(t), weight.data(), act + t * nb, E, cfg_.norm_eps);
      });
    }
    perf::Zone zone = linear_zone(linear_name, il, n, targets);
    matmul_fused_quantized(targets, act, n, pool_);
    return;
  }
  perf::Zone zone = linear_zone(linear_name, il, n, targets);
  const Scratch scratch = act_scratch(n);
  matmul_fused(targets, h_.data(), n, pool_, scratch.data, scratch.bytes, row_ctx_.data());
}

void Decoder::linear(const char* name, int64_t il, const WeightMatrix& w, const float* in, int64_t rows, float* out) {
  perf::Zone zone = linear_zone(name, il, rows, {&w});
  const Scratch scratch = act_scratch(rows);
  matmul(w, in, rows, out, pool_, scratch.data, scratch.bytes, row_ctx_.data());
}

void Decoder::gated_linear(const char* gating_name, const char* tap_name, GatingFn gating, const char* linear_name,
                           int64_t il, const WeightMatrix& w_down, int64_t n, float* out) {
  const int64_t F = cfg_.n_ff;
  const int64_t nb = F / kQK;
  if (n != 1 || tapping() || F % kQK != 0 || !takes_quantized({{&w_down, out}})) {
    {
      perf::Zone zone(gating_name, il);
      for_token_rows(n, [&](int64_t t0, int64_t t1) { gating(gate_.data() + t0 * F, up_.data() + t0 * F, (t1 - t0) * F); });
    }
    tap(tap_name, il, gate_.data(), n, F);
    linear(linear_name, il, w_down, gate_.data(), n, out);
    return;
  }
  const Scratch scratch = act_scratch(n);
  if (static_cast<size_t>(nb) * sizeof(BlockQ8S) > scratch.bytes) fail("forward: {} inputs exceed the matmul scratch", F);
  auto* act = reinterpret_cast<BlockQ8S*>(scratch.data);  // [n_ff / 32]
  {
    perf::Zone zone(gating_name, il);
    pool_.parallel_for(static_cast<size_t>(nb), [&](size_t b0, size_t b1, int) {
      float* g = gate_.data() + b0 * kQK;  // [(b1 - b0) * 32]
      const auto len = static_cast<int64_t>((b1 - b0) * kQK);
      gating(g, up_.data() + b0 * kQK, len);
      quantize_q8s(g, act + b0, len);
    });
  }
  perf::Zone zone = linear_zone(linear_name, il, n, {&w_down});
  matmul_fused_quantized({{&w_down, out}}, act, n, pool_);
}

const float* Decoder::rope_cos_sin(int64_t n, float freq_base, float freq_scale) {
  const ModelConfig& c = cfg_;
  for (RopeTable& r : rope_tables_) {
    if (r.valid && r.freq_base == freq_base && r.freq_scale == freq_scale) return r.cs.data();
  }
  RopeTable* table = &rope_tables_[next_rope_table_];
  next_rope_table_ = (next_rope_table_ + 1) % 2;
  const float* factors = rope_freqs_.empty() ? nullptr : rope_freqs_.data();
  for_token_rows(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      rope_table(table->cs.data() + t * c.n_rot, c.n_rot, pos_[static_cast<size_t>(t)], freq_base, freq_scale, factors);
    }
  });
  table->freq_base = freq_base;
  table->freq_scale = freq_scale;
  table->valid = true;
  return table->cs.data();
}

void Decoder::apply_rope(int64_t n, int64_t il, float freq_base, float freq_scale) {
  perf::Zone zone("rope", il);
  const ModelConfig& c = cfg_;
  const auto rope = numeric_kernels().rope;
  const float* table = rope_cos_sin(n, freq_base, freq_scale);  // [n, n_rot / 2, 2]
  for_token_rows(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* cs = table + t * c.n_rot;
      for (int64_t h = 0; h < c.n_head; ++h) rope(q_.data() + t * c.q_dim() + h * c.head_dim, cs, c.n_rot, c.rope_neox);
      for (int64_t h = 0; h < c.n_head_kv; ++h) rope(k_.data() + t * c.kv_dim() + h * c.head_dim, cs, c.n_rot, c.rope_neox);
    }
  });
}

void Decoder::kv_update(std::span<const SeqChunk> chunks, KvStore& kv, int64_t il, int64_t n) {
  perf::Zone zone("kv_update", il);
  for_token_rows(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) store_kv_heads(chunks, kv, il, t, 0, kv.n_heads());
  });
}

void Decoder::store_kv_heads(std::span<const SeqChunk> chunks, KvStore& kv, int64_t il, int64_t t, int64_t h_begin,
                             int64_t h_end) {
  // The cache holds f16 values (rounded to nearest even here, as llama.cpp's cache copy does).
  // Head by head: the store keeps each head's positions together (kv_store.h). Every type's
  // conversion is per value or per 32-value block, and heads are whole blocks, so the bytes are
  // those of converting the whole row at once.
  const int64_t kv_dim = cfg_.kv_dim();
  const int64_t head_values = kv_dim / kv.n_heads();
  const SeqChunk& ch = chunks[static_cast<size_t>(chunk_of_[static_cast<size_t>(t)])];
  const int64_t pos = pos_[static_cast<size_t>(t)];
  const int32_t block = ch.block_table[pos / kv.block_size()];
  const int64_t row = pos % kv.block_size();
  for (int64_t h = h_begin; h < h_end; ++h) {
    const float* k_src = k_.data() + t * kv_dim + h * head_values;  // [head_values]
    const float* v_src = v_.data() + t * kv_dim + h * head_values;  // [head_values]
    uint8_t* k_dst = kv.k_head(il, block, row, h);
    uint8_t* v_dst = kv.v_head(il, block, row, h);
    if (kv.type() == KvType::kQ8_0) {
      quantize_activations_q8_0(k_src, reinterpret_cast<BlockQ8_0*>(k_dst), head_values);
      quantize_activations_q8_0(v_src, reinterpret_cast<BlockQ8_0*>(v_dst), head_values);
    } else if (kv.type() == KvType::kF32) {
      std::memcpy(k_dst, k_src, static_cast<size_t>(head_values) * sizeof(float));
      std::memcpy(v_dst, v_src, static_cast<size_t>(head_values) * sizeof(float));
    } else {
      numeric_kernels().to_f16(k_src, head_values, reinterpret_cast<uint16_t*>(k_dst));
      numeric_kernels().to_f16(v_src, head_values, reinterpret_cast<uint16_t*>(v_dst));
    }
  }
}

// Jobs are AttnJobs: blocks of consecutive queries of one head, or one token's heads of one KV
// group. Each chunk of keys is then read once per job (and reused from L1 by its rows) instead
// of once per row. Causal rows cost in proportion to their position, so jobs go out last block
// first (the costliest) in chunks that shrink as they run out, and the threads finish together.
// f(job, its query block, its chunk, the thread's [kQueryBlock, ctx_capacity] scores).
template <typename F>
void Decoder::for_each_attention_job(std::span<const SeqChunk> chunks, F&& f) {
  const size_t jobs = attn_jobs_.size();
  pool_.parallel_for_guided(jobs, 1, [&](size_t begin, size_t end, int thread) {
    float* scores = scores_.data() + static_cast<size_t>(thread) * static_cast<size_t>(kQueryBlock * ctx_capacity_);
    for (size_t taken = begin; taken < end; ++taken) {
      const AttnJob& job = attn_jobs_[jobs - 1 - taken];
      const QueryBlock& qb = jobs_[static_cast<size_t>(job.block)];
      f(job, qb, chunks[static_cast<size_t>(qb.chunk)], scores);
    }
  });
}

// Causal attention of each new token over its sequence's visible positions, per head; heads
// share KV heads in groups of n_head / n_head_kv, and keys and values are read through the
// sequence's block table. Q meets the f16 keys in f16 and the probabilities meet the f16 values
// in f16, with llama.cpp's summation order for prompt or decoded tokens (see
// SeqChunk::prompt_end and kernels/numerics.h). Positions outside a sliding window get
// probability 0, as llama.cpp's mask gives them: their products add exact zeros, so the sums
// keep the order (and bits) of the unmasked walk.
void Decoder::attention(std::span<const SeqChunk> chunks, const KvStore& kv, int64_t il, float kq_scale, int64_t window) {
  perf::Zone zone("attention", il);
  if (attends_online(attention_mode(), kv.type())) return attention_online(chunks, kv, il, kq_scale, window);
  if (kv.type() == KvType::kQ8_0) return attention_q8_0(chunks, kv, il, kq_scale, window);
  for_each_attention_job(chunks, [&](const AttnJob& job, const QueryBlock& qb, const SeqChunk& ch, float* scores) {
    attend_f16(job, qb, ch, scores, kv, il, kq_scale, window);
  });
}

void Decoder::attend_f16(const AttnJob& job, const QueryBlock& qb, const SeqChunk& ch, float* scores, const KvStore& kv,
                         int64_t il, float kq_scale, int64_t window) {
  const ModelConfig& c = cfg_;
  const NumericKernels& ak = numeric_kernels();
  const int64_t group = c.n_head / c.n_head_kv;
  const int64_t rows = job.rows(qb);
  const SumOrder qk_order = sum_order_for(qb.prompt ? 2 : 1, c.head_dim);
  const SumOrder pv_order = qb.prompt ? SumOrder::kBatch : SumOrder::kSingle;
  const PagedBytes key_bytes = kv.k_rows(il, ch.block_table, job.head0 / group);
  const PagedBytes value_bytes = kv.v_rows(il, ch.block_table, job.head0 / group);
  // One decoded token's heads (a job over whole KV groups): ask for all its keys and values
  // first. Zen 5, TinyLlama-shaped Q4_0 tg128, with and without alternating token by token:
  // 0.6% less time per token (median ratio of 20 blocks of 128 tokens each way: 0.994; with
  // the two sides swapped, 1.005).
  if (job.n_heads > 1) {
    const int64_t end = pos_[static_cast<size_t>(qb.t0)] + 1;
    const int64_t begin = window > 0 ? std::max<int64_t>(0, end - window) : 0;
    prefetch_rows(key_bytes, begin, end, kv.head_bytes());
    prefetch_rows(value_bytes, begin, end, kv.head_bytes());
  }
  const PagedRows keys = as_f16(key_bytes);
  const PagedRows values = as_f16(value_bytes);
  float q[kQueryBlock][kMaxHeadDim];  // [rows, head_dim]
  int64_t n_keys[kQueryBlock] = {};
  int64_t first_key[kQueryBlock] = {};
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t t = job.token(qb, i);
    round_to_f16(q_.data() + t * c.q_dim() + job.head(i) * c.head_dim, c.head_dim, q[i]);
    n_keys[i] = pos_[static_cast<size_t>(t)] + 1;
    first_key[i] = window > 0 ? std::max<int64_t>(0, n_keys[i] - window) : 0;
  }
  // Each key's dot product is the same computation as when a query runs alone; the kernel
  // reads each key once for all rows.
  // (Only the first `rows` rows of q are read, all written above; GCC cannot see that.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
  ak.scores_rows(&q[0][0], kMaxHeadDim, rows, keys, first_key, n_keys, c.head_dim, qk_order, kq_scale, scores, ctx_capacity_);
#pragma GCC diagnostic pop
  for (int64_t i = 0; i < rows; ++i) {
    float* row = scores + i * ctx_capacity_;
    std::fill(row, row + first_key[i], -std::numeric_limits<float>::infinity());
    ak.softmax(row, n_keys[i]);
    round_to_f16(row, n_keys[i], row);
  }
  // Rows are consecutive tokens of one head (q_dim apart) or consecutive heads of one token.
  const int64_t out_stride = job.n_heads > 1 ? c.head_dim : c.q_dim();
  ak.weighted_sums(scores, ctx_capacity_, n_keys, rows, values, c.head_dim,
                   attn_.data() + job.token(qb, 0) * c.q_dim() + job.head0 * c.head_dim, out_stride, pv_order);
}

// The same attention over a Q8_0 cache, as llama.cpp computes it with a quantized cache: each
// query head is quantized to Q8_0 and meets the keys in integer dot products; the probabilities
// (f32) weight the values widened block by block. Tokens do not depend on how they were batched
// (each query's sums run over its keys in order), but the results are not the f16 path's bits.
void Decoder::attention_q8_0(std::span<const SeqChunk> chunks, const KvStore& kv, int64_t il, float kq_scale,
                             int64_t window) {
  const ModelConfig& c = cfg_;
  const NumericKernels& ak = numeric_kernels();
  const VecDotFn dot = kernels_for(DType::Q8_0).vec_dot;
  const int64_t group = c.n_head / c.n_head_kv;
  for_each_attention_job(chunks, [&](const AttnJob& job, const QueryBlock& qb, const SeqChunk& ch, float* scores) {
    const PagedBytes keys = kv.k_rows(il, ch.block_table, job.head0 / group);
    const PagedBytes values = kv.v_rows(il, ch.block_table, job.head0 / group);
    BlockQ8_0 q[kQueryBlock][kMaxHeadDim / kQK];  // [rows, head_dim / 32]
    for (int64_t i = 0; i < job.rows(qb); ++i) {
      const int64_t t = job.token(qb, i), h = job.head(i);
      const int64_t n_keys = pos_[static_cast<size_t>(t)] + 1;
      const int64_t first_key = window > 0 ? std::max<int64_t>(0, n_keys - window) : 0;
      quantize_activations_q8_0(q_.data() + t * c.q_dim() + h * c.head_dim, q[i], c.head_dim);
      float* row = scores + i * ctx_capacity_;
      for (int64_t p = first_key; p < n_keys; ++p) row[p] = dot(c.head_dim, keys.row(p), q[i]) * kq_scale;
      std::fill(row, row + first_key, -std::numeric_limits<float>::infinity());
      ak.softmax(row, n_keys);
      ak.weighted_sum_q8_0(row, values, first_key, n_keys, c.head_dim, attn_.data() + t * c.q_dim() + h * c.head_dim);
    }
  });
}

// attention() in one pass per job with an online softmax (NumericKernels::online_attention): a
// run of keys and values is widened to f32 once (f16, Q8_0) or read in place (f32), and every
// row of the job passes over it; no row of scores is kept, and the queries stay f32. Where the
// runs end does not change a bit (the recurrence goes key by key), so a token's output does not
// depend on batching, paging or block size.
void Decoder::attention_online(std::span<const SeqChunk> chunks, const KvStore& kv, int64_t il, float kq_scale,
                               int64_t window) {
  const ModelConfig& c = cfg_;
  const NumericKernels& ak = numeric_kernels();
  const int64_t D = c.head_dim;
  const int64_t group = c.n_head / c.n_head_kv;
  const KvType type = kv.type();
  // Keys per run: a widened run of keys or values is at most 16 KiB.
  constexpr int64_t kRunFloats = 4096;
  const int64_t run = std::clamp<int64_t>(kRunFloats / D, 1, 64);
  for_each_attention_job(chunks, [&](const AttnJob& job, const QueryBlock& qb, const SeqChunk& ch, float*) {
    const int64_t rows = job.rows(qb);
    const PagedBytes keys = kv.k_rows(il, ch.block_table, job.head0 / group);
    const PagedBytes values = kv.v_rows(il, ch.block_table, job.head0 / group);
    int64_t first_key[kQueryBlock], n_keys[kQueryBlock], lo[kQueryBlock], hi[kQueryBlock];
    float m[kQueryBlock], l[kQueryBlock];
    float acc[kQueryBlock * kMaxHeadDim];  // [rows, D]
    int64_t p_begin = INT64_MAX, p_end = 0;
    for (int64_t i = 0; i < rows; ++i) {
      n_keys[i] = pos_[static_cast<size_t>(job.token(qb, i))] + 1;
      first_key[i] = window > 0 ? std::max<int64_t>(0, n_keys[i] - window) : 0;
      p_begin = std::min(p_begin, first_key[i]);
      p_end = std::max(p_end, n_keys[i]);
      m[i] = -std::numeric_limits<float>::infinity();
      l[i] = 0.0f;
      std::fill(acc + i * D, acc + (i + 1) * D, 0.0f);
    }
    // Rows are consecutive tokens of one head (q_dim apart) or consecutive heads of one token.
    const int64_t row_stride = job.n_heads > 1 ? D : c.q_dim();
    const int64_t first = job.token(qb, 0) * c.q_dim() + job.head0 * D;
    alignas(32) float k_run[kRunFloats], v_run[kRunFloats];  // [run, D] widened keys and values
    for (int64_t p0 = p_begin; p0 < p_end;) {
      // Widened runs gather rows across KV blocks; f32 rows are read in place, so their runs end at blocks.
      const int64_t p1 = type == KvType::kF32 ? std::min({p0 + run, p_end, p0 + keys.rows_left_in_block(p0)})
                                              : std::min(p0 + run, p_end);
      const float *k = k_run, *v = v_run;
      int64_t stride = D;
      if (type == KvType::kF32) {  // rows of a block are contiguous
        k = reinterpret_cast<const float*>(keys.row(p0));
        v = reinterpret_cast<const float*>(values.row(p0));
        stride = keys.row_stride / static_cast<int64_t>(sizeof(float));
      } else {
        for (int64_t p = p0; p < p1; ++p) {
          float* kd = k_run + (p - p0) * D;
          float* vd = v_run + (p - p0) * D;
          if (type == KvType::kQ8_0) {
            dequantize_row(DType::Q8_0, keys.row(p), kd, D);
            dequantize_row(DType::Q8_0, values.row(p), vd, D);
          } else {
            ak.from_f16(reinterpret_cast<const uint16_t*>(keys.row(p)), D, kd);
            ak.from_f16(reinterpret_cast<const uint16_t*>(values.row(p)), D, vd);
          }
        }
      }
      for (int64_t i = 0; i < rows; ++i) {
        lo[i] = std::clamp(first_key[i], p0, p1) - p0;
        hi[i] = std::clamp(n_keys[i], p0, p1) - p0;
      }
      ak.online_attention(q_.data() + first, row_stride, rows, k, v, stride, lo, hi, D, kq_scale, m, l, acc, D);
      p0 = p1;
    }
    for (int64_t i = 0; i < rows; ++i) {
      float* out = attn_.data() + first + i * row_stride;
      for (int64_t d = 0; d < D; ++d) out[d] = acc[i * D + d] / l[i];
    }
  });
}

void Decoder::narrow_row_context_to_outputs(std::span<const SeqChunk> chunks) {
  int64_t t0 = 0;
  for (const SeqChunk& ch : chunks) {
    if (ch.logits != LogitRows::kAll) {
      std::fill(row_ctx_.begin() + t0, row_ctx_.begin() + t0 + ch.n_tokens, uint8_t{kRowAlone});
    }
    t0 += ch.n_tokens;
  }
}

void Decoder::output_logits(std::span<const SeqChunk> chunks, float* logits) {
  const int64_t E = cfg_.n_embd;
  int64_t rows = 0;
  {
    perf::Zone zone("norm");
    int64_t t0 = 0;
    for (const SeqChunk& ch : chunks) {
      const int64_t first = ch.logits == LogitRows::kAll ? t0 : ch.logits == LogitRows::kLast ? t0 + ch.n_tokens - 1 : t0 + ch.n_tokens;
      for (int64_t t = first; t < t0 + ch.n_tokens; ++t) {
        // llama.cpp's output product takes the micro-batch's logit rows: all of them, or one.
        out_ctx_[static_cast<size_t>(rows)] = ch.logits == LogitRows::kAll ? row_ctx_[static_cast<size_t>(t)] : uint8_t{kRowAlone};
        float* out = h_.data() + rows++ * E;
        if (output_norm_b_.empty()) {
          rms_norm(x_.data() + t * E, output_norm_.data(), out, E, cfg_.norm_eps);
        } else {
          layer_norm(x_.data() + t * E, output_norm_.data(), output_norm_b_.data(), out, E, cfg_.norm_eps);
        }
      }
      t0 += ch.n_tokens;
    }
  }
  tap("result_norm", -1, h_.data(), rows, E);
  if (rows > 0) {
    {
      perf::Zone zone("lm_head");
      perf::Zone mm = linear_zone("output", -1, rows, {&output_});
      const Scratch scratch = act_scratch(rows);
      matmul(output_, h_.data(), rows, logits, pool_, scratch.data, scratch.bytes, out_ctx_.data());
    }
    tap("result_output", -1, logits, rows, cfg_.n_vocab);
  }
}

}  // namespace ts
