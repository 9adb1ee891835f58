#pragma once
// Attention inner loops (scores, softmax, weighted sum of values) and the SwiGLU activation with
// the exact floating-point evaluation of llama.cpp's CPU backend (its exp polynomial included), so that logits agree bit for bit rather than
// drifting apart through f16 and int8 rounding flips over 30 layers. The order of the f32 sums
// depends on the batch: a single query row uses the plain vector dot (4 x 8-lane accumulators
// over 32-element steps), several rows use the tiled matrix kernel (one 8-lane accumulator).
#include <cstdint>
#include <climits>
#include <vector>

namespace ts {

enum class SumOrder {
  kBatch,   // one 8-lane FMA accumulator, lanes summed (l, l+4), then (0+2) + (1+3)
  kSingle,  // four 8-lane accumulators over 32-element steps, tail added in double
};

// The order llama.cpp uses for a batch of n_tokens query rows whose dot length is n.
inline SumOrder sum_order_for(int64_t n_tokens, int64_t n) {
  return n_tokens > 1 && n % 8 == 0 ? SumOrder::kBatch : SumOrder::kSingle;
}

// Rows kept in fixed-size blocks (the paged KV cache): row p lives at base +
// table[p / block_size] * block_stride + (p % block_size) * row_stride, strides counted in T.
// A contiguous buffer is one block large enough for every row.
template <typename T>
struct Paged {
  const T* base = nullptr;
  const int32_t* table = nullptr;  // [ceil(rows / block_size)] block ids
  int64_t block_size = 0;          // rows per block
  int64_t block_stride = 0;        // elements between consecutive block ids
  int64_t row_stride = 0;          // elements between rows inside a block

  const T* row(int64_t p) const { return base + table[p / block_size] * block_stride + (p % block_size) * row_stride; }
  // Rows p.. that stay inside p's block.
  int64_t rows_left_in_block(int64_t p) const { return block_size - p % block_size; }

  static Paged contiguous(const T* v, int64_t row_stride) {
    static constexpr int32_t kOnlyBlock = 0;
    return {v, &kOnlyBlock, int64_t{1} << 40, 0, row_stride};
  }
};

using PagedRows = Paged<uint16_t>;  // f16 values (IEEE half bits)
using PagedBytes = Paged<uint8_t>;  // raw bytes: the KV store's view, whatever its row type

// A byte view of f16 rows as f16 values (their byte strides are even).
inline PagedRows as_f16(const PagedBytes& b) {
  return {reinterpret_cast<const uint16_t*>(b.base), b.table, b.block_size, b.block_stride / 2, b.row_stride / 2};
}

struct NumericKernels {
  // sum_i a[i] * b[i] over n values: a already rounded to f16 values, b f16 (a cached key).
  float (*dot)(const float* a, const uint16_t* b, int64_t n, SumOrder order);
  // out[p] = dot(q, k + p * k_stride, n, order) * scale for p < n_keys: the same arithmetic as
  // dot per key, several keys in flight at once (independent chains instead of one long one).
  void (*scores)(const float* q, const uint16_t* k, int64_t k_stride, int64_t n_keys, int64_t n, SumOrder order,
                 float scale, float* out);
  // scores for n_rows query rows sharing the keys k (rows of a paged KV head): row i gets
  // out[i * out_stride + p] = dot(q + i * q_stride, k.row(p), n, order) * scale for
  // first_key[i] <= p < n_keys[i]; other positions are left alone. The fast twins read each key
  // once for all rows.
  void (*scores_rows)(const float* q, int64_t q_stride, int64_t n_rows, const PagedRows& k, const int64_t* first_key,
                      const int64_t* n_keys, int64_t n, SumOrder order, float scale, float* out, int64_t out_stride);
  // x[0..n_valid) = softmax(x[0..n_valid)); exp is the polynomial llama.cpp uses, and the sum
  // accumulates 8-value partial sums in double. n_valid >= 1.
  void (*softmax)(float* x, int64_t n_valid);
  // out[d] = sum_p w[p] * v[p * v_stride + d] for d < dim, p < n; v in f16. (llama.cpp pads its
  // KV view with zero weights; an FMA with a zero weight leaves the sum unchanged, so no padding here.)
  void (*weighted_sum)(const float* w, const uint16_t* v, int64_t v_stride, int64_t n, int64_t dim, float* out,
                       SumOrder order);
  // weighted_sum for n_rows rows sharing v, whose rows may lie in blocks: row i reads
  // w + i * w_stride over n_keys[i] positions and writes out + i * out_stride; each row's
  // result is bit-identical to weighted_sum alone over the same rows laid out contiguously
  // (the fast twin reads each chunk of v once for all rows).
  void (*weighted_sums)(const float* w, int64_t w_stride, const int64_t* n_keys, int64_t n_rows, const PagedRows& v,
                        int64_t dim, float* out, int64_t out_stride, SumOrder order);
  // out[d] = sum_p w[p] * v_p[d] for d < dim (a multiple of 32), first <= p < n, where v.row(p)
  // holds dim / 32 Q8_0 blocks. Each term is fma(w[p] * scale_p, q, sum), p in order, so the twins
  // agree bit for bit.
  void (*weighted_sum_q8_0)(const float* w, const PagedBytes& v, int64_t first, int64_t n, int64_t dim, float* out);
  // Online-softmax attention (flash attention's recurrence) over f32 keys and values, key by key:
  // row i (q + i * q_stride, dim values) meets keys p in [lo[i], hi[i]) (k and v rows kv_stride
  // apart) in order, with running maximum m[i], sum l[i] and acc[i * acc_stride + d]:
  //   s = dot(q_i, k_p) * scale  (8-lane FMA sums over whole groups of 8, reduced (l, l+4) then
  //                               (0+2) + (1+3), then the tail by FMA)
  //   if s > m: c = exp(m - s), m = s, acc *= c, l *= c      (before the first key m = -inf)
  //   e = exp(s - m), acc = fma(e, v_p, acc), l += e
  // After the last key the attention output is acc / l. Each key's step depends only on the keys
  // before it, so splitting the keys into runs (tiles, KV blocks, calls) never changes a bit.
  void (*online_attention)(const float* q, int64_t q_stride, int64_t n_rows, const float* k, const float* v,
                           int64_t kv_stride, const int64_t* lo, const int64_t* hi, int64_t dim, float scale, float* m,
                           float* l, float* acc, int64_t acc_stride);
  // out[i] = in[i], f16 bits widened to f32 (exact).
  void (*from_f16)(const uint16_t* in, int64_t n, float* out);
  // gate[i] = gate[i] / (1 + exp(-gate[i])) * up[i]
  void (*swiglu)(float* gate, const float* up, int64_t n);
  // out[i] = in[i] rounded to the nearest f16 value (ties to even), as f32; in may equal out.
  void (*round_f16)(const float* in, int64_t n, float* out);
  // out[i] = in[i] as f16 bits, rounded to nearest even (what the KV cache stores).
  void (*to_f16)(const float* in, int64_t n, uint16_t* out);
  // Rotates one head in place by a table of [n_rot / 2, 2] cos, sin (ops.h rope_table).
  // neox=false rotates adjacent pairs (x[2i], x[2i+1]); neox=true rotates (x[i], x[i + n_rot/2]).
  // Only the first n_rot dims rotate (n_rot even).
  void (*rope)(float* head, const float* cos_sin, int64_t n_rot, bool neox);
};

// Asks the caches for the first `bytes` of rows [first, end) of a paged view, all at once,
// ahead of their use (a hint: no effect on results). A decode step's keys and values are cold
// when its attention job starts, as a layer's ~25 MB of weights stream past between one step's
// attention and the next; asked for together, their misses overlap instead of coming one row
// at a time.
void prefetch_rows(const PagedBytes& rows, int64_t first, int64_t end, int64_t bytes);

// The fastest twin this CPU supports (TINYSERVE_ISA=scalar forces the reference).
const NumericKernels& numeric_kernels();
// Scalar reference: same results bit for bit, via std::fma.
const NumericKernels& reference_numeric_kernels();

// Every twin this CPU can run, the reference first, whatever TINYSERVE_ISA selects: the tests
// hold each to the reference and the benchmarks time each.
struct NumericTwin {
  const char* isa;
  const NumericKernels* kernels;
};
std::vector<NumericTwin> numeric_kernel_twins();

// scores_rows through a scores kernel, key run by key run (runs end at KV blocks and after
// kKeyRun keys, which stay in L1 while every row passes over them).
template <typename ScoresFn>
void scores_rows_by_runs(ScoresFn scores, const float* q, int64_t q_stride, int64_t n_rows, const PagedRows& k,
                         const int64_t* first_key, const int64_t* n_keys, int64_t n, SumOrder order, float scale, float* out,
                         int64_t out_stride) {
  constexpr int64_t kKeyRun = 64;
  int64_t lo = INT64_MAX, hi = 0;
  for (int64_t i = 0; i < n_rows; ++i) {
    lo = first_key[i] < lo ? first_key[i] : lo;
    hi = n_keys[i] > hi ? n_keys[i] : hi;
  }
  for (int64_t p0 = lo; p0 < hi;) {
    int64_t p1 = p0 + kKeyRun < hi ? p0 + kKeyRun : hi;
    if (p0 + k.rows_left_in_block(p0) < p1) p1 = p0 + k.rows_left_in_block(p0);
    for (int64_t i = 0; i < n_rows; ++i) {
      const int64_t a = p0 > first_key[i] ? p0 : first_key[i], b = p1 < n_keys[i] ? p1 : n_keys[i];
      if (a < b) scores(q + i * q_stride, k.row(a), k.row_stride, b - a, n, order, scale, out + i * out_stride + a);
    }
    p0 = p1;
  }
}

// Largest dim weighted_sum supports (stack accumulators).
constexpr int64_t kMaxAttentionDim = 512;

}  // namespace ts
