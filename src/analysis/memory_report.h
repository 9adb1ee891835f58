#pragma once
// `tinyserve bench memory`: weight bytes, KV bytes per token (computed from the config and
// measured from an allocated cache), KV for several sequences and contexts, peak RSS, each
// against this machine's physical memory.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kv/kv_store.h"
#include "model/config.h"

namespace ts {

// Peak resident memory of this process so far (never decreases).
double peak_rss_bytes();
// K and V of one token for every layer, in the cache's element type (f16: 2 bytes a value;
// q8_0: 34 bytes per 32 values), computed from the config alone.
double kv_bytes_per_token_estimate(const ModelConfig& c, KvType type = KvType::kF16);

struct MemoryReport {
  std::string model;
  double weight_bytes = 0;            // tensors in the model file
  double kv_bytes_per_token_est = 0;  // 2 (K and V) x layers x kv_dim x bytes per element
  double kv_bytes_per_token_measured = 0;
  double peak_rss_bytes = 0;          // this process after loading (and the test allocation)
  double ram_bytes = 0;               // physical memory of this machine
  KvType kv_type = KvType::kF16;
  std::vector<int64_t> contexts;
  std::vector<int64_t> sequences;
};

MemoryReport measure_memory(const ModelConfig& c, const std::string& model_name, double weight_bytes,
                            const std::vector<int64_t>& contexts, const std::vector<int64_t>& sequences,
                            KvType kv_type = KvType::kF16);
std::string memory_markdown(const MemoryReport& r);
nlohmann::json memory_json(const MemoryReport& r);

}  // namespace ts
