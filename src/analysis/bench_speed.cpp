#include "analysis/bench_speed.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "base/error.h"
#include "base/timer.h"
#include "fmt/format.h"

namespace ts {

double SpeedSample::mean() const {
  if (tok_s.empty()) return 0.0;
  double s = 0.0;
  for (double v : tok_s) s += v;
  return s / static_cast<double>(tok_s.size());
}

double SpeedSample::stddev() const {
  if (tok_s.size() < 2) return 0.0;
  const double m = mean();
  double s = 0.0;
  for (double v : tok_s) s += (v - m) * (v - m);
  return std::sqrt(s / static_cast<double>(tok_s.size() - 1));
}

double SpeedSample::median() const {
  if (tok_s.empty()) return 0.0;
  std::vector<double> v = tok_s;
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 == 1 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

std::vector<int32_t> random_tokens(int64_t n, int64_t n_vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(n_vocab - 1));
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = dist(rng);
  return t;
}

std::vector<SpeedSample> bench_speed(Model& model, const SpeedOptions& o) {
  const ModelConfig& c = model.config();
  if (o.repetitions < 1) fail("bench: repetitions {} must be at least 1", o.repetitions);
  if (o.prompt_tokens < 0 || o.gen_tokens < 0) fail("bench: token counts must not be negative");
  if (o.prompt_tokens > model.max_batch()) {
    fail("bench: prompt of {} tokens exceeds the model's batch of {}", o.prompt_tokens, model.max_batch());
  }
  const int64_t n_ctx = std::max<int64_t>(std::max(o.prompt_tokens, o.gen_tokens), 1);
  KvCache kv(c, n_ctx, o.kv_type);
  std::vector<float> logits(static_cast<size_t>(c.n_vocab));  // [n_vocab]
  const std::vector<int32_t> tokens = random_tokens(n_ctx, c.n_vocab, o.seed);
  std::vector<SpeedSample> out;

  if (o.prompt_tokens > 0) {
    SpeedSample s{fmt::format("pp{}", o.prompt_tokens), o.prompt_tokens, {}};
    for (int r = -1; r < o.repetitions; ++r) {
      if (r >= 0 && o.before_rep) o.before_rep(s.test);
      const double t0 = now_ms();
      model.forward(tokens.data(), o.prompt_tokens, 0, kv, logits.data(), false);
      const double ms = now_ms() - t0;
      if (r >= 0) s.tok_s.push_back(static_cast<double>(o.prompt_tokens) * 1000.0 / ms);
      if (r >= 0 && o.after_rep) o.after_rep(s.test);
    }
    out.push_back(std::move(s));
  }
  if (o.gen_tokens > 0) {
    SpeedSample s{fmt::format("tg{}", o.gen_tokens), o.gen_tokens, {}};
    for (int r = -1; r < o.repetitions; ++r) {
      if (r >= 0 && o.before_rep) o.before_rep(s.test);
      const double t0 = now_ms();
      for (int64_t i = 0; i < o.gen_tokens; ++i) model.forward(&tokens[static_cast<size_t>(i)], 1, i, kv, logits.data(), false);
      const double ms = now_ms() - t0;
      if (r >= 0) s.tok_s.push_back(static_cast<double>(o.gen_tokens) * 1000.0 / ms);
      if (r >= 0 && o.after_rep) o.after_rep(s.test);
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string speed_markdown(const ModelSummary& m, const std::string& backend, int threads,
                           const std::vector<SpeedSample>& samples) {
  std::string s = "| model | size | params | backend | threads | test | t/s |\n";
  s += "| --- | ---: | ---: | --- | ---: | ---: | ---: |\n";
  for (const auto& x : samples) {
    s += fmt::format("| {} | {:.2f} MiB | {:.2f} B | {} | {} | {} | {:.2f} ± {:.2f} |\n", m.name,
                     static_cast<double>(m.bytes) / (1024.0 * 1024.0), static_cast<double>(m.params) / 1e9, backend,
                     threads, x.test, x.mean(), x.stddev());
  }
  return s;
}

}  // namespace ts
