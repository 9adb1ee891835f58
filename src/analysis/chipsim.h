#pragma once
// Cost model of a tiled matmul accelerator: the chip multiplies T x T tiles, each taking a fixed
// number of cycles; a product [M, K] x [K, N] takes ceil(M/T) * ceil(K/T) * ceil(N/T) tile
// multiplications. Optionally bounded by memory bandwidth, with on-chip SRAM, INT8 and
// sparsity speedups, and split over several chips by layer pipelining or tensor splitting.
#include <cstdint>
#include <string>
#include <vector>

#include "analysis/chipsim_workload.h"

namespace ts {

struct ChipParams {
  int64_t tile = 8;
  double clock_mhz = 100.0;
  double cycles_per_tile = 532.0;
  double int8_speedup = 1.0;     // divides the cycles of every tile
  double sparsity = 0.0;         // fraction of weight tiles that are zero and skipped (weights only)
  double mem_gbps = 0.0;         // 0: memory traffic is free (compute-only estimate)
  double sram_kb = 0.0;          // per chip; 0: no reuse model (every operand moves once per product)
  double other_ms_per_layer = 0.0;  // non-matmul work (norms, softmax, RoPE, activations)
  int chips = 1;
  double link_gbps = 16.0;       // chip-to-chip bandwidth, each direction
  double link_latency_us = 1.0;  // per message

  void validate() const;  // throws naming the first out-of-range value
  double seconds_per_tile() const { return cycles_per_tile / int8_speedup / (clock_mhz * 1e6); }
};

// Tile multiplications of one [M, K] x [K, N] product: ceil per dimension (ragged edges pad).
int64_t tile_count(int64_t m, int64_t k, int64_t n, int64_t tile);

struct OpEstimate {
  MatmulOp op;
  int64_t tiles_each = 0;        // one instance of the product
  double tiles_total = 0.0;      // x count x layers, after sparsity
  double compute_ms = 0.0;       // all instances
  double memory_ms = 0.0;        // all instances (0 when bandwidth is unlimited)
  double ms = 0.0;               // max(compute, memory)
  double ms_each = 0.0;          // one instance, compute only
  double bytes = 0.0;            // memory traffic of all instances
  bool bandwidth_bound() const { return memory_ms > compute_ms; }
};

struct ChipEstimate {
  std::vector<OpEstimate> ops;
  int64_t n_layer = 0;
  int64_t tokens = 1;            // tokens the pass produces or consumes (decode 1, prefill seq)
  bool weights_resident = false; // all weights fit in SRAM: no per-pass weight traffic
  double weight_bytes = 0.0;     // weight bytes of one pass
  std::vector<double> layer_ms;  // per layer: its products + other_ms_per_layer
  double layer_tiles_avg = 0.0;  // per-layer products' tiles, averaged over layers
  double layers_ms = 0.0;        // sum of layer_ms
  double other_ms = 0.0;         // of which other_ms_per_layer
  double per_token_ops_ms = 0.0; // output projection (and profile ops not tied to layers)
  double tiles_total = 0.0;
  double pass_ms = 0.0;          // layers + per-token ops
  double ms_per_token() const { return pass_ms / static_cast<double>(tokens); }
  double tok_s() const { return pass_ms > 0 ? 1000.0 * static_cast<double>(tokens) / pass_ms : 0.0; }
};

// `local` says, per layer, whether it is a sliding-window layer (size n_layer; empty for none).
ChipEstimate estimate(const std::vector<MatmulOp>& ops, int64_t n_layer, const std::vector<bool>& local,
                      int64_t tokens, const ChipParams& p);

struct PipelineEstimate {
  std::vector<int64_t> stage_layers;  // layers per chip, in order (last stage also runs the output)
  double stage_ms_max = 0.0;          // slowest stage incl. sending its activations on
  double transfer_ms = 0.0;           // one hand-off between chips
  double latency_ms = 0.0;            // one pass through every stage
  double tok_s = 0.0;                 // throughput with at least `chips` passes in flight
  double speedup = 0.0;               // throughput vs one chip
  double efficiency = 0.0;            // speedup / chips
};

struct TensorSplitEstimate {
  double compute_ms = 0.0;   // products split over chips (ceil of tiles per chip)
  double comm_ms = 0.0;      // all-reduces after row-parallel products, gather of the logits
  double pass_ms = 0.0;
  double tok_s = 0.0;
  double speedup = 0.0;
  double efficiency = 0.0;
};

// act_bytes_per_row: bytes of one token's hidden state (what a pipeline stage hands on).
PipelineEstimate pipeline_split(const ChipEstimate& one_chip, double act_bytes_per_row, int64_t rows,
                                const ChipParams& p);
TensorSplitEstimate tensor_split(const std::vector<MatmulOp>& ops, const ChipEstimate& one_chip,
                                 const std::vector<bool>& local, const ChipParams& p);

}  // namespace ts
