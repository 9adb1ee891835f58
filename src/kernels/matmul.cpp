#include "kernels/matmul.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "base/checked_math.h"
#include "base/error.h"
#include "base/stream_alloc.h"
#include "base/timer.h"
#include "kernels/dtype_table.h"
#include "kernels/packed.h"
#include "quant/quantize.h"
#include "quant/repack.h"

namespace ts {

namespace {

// Activation rows per cache block in the packed path: 64 rows of K = 2048 quantized for the
// packed kernels are 176 KiB, which stay in L2 while each thread's weight groups stream past.
constexpr int64_t kColBlock = 64;

// Fewest activation rows for which the packed path uses pair tiles (see matmul_packed).
constexpr int64_t kMinPairTileRows = 3;

// Activation rows per cache block in the row-major path: 64 rows of K = 2048 f32 are 512 KiB,
// which stay in L2 while a thread's weight rows stream past.
constexpr int64_t kRowBlock = 64;

// Byte offset of group g's column block b in the packed layout: the columns in w.k_parts runs
// one after another, each laid out as a packed matrix of cols / k_parts columns.
size_t packed_offset(const WeightMatrix& w, int64_t g, int64_t b) {
  const int64_t nbp = w.cols / kQK / w.k_parts;
  return static_cast<size_t>(((b / nbp) * num_groups(w.rows) + g) * nbp + b % nbp) * row_bytes(w.type, kQK) * kPackRows;
}

// Group g's blocks of run `part`, one after another.
const uint8_t* part_group(const WeightMatrix& w, int64_t g, int part) {
  return w.data + packed_offset(w, g, static_cast<int64_t>(part) * (w.cols / kQK / w.k_parts));
}

size_t act_row_bytes(const WeightMatrix& w) {
  if (w.packed) return static_cast<size_t>(w.cols / kQK) * sizeof(BlockQ8S);
  return row_bytes(kernels_for(w.type).act_type, static_cast<uint64_t>(w.cols));
}

// One or more packed matrices sharing K and type, applied to the same quantized activations
// (act: [m, K / 32]): all matrices' groups form one work list, so a fused Q/K/V or gate/up
// projection costs one pass and one synchronisation.
void matmul_packed_quantized(const MatmulTarget* targets, size_t count, const BlockQ8S* act, int64_t m, ThreadPool& pool) {
  const WeightMatrix& w0 = *targets[0].w;
  const PackedTileFn tile = packed_tile_for(w0.type, w0.order);
  // Pair tiles only where the product is bound by arithmetic: a pair reads its two groups as two
  // weight streams at once, and with one or two activation rows (decode), which leave the
  // product bound by memory, one stream per thread reads faster (Zen 5, 2 threads: Q4_0 decode
  // +6-19%, Q8_0 +19-22%; weights at 99% of the read probe against 75-86% with pairs).
  const PackedPairTileFn pair_tile = m >= kMinPairTileRows ? packed_pair_tile_for(w0.type, w0.order) : nullptr;
  const int64_t nb = w0.cols / kQK;
  int64_t first_group[kMaxFused + 1] = {0};  // global group index where each target starts
  for (size_t t = 0; t < count; ++t) first_group[t + 1] = first_group[t] + num_groups(targets[t].w->rows);
  const int64_t total_groups = first_group[count];
  const size_t kblock_bytes = row_bytes(w0.type, kQK) * kPackRows;  // one 32-column block of a group
  // Each thread streams its own contiguous share of the groups, and one that finishes early
  // takes over the back of another's: each chunk is a contiguous slice of one weight stream,
  // reused (from L1) for every activation row of the current column block, and a thread slowed
  // by its neighbours on a shared host leaves the other little to wait for. One long stream per
  // thread lets the prefetchers run ahead: against chunks from a shared counter (which hop
  // between the threads) Q4_0 decode +3-5%, prefill unchanged. (Even chunks, so that pair tiles
  // rarely meet a chunk's end alone.)
  pool.parallel_for_stealing(static_cast<size_t>(total_groups), pair_tile != nullptr ? 2 : 1, [&](size_t g_begin, size_t g_end, int) {
    float out[kMaxPairTileCols * 2 * kPackRows];   // [tile cols, 8 or 16 rows]
    float part[kMaxPairTileCols * 2 * kPackRows];  // [tile cols, 8 or 16 rows] a later run of the sum
    for (int64_t c0 = 0; c0 < m; c0 += kColBlock) {
      const int64_t c1 = std::min(m, c0 + kColBlock);
      size_t t = 0;
      for (auto gg = static_cast<int64_t>(g_begin); gg < static_cast<int64_t>(g_end);) {
        while (gg >= first_group[t + 1]) ++t;
        const WeightMatrix& w = *targets[t].w;
        const int64_t g = gg - first_group[t];
        const int64_t n = w.rows;
        const int64_t r0 = g * kPackRows;
        // Two groups of the same matrix in one pass where the CPU has a pair tile.
        const bool pair = pair_tile != nullptr && gg + 1 < static_cast<int64_t>(g_end) && gg + 1 < first_group[t + 1];
        const int64_t span = (pair ? 2 : 1) * kPackRows;
        const int rows = static_cast<int>(std::min<int64_t>(span, n - r0));
        float* y = targets[t].y;
        const int64_t max_cols = pair ? kMaxPairTileCols : kMaxTileCols;
        const int parts = w.k_parts;
        const int64_t nbp = nb / parts;  // blocks per run of the sum
        for (int64_t c = c0; c < c1; c += max_cols) {
          const int cols = static_cast<int>(std::min<int64_t>(max_cols, c1 - c));
          // One activation row and whole groups (decode): the tile's outputs are y's, in order.
          const bool direct = cols == 1 && rows == span && parts == 1;
          float* dst = direct ? y + c * n + r0 : out;
          for (int p = 0; p < parts; ++p) {
            float* part_dst = p == 0 ? dst : part;
            const uint8_t* group = part_group(w, g, p);
            const BlockQ8S* part_act = act + c * nb + p * nbp;
            if (pair) {
              pair_tile(nbp, group, static_cast<size_t>(nbp) * kblock_bytes, part_act, nb, cols, part_dst);
            } else {
              tile(nbp, group, part_act, nb, cols, part_dst);
            }
            if (p > 0) {
              for (int i = 0; i < cols * static_cast<int>(span); ++i) dst[i] += part[i];
            }
          }
          for (int j = 0; j < (direct ? 0 : cols); ++j) {
            std::memcpy(y + (c + j) * n + r0, out + j * span, sizeof(float) * static_cast<size_t>(rows));
          }
        }
        gg += pair ? 2 : 1;
      }
    }
  });
}

// The same on float activations, quantized once here into scratch.
void matmul_packed(const MatmulTarget* targets, size_t count, const float* x, int64_t m, ThreadPool& pool,
                   uint8_t* scratch) {
  const int64_t k = targets[0].w->cols;
  const int64_t nb = k / kQK;
  auto* act = reinterpret_cast<BlockQ8S*>(scratch);  // [m, nb]
  pool.parallel_for(static_cast<size_t>(m), [&](size_t begin, size_t end, int) {
    for (size_t i = begin; i < end; ++i) quantize_q8s(x + i * static_cast<size_t>(k), act + i * static_cast<size_t>(nb), k);
  });
  matmul_packed_quantized(targets, count, act, m, pool);
}

bool fusable(std::initializer_list<MatmulTarget> targets) {
  if (targets.size() == 0 || targets.size() > static_cast<size_t>(kMaxFused)) fail("matmul_fused: {} targets (1..{})", targets.size(), kMaxFused);
  const WeightMatrix& w0 = *targets.begin()->w;
  bool ok = w0.packed;
  for (const MatmulTarget& t : targets) {
    ok = ok && t.w->packed && t.w->type == w0.type && t.w->cols == w0.cols && t.w->order == w0.order && t.w->k_parts == w0.k_parts;
  }
  return ok;
}

}  // namespace

void PackedWeights::Free::operator()(uint8_t* p) const { std::free(p); }

bool packing_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("TINYSERVE_PACK");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return on;
}

namespace {

bool has_packed_form(const WeightMatrix& w) {
  return !w.packed && packing_enabled() && packable(w.type) && packed_tile_for(w.type) != nullptr;
}

// Each matrix in a shared buffer starts on a cache line, as a buffer of its own would.
constexpr size_t kPackAlign = 64;

}  // namespace

uint8_t* PackedWeights::allocate(size_t bytes, const char* what) {
  // Decode streams every weight once per token: large buffers go on huge pages.
  auto* p = static_cast<uint8_t*>(alloc_streamed(bytes));
  if (p == nullptr) fail("out of memory packing {} ({} bytes)", what, bytes);
  buffers_.emplace_back(p);
  buffer_bytes_.push_back(bytes);
  return p;
}

void PackedWeights::set_k_parts(WeightMatrix& w, int parts) {
  if (parts == w.k_parts) return;
  const double t0 = now_ms();
  const int64_t nb = w.cols / kQK;
  if (!w.packed || parts < 1 || nb % parts != 0) fail("set_k_parts: {} runs of {} column blocks", parts, nb);
  const size_t bytes = packed_bytes(w.type, w.rows, w.cols);
  uint8_t* data = nullptr;
  for (size_t i = 0; i < buffers_.size(); ++i) {
    const uint8_t* b = buffers_[i].get();
    if (w.data >= b && w.data + bytes <= b + buffer_bytes_[i]) data = buffers_[i].get() + (w.data - b);
  }
  if (data == nullptr) fail("set_k_parts: the matrix was not packed here");
  // Block by block from the current layout into a copy in the new one, then back in place.
  const size_t kblock_bytes = row_bytes(w.type, kQK) * kPackRows;
  WeightMatrix to = w;
  to.k_parts = parts;
  std::vector<uint8_t> moved(bytes);
  for (int64_t g = 0; g < num_groups(w.rows); ++g) {
    for (int64_t b = 0; b < nb; ++b) std::memcpy(moved.data() + packed_offset(to, g, b), data + packed_offset(w, g, b), kblock_bytes);
  }
  std::memcpy(data, moved.data(), bytes);
  w.k_parts = parts;
  pack_ms_ += now_ms() - t0;
}

WeightMatrix PackedWeights::pack_into(const WeightMatrix& w, uint8_t* dst, ThreadPool& pool) {
  const int64_t n_groups = num_groups(w.rows);
  pool.parallel_for(static_cast<size_t>(n_groups), [&](size_t begin, size_t end, int) {
    pack_groups(w.type, w.data, w.rows, w.cols, dst, static_cast<int64_t>(begin), static_cast<int64_t>(end));
  });
  bytes_ += packed_bytes(w.type, w.rows, w.cols);
  WeightMatrix out = w;
  out.data = dst;
  out.packed = true;
  return out;
}

WeightMatrix PackedWeights::pack(const WeightMatrix& w, ThreadPool& pool) {
  if (!has_packed_form(w)) return w;
  const double t0 = now_ms();
  uint8_t* p = allocate(packed_bytes(w.type, w.rows, w.cols), "a matrix");
  WeightMatrix out = pack_into(w, p, pool);
  pack_ms_ += now_ms() - t0;
  return out;
}

void PackedWeights::pack_all(const std::vector<WeightMatrix*>& ws, ThreadPool& pool) {
  const double t0 = now_ms();
  // Each matrix's offset in the buffer (those without a packed form take no room).
  std::vector<uint64_t> offsets(ws.size());
  uint64_t total = 0;
  for (size_t i = 0; i < ws.size(); ++i) {
    offsets[i] = total;
    if (!has_packed_form(*ws[i])) continue;
    const std::optional<uint64_t> end = checked_add(total, packed_bytes(ws[i]->type, ws[i]->rows, ws[i]->cols) + kPackAlign - 1);
    if (!end) fail("packed weights: size overflows");
    total = *end / kPackAlign * kPackAlign;
  }
  if (total == 0) return;
  uint8_t* p = allocate(total, "the model's matrices");
  for (size_t i = 0; i < ws.size(); ++i) {
    if (has_packed_form(*ws[i])) *ws[i] = pack_into(*ws[i], p + offsets[i], pool);
  }
  pack_ms_ += now_ms() - t0;
}

size_t matmul_scratch_bytes(const WeightMatrix& w, int64_t m) { return static_cast<size_t>(m) * act_row_bytes(w); }

void matmul(const WeightMatrix& w, const float* x, int64_t m, float* y, ThreadPool& pool,
            uint8_t* scratch, size_t scratch_bytes, const uint8_t* row_ctx) {
  if (matmul_scratch_bytes(w, m) > scratch_bytes) {
    fail("matmul scratch too small: need {} bytes, have {}", matmul_scratch_bytes(w, m), scratch_bytes);
  }
  if (!w.packed && w.k_parts != 1) fail("matmul: a row-major matrix summed in {} parts (packed matrices only)", w.k_parts);
  if (w.packed) {
    const MatmulTarget target{&w, y};
    return matmul_packed(&target, 1, x, m, pool, scratch);
  }
  const DTypeKernels& kern = kernels_for(w.type);
  const int64_t k = w.cols;
  const size_t act_row = act_row_bytes(w);
  const size_t w_row = row_bytes(w.type, static_cast<uint64_t>(k));
  // Convert each activation row once; every weight row then reuses it.
  if (kern.act_type != DType::F32) {
    pool.parallel_for(static_cast<size_t>(m), [&](size_t begin, size_t end, int) {
      for (size_t i = begin; i < end; ++i) {
        quantize_activations(kern.act_type, x + i * static_cast<size_t>(k), scratch + i * act_row, k);
      }
    });
  }
  const uint8_t* act_bytes = kern.act_type == DType::F32 ? reinterpret_cast<const uint8_t*>(x) : scratch;
  const int64_t n = w.rows;
  // Split over output features: each thread takes a disjoint slice of the weights. Activation
  // rows go in blocks that stay in L2 while the slice streams past (once per block), and in
  // fours through the register tile where the type has one.
  auto ctx = [row_ctx](int64_t i) { return row_ctx == nullptr ? uint8_t{kRowAlone} : row_ctx[i]; };
  pool.parallel_for(static_cast<size_t>(n), [&](size_t begin, size_t end, int) {
    for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
      const int64_t i1 = std::min(m, i0 + kRowBlock);
      for (size_t r = begin; r < end; ++r) {
        const uint8_t* wr = w.data + r * w_row;
        for (int64_t i = i0; i < i1;) {
          // Four rows that sum in the same order go through the tile, when there is one.
          const VecDotFn dot = kern.dot_for(ctx(i));
          const VecDot4Fn dot4 = i + 4 <= i1 ? kern.dot4_for(ctx(i)) : nullptr;
          if (dot4 != nullptr && kern.dot_for(ctx(i + 1)) == dot && kern.dot_for(ctx(i + 2)) == dot &&
              kern.dot_for(ctx(i + 3)) == dot) {
            float out[4];
            dot4(k, wr, act_bytes + static_cast<size_t>(i) * act_row, act_row, out);
            for (int c = 0; c < 4; ++c) y[static_cast<size_t>((i + c) * n) + r] = out[c];
            i += 4;
          } else {
            y[static_cast<size_t>(i * n) + r] = dot(k, wr, act_bytes + static_cast<size_t>(i) * act_row);
            ++i;
          }
        }
      }
    }
  });
}

void matmul_fused(std::initializer_list<MatmulTarget> targets, const float* x, int64_t m, ThreadPool& pool,
                  uint8_t* scratch, size_t scratch_bytes, const uint8_t* row_ctx) {
  if (!fusable(targets)) {
    for (const MatmulTarget& t : targets) matmul(*t.w, x, m, t.y, pool, scratch, scratch_bytes, row_ctx);
    return;
  }
  const WeightMatrix& w0 = *targets.begin()->w;
  if (matmul_scratch_bytes(w0, m) > scratch_bytes) {
    fail("matmul scratch too small: need {} bytes, have {}", matmul_scratch_bytes(w0, m), scratch_bytes);
  }
  matmul_packed(targets.begin(), targets.size(), x, m, pool, scratch);
}

bool takes_quantized(std::initializer_list<MatmulTarget> targets) { return fusable(targets); }

void matmul_fused_quantized(std::initializer_list<MatmulTarget> targets, const BlockQ8S* act, int64_t m, ThreadPool& pool) {
  if (!fusable(targets)) fail("matmul_fused_quantized: the targets do not all take the packed path's quantized activations");
  matmul_packed_quantized(targets.begin(), targets.size(), act, m, pool);
}

void matmul_packed_rows(const WeightMatrix& w, const BlockQ8S* act, int64_t g_begin, int64_t g_end, int part, float* y) {
  if (!w.packed || part < 0 || part >= w.k_parts) fail("matmul_packed_rows: run {} of a matrix summed in {}", part, w.k_parts);
  const PackedTileFn tile = packed_tile_for(w.type, w.order);
  const int64_t nb = w.cols / kQK;
  const int64_t nbp = nb / w.k_parts;
  for (int64_t g = g_begin; g < g_end; ++g) {
    const int64_t r0 = g * kPackRows;
    const int64_t rows = std::min<int64_t>(kPackRows, w.rows - r0);
    if (rows == kPackRows) {
      tile(nbp, part_group(w, g, part), act + part * nbp, nb, 1, y + r0);
    } else {
      float out[kPackRows];
      tile(nbp, part_group(w, g, part), act + part * nbp, nb, 1, out);
      std::memcpy(y + r0, out, sizeof(float) * static_cast<size_t>(rows));
    }
  }
}

void dequantize_matrix_row(const WeightMatrix& w, int64_t row, float* out) {
  if (row < 0 || row >= w.rows) fail("row {} outside a matrix of {} rows", row, w.rows);
  if (!w.packed) {
    const size_t stride = row_bytes(w.type, static_cast<uint64_t>(w.cols));
    dequantize_row(w.type, w.data + static_cast<size_t>(row) * stride, out, w.cols);
    return;
  }
  // One row back in the GGUF layout, block by block, then dequantized.
  uint8_t plain[64];
  const int64_t nb = w.cols / kQK;
  const int64_t g = row / kPackRows;
  for (int64_t b = 0; b < nb; ++b) {
    // unpack_row over a one-block-wide view of the group's block b.
    unpack_row(w.type, w.data + packed_offset(w, g, b), kQK, row % kPackRows, plain);
    dequantize_row(w.type, plain, out + b * kQK, kQK);
  }
}

}  // namespace ts
