#include "analysis/chipsim.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/checked_math.h"
#include "base/error.h"

namespace ts {

namespace {

// Cost of every instance of op on one chip that holds 1/chips of it. Weight products split by
// output columns (or by K when row-parallel), attention products by head.
OpEstimate cost_op(const MatmulOp& op, const ChipParams& p, bool weights_resident, int64_t chips) {
  OpEstimate e;
  e.op = op;
  const int64_t T = p.tile;
  const bool weight = op.kind == OpKind::kWeight;
  int64_t tiles_each = op.causal_tiles >= 0 ? op.causal_tiles : tile_count(op.m, op.k, op.n, T);
  int64_t count = op.count;
  double share = 1.0;  // fraction of the op's bytes this chip moves
  if (chips > 1) {
    if (!weight) {
      count = ceil_div(op.count, chips);
      share = static_cast<double>(count) / static_cast<double>(op.count);
    } else if (op.split_k) {
      tiles_each = ceil_div(op.m, T) * ceil_div(ceil_div(op.k, T), chips) * ceil_div(op.n, T);
      share = 1.0 / static_cast<double>(chips);
    } else {
      tiles_each = ceil_div(op.m, T) * ceil_div(op.k, T) * ceil_div(ceil_div(op.n, T), chips);
      share = 1.0 / static_cast<double>(chips);
    }
  }
  const double dense = weight ? 1.0 - p.sparsity : 1.0;
  const double instances = static_cast<double>(count) * static_cast<double>(op.layers);
  e.tiles_each = tiles_each;
  e.tiles_total = static_cast<double>(tiles_each) * instances * dense;
  e.ms_each = static_cast<double>(tiles_each) * dense * p.seconds_per_tile() * 1e3;
  e.compute_ms = e.tiles_total * p.seconds_per_tile() * 1e3;

  // Sparse weights are stored without their zero tiles (index overhead ignored).
  const double b = (weight && weights_resident) ? 0.0 : op.b_bytes * dense * share;
  const double a = op.a_bytes * share;
  double a_reads = 1.0;
  const double half_sram = p.sram_kb * 1024.0 / 2.0;
  // With SRAM: the K x N operand streams through half of it in panels; an input that does not
  // fit in the other half is read again for every panel.
  if (half_sram > 0 && a > half_sram && b > 0) a_reads = std::ceil(b / half_sram);
  e.bytes = (b + a * a_reads + op.c_bytes * share) * static_cast<double>(op.layers);
  e.memory_ms = p.mem_gbps > 0 ? e.bytes / (p.mem_gbps * 1e9) * 1e3 : 0.0;
  e.ms = std::max(e.compute_ms, e.memory_ms);
  return e;
}

bool runs_in(const MatmulOp& op, const std::vector<bool>& local, int64_t layer) {
  if (op.layer_set == MatmulOp::Layers::kAll || local.empty()) return true;
  const bool is_local = local[static_cast<size_t>(layer)];
  return op.layer_set == MatmulOp::Layers::kLocal ? is_local : !is_local;
}

// Sums op costs into per-layer times (each layer's share of its ops) and per-token time.
void accumulate(ChipEstimate& e, const std::vector<bool>& local, double other_ms_per_layer) {
  e.layer_ms.assign(static_cast<size_t>(e.n_layer), other_ms_per_layer);
  double layer_tiles = 0.0;
  for (const auto& o : e.ops) {
    e.tiles_total += o.tiles_total;
    if (!o.op.per_layer) {
      e.per_token_ops_ms += o.ms;
      continue;
    }
    layer_tiles += o.tiles_total;
    for (int64_t l = 0; l < e.n_layer; ++l) {
      if (runs_in(o.op, local, l)) e.layer_ms[static_cast<size_t>(l)] += o.ms / static_cast<double>(o.op.layers);
    }
  }
  e.layer_tiles_avg = e.n_layer > 0 ? layer_tiles / static_cast<double>(e.n_layer) : 0.0;
  e.other_ms = other_ms_per_layer * static_cast<double>(e.n_layer);
  for (double ms : e.layer_ms) e.layers_ms += ms;
  e.pass_ms = e.layers_ms + e.per_token_ops_ms;
}

void check_layers(const std::vector<MatmulOp>& ops, int64_t n_layer, const std::vector<bool>& local) {
  if (n_layer < 0) fail("chipsim: negative layer count {}", n_layer);
  if (!local.empty() && static_cast<int64_t>(local.size()) != n_layer) {
    fail("chipsim: {} local-layer flags for {} layers", local.size(), n_layer);
  }
  for (const auto& op : ops) {
    if (op.m <= 0 || op.k <= 0 || op.n <= 0 || op.count <= 0 || op.layers <= 0) {
      fail("chipsim: op '{}' has a non-positive dimension or count", op.name);
    }
    if (op.per_layer && op.layers > n_layer) fail("chipsim: op '{}' runs in {} of {} layers", op.name, op.layers, n_layer);
  }
}

}  // namespace

void ChipParams::validate() const {
  auto in = [](const char* flag, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi)) fail("{} = {} is out of range [{}, {}]", flag, v, lo, hi);
  };
  in("--tile", static_cast<double>(tile), 1, 65536);
  in("--clock-mhz", clock_mhz, 1e-3, 1e6);
  in("--cycles-per-tile", cycles_per_tile, 1e-3, 1e12);
  in("--int8-speedup", int8_speedup, 1e-3, 1e6);
  in("--sparsity", sparsity, 0.0, 0.999);
  in("--mem-gbps", mem_gbps, 0.0, 1e6);
  in("--sram-kb", sram_kb, 0.0, 1e9);
  in("--other-ms-per-layer", other_ms_per_layer, 0.0, 1e9);
  in("--chips", chips, 1, 4096);
  in("--link-gbps", link_gbps, 1e-6, 1e6);
  in("--link-latency-us", link_latency_us, 0.0, 1e9);
}

int64_t tile_count(int64_t m, int64_t k, int64_t n, int64_t tile) {
  if (m <= 0 || k <= 0 || n <= 0 || tile <= 0) fail("tile_count: non-positive shape [{},{}]x[{},{}] or tile {}", m, k, k, n, tile);
  int64_t mk = 0, mkn = 0;
  if (__builtin_mul_overflow(ceil_div(m, tile), ceil_div(k, tile), &mk) ||
      __builtin_mul_overflow(mk, ceil_div(n, tile), &mkn)) {
    fail("tile_count: [{},{}]x[{},{}] with tile {} overflows the tile count", m, k, k, n, tile);
  }
  return mkn;
}

ChipEstimate estimate(const std::vector<MatmulOp>& ops, int64_t n_layer, const std::vector<bool>& local,
                      int64_t tokens, const ChipParams& p) {
  p.validate();
  check_layers(ops, n_layer, local);
  if (tokens <= 0) fail("chipsim: tokens per pass must be positive, got {}", tokens);
  ChipEstimate e;
  e.n_layer = n_layer;
  e.tokens = tokens;
  for (const auto& op : ops) {
    if (op.kind == OpKind::kWeight) e.weight_bytes += op.b_bytes * (1.0 - p.sparsity) * static_cast<double>(op.layers);
  }
  e.weights_resident = p.sram_kb > 0 && e.weight_bytes <= p.sram_kb * 1024.0;
  for (const auto& op : ops) e.ops.push_back(cost_op(op, p, e.weights_resident, 1));
  accumulate(e, local, p.other_ms_per_layer);
  return e;
}

PipelineEstimate pipeline_split(const ChipEstimate& one, double act_bytes_per_row, int64_t rows, const ChipParams& p) {
  PipelineEstimate r;
  const auto L = static_cast<int64_t>(one.layer_ms.size());
  const int64_t S = std::max<int64_t>(1, std::min<int64_t>(p.chips, L));
  r.transfer_ms = act_bytes_per_row * static_cast<double>(rows) / (p.link_gbps * 1e9) * 1e3 + p.link_latency_us / 1e3;
  // Stage time of layers [i, j): their sum, plus the hand-off (all but the last stage), plus
  // the output projection on the last stage.
  std::vector<double> prefix(static_cast<size_t>(L) + 1, 0.0);
  for (int64_t i = 0; i < L; ++i) prefix[static_cast<size_t>(i) + 1] = prefix[static_cast<size_t>(i)] + one.layer_ms[static_cast<size_t>(i)];
  auto stage = [&](int64_t i, int64_t j) {
    const double t = prefix[static_cast<size_t>(j)] - prefix[static_cast<size_t>(i)];
    return j == L ? t + one.per_token_ops_ms : t + r.transfer_ms;
  };
  // best[s][j]: smallest max stage time splitting layers [0, j) into s contiguous stages.
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> best(static_cast<size_t>(S) + 1, std::vector<double>(static_cast<size_t>(L) + 1, inf));
  std::vector<std::vector<int64_t>> cut(best.size(), std::vector<int64_t>(static_cast<size_t>(L) + 1, 0));
  best[0][0] = 0.0;
  for (int64_t s = 1; s <= S; ++s) {
    for (int64_t j = s; j <= L; ++j) {
      for (int64_t i = s - 1; i < j; ++i) {
        const double v = std::max(best[static_cast<size_t>(s - 1)][static_cast<size_t>(i)], stage(i, j));
        if (v < best[static_cast<size_t>(s)][static_cast<size_t>(j)]) {
          best[static_cast<size_t>(s)][static_cast<size_t>(j)] = v;
          cut[static_cast<size_t>(s)][static_cast<size_t>(j)] = i;
        }
      }
    }
  }
  r.stage_ms_max = best[static_cast<size_t>(S)][static_cast<size_t>(L)];
  for (int64_t s = S, j = L; s > 0; --s) {
    const int64_t i = cut[static_cast<size_t>(s)][static_cast<size_t>(j)];
    r.stage_layers.insert(r.stage_layers.begin(), j - i);
    j = i;
  }
  r.latency_ms = one.pass_ms + static_cast<double>(S - 1) * r.transfer_ms;
  r.tok_s = r.stage_ms_max > 0 ? 1000.0 * static_cast<double>(one.tokens) / r.stage_ms_max : 0.0;
  r.speedup = r.stage_ms_max > 0 ? one.pass_ms / r.stage_ms_max : 0.0;
  r.efficiency = r.speedup / static_cast<double>(p.chips);
  return r;
}

TensorSplitEstimate tensor_split(const std::vector<MatmulOp>& ops, const ChipEstimate& one,
                                 const std::vector<bool>& local, const ChipParams& p) {
  TensorSplitEstimate r;
  const int64_t C = p.chips;
  ChipEstimate split;
  split.n_layer = one.n_layer;
  split.tokens = one.tokens;
  // Each chip holds 1/C of the weights, so they fit in SRAM sooner.
  const bool resident = p.sram_kb > 0 && one.weight_bytes / static_cast<double>(C) <= p.sram_kb * 1024.0;
  for (const auto& op : ops) split.ops.push_back(cost_op(op, p, resident, C));
  accumulate(split, local, p.other_ms_per_layer);
  r.compute_ms = split.pass_ms;
  if (C > 1) {
    const double link = p.link_gbps * 1e9;
    const double lat = p.link_latency_us / 1e3;
    const auto ring = static_cast<double>(C - 1);
    for (const auto& op : ops) {
      if (op.kind != OpKind::kWeight) continue;
      if (op.split_k) {
        // Ring all-reduce of the partial outputs: 2 (C-1)/C of the output crosses each link.
        // One all-reduce per instance (count > 1 only for recorded profiles; c_bytes covers all).
        const auto messages = static_cast<double>(op.count);
        const double ms = 2.0 * ring / static_cast<double>(C) * op.c_bytes / link * 1e3 + 2.0 * ring * lat * messages;
        r.comm_ms += ms * static_cast<double>(op.layers);
      } else if (op.gathers_logits) {
        // Column-split output projection: the other chips' logits come to one chip.
        r.comm_ms += (ring / static_cast<double>(C) * op.c_bytes / link * 1e3 + lat * static_cast<double>(op.count)) *
                     static_cast<double>(op.layers);
      }
    }
  }
  r.pass_ms = r.compute_ms + r.comm_ms;
  r.tok_s = r.pass_ms > 0 ? 1000.0 * static_cast<double>(one.tokens) / r.pass_ms : 0.0;
  r.speedup = r.pass_ms > 0 ? one.pass_ms / r.pass_ms : 0.0;
  r.efficiency = r.speedup / static_cast<double>(C);
  return r;
}

}  // namespace ts
