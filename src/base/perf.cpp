#include "base/perf.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace ts::perf {

namespace detail {
std::atomic<bool> g_active{false};
}  // namespace detail

namespace {

std::atomic<int> g_level{0};
std::atomic<Recorder*> g_recorder{nullptr};

void update_active() {
  detail::g_active.store(g_level.load() >= static_cast<int>(Level::kDebug) || g_recorder.load() != nullptr);
}

// The environment sets the starting level; a bad value is reported once and ignored.
const bool g_env_read = [] {
  if (const char* env = std::getenv("TINYSERVE_LOG")) {
    Level l = Level::kOff;
    if (parse_level(env, &l)) {
      g_level.store(static_cast<int>(l));
    } else {
      std::fprintf(stderr, "warning: TINYSERVE_LOG='%s' is not off|info|debug|trace; ignored\n", env);
    }
  }
  update_active();
  return true;
}();

// What the debug lines summarize: the phases of the forward pass in progress.
struct ForwardSums {
  double embedding = 0, layers = 0, norm = 0, lm_head = 0, attn = 0, ffn = 0;
};
ForwardSums g_sums;
std::mutex g_print_mutex;

double ms(double us) { return us / 1000.0; }

void print_debug(const Event& e) {
  std::lock_guard<std::mutex> lock(g_print_mutex);
  const char* n = e.name;
  if (std::strcmp(n, "embedding") == 0) {
    g_sums.embedding += e.dur_us;
  } else if (std::strcmp(n, "attn") == 0) {
    g_sums.attn = e.dur_us;
  } else if (std::strcmp(n, "ffn") == 0) {
    g_sums.ffn = e.dur_us;
  } else if (std::strcmp(n, "layer") == 0) {
    g_sums.layers += e.dur_us;
    std::fprintf(stderr, "[perf] layer[%lld]::forward attn=%.3fms ffn=%.3fms total=%.3fms\n",
                 static_cast<long long>(e.layer), ms(g_sums.attn), ms(g_sums.ffn), ms(e.dur_us));
  } else if (std::strcmp(n, "norm") == 0) {
    g_sums.norm += e.dur_us;
  } else if (std::strcmp(n, "lm_head") == 0) {
    g_sums.lm_head += e.dur_us;
  } else if (std::strcmp(n, "forward") == 0) {
    std::fprintf(stderr, "[perf] model::forward embedding=%.3fms layers=%.3fms norm=%.3fms lm_head=%.3fms total=%.3fms\n",
                 ms(g_sums.embedding), ms(g_sums.layers), ms(g_sums.norm), ms(g_sums.lm_head), ms(e.dur_us));
    g_sums = ForwardSums{};
  }
}

void print_trace(const Event& e) {
  if (e.m > 0) {
    const double gbs = e.dur_us > 0 ? e.weight_bytes / (e.dur_us * 1e3) : 0.0;
    std::fprintf(stderr, "[perf] linear [%lldx%lld]x[%lldx%lld] %s %.3fms %.1fGB/s op=%s layer=%lld\n",
                 static_cast<long long>(e.m), static_cast<long long>(e.k), static_cast<long long>(e.k),
                 static_cast<long long>(e.n), e.dtype != nullptr ? e.dtype : "?", ms(e.dur_us), gbs, e.name,
                 static_cast<long long>(e.layer));
    return;
  }
  for (const char* phase : {"forward", "embedding", "layer", "attn", "ffn", "norm", "lm_head"}) {
    if (std::strcmp(e.name, phase) == 0) return;  // summarized by the debug lines
  }
  std::fprintf(stderr, "[perf] op %s %.3fms layer=%lld\n", e.name, ms(e.dur_us), static_cast<long long>(e.layer));
}

}  // namespace

bool parse_level(const std::string& text, Level* level) {
  static const char* const kNames[] = {"off", "info", "debug", "trace"};
  for (int i = 0; i < 4; ++i) {
    if (text == kNames[i]) {
      *level = static_cast<Level>(i);
      return true;
    }
  }
  return false;
}

Level level() { return static_cast<Level>(g_level.load()); }

void set_level(Level l) {
  (void)g_env_read;
  g_level.store(static_cast<int>(l));
  update_active();
}

void set_recorder(Recorder* recorder) {
  (void)g_env_read;
  g_recorder.store(recorder);
  update_active();
}

namespace detail {

double now_us() {
  using Clock = std::chrono::steady_clock;
  static const Clock::time_point start = Clock::now();
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

void emit(const Event& e) {
  if (Recorder* r = g_recorder.load()) r->on_event(e);
  const int l = g_level.load();
  if (l >= static_cast<int>(Level::kDebug)) print_debug(e);
  if (l >= static_cast<int>(Level::kTrace)) print_trace(e);
}

}  // namespace detail

}  // namespace ts::perf
