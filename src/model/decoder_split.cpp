// Decoder::forward_split_decode: one decoded token's forward pass with the heads and FFN columns
// divided among the threads (decoder.h). Why: a decode step is ~90 products of one row each,
// and the weights stream at the memory's pace only while both threads are inside a product.
// Handing each product to the pool and joining it again, with the norms, RoPE, cache update
// and gating in between run by one thread or in loops of their own, left ~12% of a TinyLlama
// token's time outside the weight stream when the two cores sat on different dies (Zen 5
// guest, docs/performance.md). Here each thread goes from one of its products to the next
// with only two barriers per layer.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "base/checked_math.h"
#include "base/error.h"
#include "base/perf.h"
#include "base/thread_pool.h"
#include "kernels/numerics.h"
#include "kernels/ops.h"
#include "kernels/packed.h"
#include "model/decoder.h"

namespace ts {
namespace {

constexpr size_t kLine = 64;

// Start of a buffer's first whole cache line.
template <typename T>
T* line_aligned(T* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<T*>(reinterpret_cast<uint8_t*>(p) + (align_up(a, kLine) - a));
}

// A share's word: [front, back) in 20 bits each, and above them a tag naming the product.
constexpr int kItemBits = 20;
constexpr uint64_t kItemMask = (uint64_t{1} << kItemBits) - 1;
constexpr uint64_t pack_share(uint64_t tag, int64_t front, int64_t back) {
  return tag << (2 * kItemBits) | static_cast<uint64_t>(back) << kItemBits | static_cast<uint64_t>(front);
}
constexpr int64_t share_front(uint64_t w) { return static_cast<int64_t>(w & kItemMask); }
constexpr int64_t share_back(uint64_t w) { return static_cast<int64_t>((w >> kItemBits) & kItemMask); }
constexpr uint64_t share_tag(uint64_t w) { return w >> (2 * kItemBits); }

}  // namespace

// A product's items in a split step: each thread works through its own share front to back and
// then takes the back half of what is left of another's, as ThreadPool::parallel_for_stealing
// does, so a thread slowed by its neighbours on a shared host is helped out instead of holding
// the other at the next barrier. Thieves skip a share still tagged with an earlier product.
template <typename F>
void Decoder::split_items(uint64_t tag, int part, int64_t n, bool wait_own, F&& fn) {
  tag &= (uint64_t{1} << (64 - 2 * kItemBits)) - 1;
  SplitShare& own = split_shares_[static_cast<size_t>(part)];
  own.done.store(0, std::memory_order_relaxed);
  own.word.store(pack_share(tag, 0, n), std::memory_order_release);
  uint64_t w = own.word.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t f = share_front(w), b = share_back(w);
    if (f >= b) break;
    const int64_t end = std::min(b, f + std::max<int64_t>((b - f) / 4, 1));
    if (own.word.compare_exchange_weak(w, pack_share(tag, end, b), std::memory_order_acq_rel)) {
      fn(f, end, part);
      own.done.fetch_add(end - f, std::memory_order_release);
      w = own.word.load(std::memory_order_relaxed);
    }
  }
  for (int k = 1; k < split_parts_; ++k) {
    const int o = (part + k) % split_parts_;
    SplitShare& victim = split_shares_[static_cast<size_t>(o)];
    uint64_t v = victim.word.load(std::memory_order_acquire);
    for (;;) {
      const int64_t f = share_front(v), b = share_back(v);
      if (share_tag(v) != tag || f >= b) break;
      const int64_t from = f + (b - f) / 2;  // the back half, the larger one when odd
      if (victim.word.compare_exchange_weak(v, pack_share(tag, f, from), std::memory_order_acq_rel)) {
        fn(from, b, o);
        victim.done.fetch_add(b - from, std::memory_order_release);
        v = victim.word.load(std::memory_order_acquire);
      }
    }
  }
  if (!wait_own) return;
  spin_until([&] { return own.done.load(std::memory_order_acquire) >= n; });
}

void Decoder::enable_split_decode(std::vector<SplitLayer> layers, GatingFn gating) {
  const ModelConfig& c = cfg_;
  const int T = pool_.num_threads();
  split_layers_ = std::move(layers);
  split_gating_ = gating;
  // TINYSERVE_SPLIT=0 keeps decode steps op by op (for comparisons).
  const char* env = std::getenv("TINYSERVE_SPLIT");
  bool ok = (env == nullptr || std::strcmp(env, "0") != 0) && T > 1;
  // Whole heads, 8-row groups and 32-column blocks for every thread; packed matrices throughout.
  ok = ok && static_cast<int64_t>(split_layers_.size()) == c.n_layer && output_.packed && output_norm_b_.empty() &&
       c.n_embd % kQK == 0 && c.n_head_kv % T == 0 && (c.q_dim() / T) % kQK == 0 && (c.kv_dim() / T) % kPackRows == 0 &&
       c.n_ff % T == 0 && (c.n_ff / T) % kQK == 0;
  for (const SplitLayer& l : split_layers_) {
    for (const WeightMatrix* w : {l.wq, l.wk, l.wv, l.wo, l.gate, l.up, l.down}) ok = ok && w->packed;
  }
  // Items per share (Q/K/V groups, gate/up groups, output groups) must fit a share's word.
  const int64_t most_items = std::max({(c.q_dim() + 2 * c.kv_dim()) / T / kPackRows, 2 * c.n_ff / T / kPackRows, num_groups(output_.rows)});
  split_ready_ = ok && most_items <= static_cast<int64_t>(kItemMask);
  apply_k_parts();
  if (!split_ready_) return;
  split_barrier_ = std::make_unique<ArrivalBarrier>(T);
  split_shares_ = std::make_unique<SplitShare[]>(static_cast<size_t>(T));
  split_row_floats_ = align_up(static_cast<size_t>(c.n_embd) * sizeof(float), kLine) / sizeof(float);
  split_rows_.assign(4 * static_cast<size_t>(T) * split_row_floats_ + kLine / sizeof(float), 0.0f);
  const int64_t widest = std::max({c.n_embd, c.q_dim(), c.n_ff});
  split_act_bytes_ = align_up(static_cast<size_t>(widest / kQK) * sizeof(BlockQ8S), kLine);
  split_act_.assign(static_cast<size_t>(T) * split_act_bytes_ + kLine, 0);
}

void Decoder::apply_k_parts() {
  split_parts_ = split_ready_ && block_order_ == BlockOrder::kFastest ? pool_.num_threads() : 1;
  for (const SplitLayer& l : split_layers_) {
    packed_.set_k_parts(*l.wo, split_parts_);
    packed_.set_k_parts(*l.down, split_parts_);
  }
}

bool Decoder::split_decode_applies(std::span<const SeqChunk> chunks, const KvStore& kv, int64_t n) const {
  // Taps want the tensors between the ops.
  return split_parts_ > 1 && n == 1 && chunks.size() == 1 && !tapping() &&
         kv.type() == KvType::kF16 && !attends_online(attention_mode(), kv.type());
}

float* Decoder::split_row(int which, int part) {
  const size_t row = static_cast<size_t>(which) * static_cast<size_t>(split_parts_) + static_cast<size_t>(part);
  return line_aligned(split_rows_.data()) + row * split_row_floats_;
}

BlockQ8S* Decoder::split_act(int part) {
  return reinterpret_cast<BlockQ8S*>(line_aligned(split_act_.data()) + static_cast<size_t>(part) * split_act_bytes_);
}

void Decoder::forward_split_decode(std::span<const SeqChunk> chunks, KvStore& kv, float* logits) {
  const ModelConfig& c = cfg_;
  perf::Zone zone("forward");
  const float* cos_sin = rope_cos_sin(1, c.rope_freq_base, c.rope_freq_scale);  // [n_rot / 2, 2]
  // One index per thread: each runs its part from the first layer to its logits.
  ++split_calls_;
  pool_.parallel_for(static_cast<size_t>(split_parts_),
                     [&](size_t part, size_t, int) { split_decode_part(chunks, kv, logits, cos_sin, static_cast<int>(part)); });
}

void Decoder::split_decode_part(std::span<const SeqChunk> chunks, KvStore& kv, float* logits, const float* cos_sin, int part) {
  const ModelConfig& c = cfg_;
  const int64_t T = split_parts_, p = part;
  const int64_t E = c.n_embd, hd = c.head_dim;
  const int64_t heads = c.n_head / T, kv_heads = c.n_head_kv / T, group = c.n_head / c.n_head_kv;
  const int64_t q_rows = c.q_dim() / T, kv_rows = c.kv_dim() / T, ff_rows = c.n_ff / T;
  const auto rope = numeric_kernels().rope;
  const float kq_scale = 1.0f / std::sqrt(static_cast<float>(hd));
  float* x = split_row(0, part);     // [n_embd] this thread's copy of the residual stream
  float* sum = split_row(1, part);   // [n_embd] a block's output: the partial sums added up
  BlockQ8S* act = split_act(part);   // [max(n_embd, q_dim, n_ff) / 32] quantized activations
  float* scores = scores_.data() + static_cast<size_t>(part) * static_cast<size_t>(kQueryBlock * ctx_capacity_);
  // sum = partial_0 + partial_1 + ... in thread order: what the products with k_parts runs add.
  auto add_partials = [&](int which) {
    std::copy_n(split_row(which, 0), E, sum);
    for (int o = 1; o < T; ++o) add_inplace(sum, split_row(which, o), E);
  };
  // Tags name each product of this call: (call, layer, product).
  const uint64_t call = split_calls_;
  auto tag = [&](int64_t il, int k) {
    return (call * static_cast<uint64_t>(c.n_layer + 1) + static_cast<uint64_t>(il)) * 4 + static_cast<uint64_t>(k);
  };
  // Perf zones with the op-by-op path's names, from the calling thread only (perf.h): its view
  // of the step, its waits at the barriers included as "barrier".
  const bool zones = part == 0;
  {
    perf::Zone zone("embedding", -1, zones);
    dequantize_matrix_row(token_embd_, token_[0], x);
  }
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const SplitLayer& L = split_layers_[static_cast<size_t>(il)];
    perf::Zone layer_zone("layer", il, zones);
    {
      perf::Zone block_zone("attn", il, zones);
      {
        // x += the previous layer's FFN output; h = RMSNorm(x), quantized
        perf::Zone zone("attn_norm", il, zones);
        if (il > 0) add_partials(3);
        add_rms_norm_q8s(x, il > 0 ? sum : nullptr, L.attn_norm->data(), act, E, c.norm_eps);
      }
      {
        // This thread's query and KV heads. Items: its Q groups, then its K groups, then its V groups.
        perf::Zone zone = linear_zone("attn_qkv", il, 1, {L.wq, L.wk, L.wv}, zones);
        const int64_t qg = q_rows / kPackRows, kg = kv_rows / kPackRows;
        split_items(tag(il, 0), part, qg + 2 * kg, true, [&](int64_t i0, int64_t i1, int64_t owner) {
          const int64_t lo0 = std::clamp<int64_t>(i0, 0, qg), hi0 = std::clamp<int64_t>(i1, 0, qg);
          if (lo0 < hi0) matmul_packed_rows(*L.wq, act, owner * qg + lo0, owner * qg + hi0, 0, q_.data());
          const int64_t lo1 = std::clamp<int64_t>(i0 - qg, 0, kg), hi1 = std::clamp<int64_t>(i1 - qg, 0, kg);
          if (lo1 < hi1) matmul_packed_rows(*L.wk, act, owner * kg + lo1, owner * kg + hi1, 0, k_.data());
          const int64_t lo2 = std::clamp<int64_t>(i0 - qg - kg, 0, kg), hi2 = std::clamp<int64_t>(i1 - qg - kg, 0, kg);
          if (lo2 < hi2) matmul_packed_rows(*L.wv, act, owner * kg + lo2, owner * kg + hi2, 0, v_.data());
        });
      }
      {
        // Their RoPE, cache rows and attention (their KV groups' jobs)
        perf::Zone zone("rope", il, zones);
        for (int64_t h = p * heads; h < (p + 1) * heads; ++h) rope(q_.data() + h * hd, cos_sin, c.n_rot, c.rope_neox);
        for (int64_t h = p * kv_heads; h < (p + 1) * kv_heads; ++h) rope(k_.data() + h * hd, cos_sin, c.n_rot, c.rope_neox);
      }
      {
        perf::Zone zone("kv_update", il, zones);
        store_kv_heads(chunks, kv, il, 0, p * kv_heads, (p + 1) * kv_heads);
      }
      {
        perf::Zone zone("attention", il, zones);
        for (const AttnJob& job : attn_jobs_) {
          const int64_t g = job.head0 / group;
          if (g >= p * kv_heads && g < (p + 1) * kv_heads) {
            attend_f16(job, jobs_[static_cast<size_t>(job.block)], chunks[0], scores, kv, il, kq_scale, 0);
          }
        }
      }
      {
        // wo over this thread's heads' columns: run p of its sums
        perf::Zone zone = linear_zone("attn_out", il, 1, {L.wo}, zones);
        quantize_q8s(attn_.data() + p * q_rows, act + p * q_rows / kQK, q_rows);
        split_items(tag(il, 1), part, num_groups(E), false, [&](int64_t i0, int64_t i1, int64_t owner) {
          const auto o = static_cast<int>(owner);  // its run of the sums, from its activations
          matmul_packed_rows(*L.wo, split_act(o), i0, i1, o, split_row(2, o));
        });
      }
      perf::Zone zone("barrier", il, zones);
      split_barrier_->arrive_and_wait(part);
    }
    perf::Zone block_zone("ffn", il, zones);
    {
      // x += Wo · attention; h = RMSNorm(x), quantized
      perf::Zone zone("ffn_norm", il, zones);
      add_partials(2);
      add_rms_norm_q8s(x, sum, L.ffn_norm->data(), act, E, c.norm_eps);
    }
    const int64_t f0 = p * ff_rows, fg = ff_rows / kPackRows;
    {
      // This thread's FFN columns. Items: its gate groups, then its up groups.
      perf::Zone zone = linear_zone("ffn_gate_up", il, 1, {L.gate, L.up}, zones);
      split_items(tag(il, 2), part, 2 * fg, true, [&](int64_t i0, int64_t i1, int64_t owner) {
        const int64_t lo0 = std::min(i0, fg), hi0 = std::min(i1, fg);
        if (lo0 < hi0) matmul_packed_rows(*L.gate, act, owner * fg + lo0, owner * fg + hi0, 0, gate_.data());
        const int64_t lo1 = std::max<int64_t>(i0 - fg, 0), hi1 = std::max<int64_t>(i1 - fg, 0);
        if (lo1 < hi1) matmul_packed_rows(*L.up, act, owner * fg + lo1, owner * fg + hi1, 0, up_.data());
      });
    }
    {
      // Their gating, and down over their columns: run p of its sums
      perf::Zone zone("swiglu", il, zones);
      split_gating_(gate_.data() + f0, up_.data() + f0, ff_rows);
      quantize_q8s(gate_.data() + f0, act + f0 / kQK, ff_rows);
    }
    {
      perf::Zone zone = linear_zone("ffn_down", il, 1, {L.down}, zones);
      split_items(tag(il, 3), part, num_groups(E), false, [&](int64_t i0, int64_t i1, int64_t owner) {
        const auto o = static_cast<int>(owner);
        matmul_packed_rows(*L.down, split_act(o), i0, i1, o, split_row(3, o));
      });
    }
    perf::Zone zone("barrier", il, zones);
    split_barrier_->arrive_and_wait(part);
  }
  {
    perf::Zone zone("residual", c.n_layer - 1, zones);
    add_partials(3);
    add_inplace(x, sum, E);
  }
  if (chunks[0].logits == LogitRows::kNone) return;
  // logits = W_out · RMSNorm(x): this thread's share of the rows
  {
    perf::Zone zone("norm", -1, zones);
    rms_norm(x, output_norm_.data(), sum, E, c.norm_eps);
  }
  perf::Zone head_zone("lm_head", -1, zones);
  perf::Zone zone = linear_zone("output", -1, 1, {&output_}, zones);
  quantize_q8s(sum, act, E);
  const int64_t out_groups = num_groups(output_.rows);
  split_items(tag(c.n_layer, 0), part, (p + 1) * out_groups / T - p * out_groups / T, false,
              [&](int64_t i0, int64_t i1, int64_t owner) {
                const int64_t g0 = owner * out_groups / T;
                matmul_packed_rows(output_, act, g0 + i0, g0 + i1, 0, logits);
              });
}

}  // namespace ts
