#pragma once
// Performance events: named zones (phases, layers, ops) and linear products with their shapes.
// Off by default; when off a site costs one relaxed atomic load and a branch. TINYSERVE_LOG=
// info|debug|trace (or --log-level) turns on stderr lines, one per event, in a stable format:
//   [perf] model::forward embedding=0.38ms layers=274.1ms norm=2.1ms lm_head=28.4ms total=305.4ms
//   [perf] layer[3]::forward attn=1.8ms ffn=2.7ms                       (debug)
//   [perf] linear [1x2048]x[2048x5632] q4_0 4.96ms 14.2GB/s            (trace, every op)
// A Recorder (the profiler) receives every event as well. Zones are opened on the thread that
// runs the forward pass; the kernels' worker threads do not emit (in a split decode step, whose
// threads all run the pass, only the calling thread's zones are on).
#include <atomic>
#include <cstdint>
#include <string>

namespace ts::perf {

enum class Level { kOff = 0, kInfo = 1, kDebug = 2, kTrace = 3 };

// Parses off|info|debug|trace; false for anything else.
bool parse_level(const std::string& text, Level* level);
Level level();
void set_level(Level level);  // also reads nothing from the environment afterwards

struct Event {
  const char* name = "";     // "forward", "embedding", "attn", "ffn", "norm", "lm_head", op names
  int64_t layer = -1;        // -1: not inside a layer
  double start_us = 0.0;     // since the process's first event
  double dur_us = 0.0;
  // Linear products only (m > 0): [m, k] x [k, n] over weights of `dtype`.
  int64_t m = 0, k = 0, n = 0;
  const char* dtype = nullptr;
  double weight_bytes = 0.0;
};

class Recorder {
 public:
  virtual ~Recorder() = default;
  virtual void on_event(const Event& e) = 0;
};

// The profiler attaches one recorder at a time (nullptr detaches).
void set_recorder(Recorder* recorder);

namespace detail {
extern std::atomic<bool> g_active;  // level >= debug or a recorder attached
double now_us();
void emit(const Event& e);
}  // namespace detail

inline bool active() { return detail::g_active.load(std::memory_order_relaxed); }

// Times a scope and emits it on exit, when active at entry.
class Zone {
 public:
  // on = false: records nothing (a zone only one of several threads running the same code opens).
  explicit Zone(const char* name, int64_t layer = -1, bool on = true) {
    if (on && active()) {
      event_.name = name;
      event_.layer = layer;
      event_.start_us = detail::now_us();
      on_ = true;
    }
  }
  // A linear product [m, k] x [k, n] of weights in dtype (weight_bytes read).
  Zone(const char* name, int64_t layer, int64_t m, int64_t k, int64_t n, const char* dtype, double weight_bytes, bool on = true)
      : Zone(name, layer, on) {
    event_.m = m;
    event_.k = k;
    event_.n = n;
    event_.dtype = dtype;
    event_.weight_bytes = weight_bytes;
  }
  ~Zone() {
    if (on_) {
      event_.dur_us = detail::now_us() - event_.start_us;
      detail::emit(event_);
    }
  }
  Zone(const Zone&) = delete;
  Zone& operator=(const Zone&) = delete;

 private:
  Event event_;
  bool on_ = false;
};

}  // namespace ts::perf
