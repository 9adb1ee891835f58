#pragma once
// `tinyserve profile`: runs a prompt and a generation with perf events recorded, then reports
// where the time went: per phase (prefill, decode; embedding, layers, norm, output projection,
// sampling), per layer (attention vs FFN), per op, and per matmul shape (M, K, N, dtype) ranked
// by FLOPs and by time, against this machine's measured limits.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/roofline.h"
#include "base/perf.h"
#include "model/model.h"

namespace ts {

struct ProfileOptions {
  int64_t prompt_tokens = 128;
  int64_t gen_tokens = 32;
  uint64_t seed = 1;
  bool keep_events = false;  // for --trace-out
};

struct PhaseTimes {
  int64_t forwards = 0;
  int64_t tokens = 0;
  double total_us = 0, embedding_us = 0, layers_us = 0, norm_us = 0, lm_head_us = 0, sampling_us = 0;
  std::vector<double> attn_us, ffn_us;   // per layer, summed over forwards
  std::map<std::string, std::pair<int64_t, double>> ops;  // name -> (count, us), non-linear ops
};

struct ShapeStat {
  std::string op;
  int64_t m = 0, k = 0, n = 0;
  std::string dtype;
  int64_t count = 0;
  double us = 0.0;
  double weight_bytes = 0.0;  // per call
  double flop() const { return 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n); }
};

// Receives perf events while attached (perf::set_recorder) and aggregates them per phase.
class Profiler : public perf::Recorder {
 public:
  explicit Profiler(int64_t n_layer, bool keep_events) : n_layer_(n_layer), keep_events_(keep_events) {}
  void set_phase(const std::string& phase) { phase_ = phase; }
  void on_event(const perf::Event& e) override;

  const std::map<std::string, PhaseTimes>& phases() const { return phases_; }
  std::vector<ShapeStat> shapes() const;  // all phases, keyed by (op, m, k, n, dtype)
  nlohmann::json chrome_trace() const;

 private:
  struct Kept {
    perf::Event e;
    std::string phase;
  };
  int64_t n_layer_;
  bool keep_events_;
  std::string phase_ = "prefill";
  std::map<std::string, PhaseTimes> phases_;
  std::map<std::tuple<std::string, int64_t, int64_t, int64_t, std::string>, ShapeStat> shapes_;
  std::vector<Kept> events_;
};

struct ProfileResult {
  std::string model;
  int threads = 0;
  ProfileOptions options;
  std::map<std::string, PhaseTimes> phases;
  std::vector<ShapeStat> shapes;
  std::optional<MachineLimits> limits;
  nlohmann::json trace;  // Chrome trace events when kept
  // Threads a decode step is split among (Model::split_decode_threads); its ops are then the
  // calling thread's view.
  int split_decode_threads = 1;
};

// Prefill of prompt_tokens random tokens, then gen_tokens greedy steps, all recorded.
ProfileResult run_profile(Model& model, const std::string& model_name, int threads, const ProfileOptions& o,
                          const std::optional<MachineLimits>& limits);

std::string profile_markdown(const ProfileResult& r);
// Includes "shapes" in the form `tinyserve chipsim --profile` reads.
nlohmann::json profile_json(const ProfileResult& r);

}  // namespace ts
