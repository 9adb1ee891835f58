#include "analysis/profile.h"

#include <algorithm>
#include <cstring>

#include "analysis/bench_speed.h"
#include "base/error.h"
#include "engine/sampler.h"
#include "analysis/report_format.h"
#include "fmt/format.h"

namespace ts {

namespace {

constexpr size_t kMaxKeptEvents = 2'000'000;  // bounds --trace-out memory on long runs

bool is(const char* a, const char* b) { return std::strcmp(a, b) == 0; }

double ms(double us) { return us / 1000.0; }

}  // namespace

void Profiler::on_event(const perf::Event& e) {
  PhaseTimes& p = phases_[phase_];
  if (p.attn_us.empty()) {
    p.attn_us.assign(static_cast<size_t>(n_layer_), 0.0);
    p.ffn_us.assign(static_cast<size_t>(n_layer_), 0.0);
  }
  const bool in_layer = e.layer >= 0 && e.layer < n_layer_;
  if (e.m > 0) {
    ShapeStat& s = shapes_[{e.name, e.m, e.k, e.n, e.dtype != nullptr ? e.dtype : "?"}];
    s.op = e.name;
    s.m = e.m;
    s.k = e.k;
    s.n = e.n;
    s.dtype = e.dtype != nullptr ? e.dtype : "?";
    s.count += 1;
    s.us += e.dur_us;
    s.weight_bytes = e.weight_bytes;
  } else if (is(e.name, "forward")) {
    p.forwards += 1;
    p.total_us += e.dur_us;
  } else if (is(e.name, "embedding")) {
    p.embedding_us += e.dur_us;
  } else if (is(e.name, "layer")) {
    p.layers_us += e.dur_us;
  } else if (is(e.name, "attn") && in_layer) {
    p.attn_us[static_cast<size_t>(e.layer)] += e.dur_us;
  } else if (is(e.name, "ffn") && in_layer) {
    p.ffn_us[static_cast<size_t>(e.layer)] += e.dur_us;
  } else if (is(e.name, "norm")) {
    p.norm_us += e.dur_us;
  } else if (is(e.name, "lm_head")) {
    p.lm_head_us += e.dur_us;
  } else if (is(e.name, "sampling")) {
    p.sampling_us += e.dur_us;
  } else {
    auto& op = p.ops[e.name];
    op.first += 1;
    op.second += e.dur_us;
  }
  if (keep_events_ && events_.size() < kMaxKeptEvents) events_.push_back({e, phase_});
}

std::vector<ShapeStat> Profiler::shapes() const {
  std::vector<ShapeStat> out;
  for (const auto& [key, s] : shapes_) out.push_back(s);
  return out;
}

nlohmann::json Profiler::chrome_trace() const {
  // Complete events ("ph": "X") in microseconds; Perfetto and chrome://tracing open this.
  nlohmann::json events = nlohmann::json::array();
  for (const auto& k : events_) {
    nlohmann::json ev{{"name", k.e.name}, {"cat", k.phase}, {"ph", "X"}, {"ts", k.e.start_us},
                      {"dur", k.e.dur_us}, {"pid", 1}, {"tid", 1}};
    nlohmann::json args = nlohmann::json::object();
    if (k.e.layer >= 0) args["layer"] = k.e.layer;
    if (k.e.m > 0) {
      args["shape"] = fmt::format("[{}x{}]x[{}x{}]", k.e.m, k.e.k, k.e.k, k.e.n);
      args["dtype"] = k.e.dtype != nullptr ? k.e.dtype : "?";
    }
    if (!args.empty()) ev["args"] = args;
    events.push_back(std::move(ev));
  }
  return {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
}

ProfileResult run_profile(Model& model, const std::string& model_name, int threads, const ProfileOptions& o,
                          const std::optional<MachineLimits>& limits) {
  const ModelConfig& c = model.config();
  if (o.prompt_tokens < 1) fail("profile: --prompt-len must be at least 1, got {}", o.prompt_tokens);
  if (o.gen_tokens < 0) fail("profile: --gen must not be negative, got {}", o.gen_tokens);
  if (o.prompt_tokens > model.max_batch()) {
    fail("profile: prompt of {} tokens exceeds the model's batch of {}", o.prompt_tokens, model.max_batch());
  }
  const int64_t n_ctx = o.prompt_tokens + o.gen_tokens;
  KvCache kv(c, n_ctx);
  std::vector<float> logits(static_cast<size_t>(c.n_vocab));  // [n_vocab]
  std::vector<int32_t> tokens = random_tokens(o.prompt_tokens, c.n_vocab, o.seed);
  tokens.reserve(static_cast<size_t>(n_ctx));
  SamplingParams sp;
  sp.temperature = 0.0f;  // greedy: the profile does not depend on a random draw
  Sampler sampler(sp, c.n_vocab);

  // Warm-up outside the recording: first-touch page faults and thread start-up are not the
  // steady state this reports.
  model.forward(tokens.data(), std::min<int64_t>(o.prompt_tokens, 8), 0, kv, logits.data(), false);

  Profiler prof(c.n_layer, o.keep_events);
  perf::set_recorder(&prof);
  try {
    prof.set_phase("prefill");
    model.forward(tokens.data(), o.prompt_tokens, 0, kv, logits.data(), false);
    int32_t next = 0;
    {
      perf::Zone z("sampling");
      next = sampler.sample(logits.data(), tokens);
    }
    prof.set_phase("decode");
    for (int64_t i = 0; i < o.gen_tokens; ++i) {
      tokens.push_back(next);
      model.forward(&tokens.back(), 1, o.prompt_tokens + i, kv, logits.data(), false);
      perf::Zone z("sampling");
      next = sampler.sample(logits.data(), tokens);
    }
  } catch (...) {
    perf::set_recorder(nullptr);
    throw;
  }
  perf::set_recorder(nullptr);

  ProfileResult r;
  r.model = model_name;
  r.threads = threads;
  r.options = o;
  r.phases = prof.phases();
  if (r.phases.count("prefill")) r.phases["prefill"].tokens = o.prompt_tokens;
  if (r.phases.count("decode")) r.phases["decode"].tokens = o.gen_tokens;
  r.shapes = prof.shapes();
  r.limits = limits;
  r.split_decode_threads = model.split_decode_threads();
  if (o.keep_events) r.trace = prof.chrome_trace();
  return r;
}

std::string profile_markdown(const ProfileResult& r) {
  std::string s = fmt::format("# profile: {}, {} threads, prompt {} tokens, {} generated\n\n", r.model, r.threads,
                              r.options.prompt_tokens, r.options.gen_tokens);
  if (r.limits) {
    s += fmt::format("Machine (measured): read {:.1f} GB/s, int8 {:.0f} GOP/s, f32 {:.0f} GFLOP/s ({}).\n\n",
                     r.limits->read_gb_s, r.limits->int8_gop_s, r.limits->f32_gflop_s, r.limits->isa);
  }
  if (r.split_decode_threads > 1) {
    s += fmt::format(
        "Decode steps run as one pass split among {} threads (docs/performance.md): their ops below are the "
        "calling thread's view, its waits at the two barriers per layer counted as `barrier`, and each product's "
        "GB/s is the whole matrix over the time that thread spent in it.\n\n",
        r.split_decode_threads);
  }
  // Phase breakdown, per token for decode.
  s += "| phase | tokens | total | tok/s | embedding | layers | norm | output projection | sampling | other |\n"
       "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const char* name : {"prefill", "decode"}) {
    auto it = r.phases.find(name);
    if (it == r.phases.end() || it->second.forwards == 0) continue;
    const PhaseTimes& p = it->second;
    const double total = p.total_us + p.sampling_us;
    const double other = p.total_us - p.embedding_us - p.layers_us - p.norm_us - p.lm_head_us;
    auto cell = [&](double us) { return fmt::format("{:.2f} ms ({})", ms(us), pct(us, total)); };
    s += fmt::format("| {} | {} | {:.2f} ms | {:.1f} | {} | {} | {} | {} | {} | {} |\n", name, p.tokens, ms(total),
                     total > 0 ? 1e6 * static_cast<double>(p.tokens) / total : 0.0, cell(p.embedding_us),
                     cell(p.layers_us), cell(p.norm_us), cell(p.lm_head_us), cell(p.sampling_us), cell(other));
  }
  // Per layer: attention vs FFN (decode per token if present, else prefill).
  const char* layer_phase = r.phases.count("decode") && r.phases.at("decode").forwards > 0 ? "decode" : "prefill";
  if (auto it = r.phases.find(layer_phase); it != r.phases.end() && it->second.forwards > 0) {
    const PhaseTimes& p = it->second;
    const double per = static_cast<double>(std::max<int64_t>(p.forwards, 1));
    s += fmt::format("\nPer layer ({}, per forward pass): attention vs FFN\n\n| layer | attention | FFN | attention share |\n"
                     "| ---: | ---: | ---: | ---: |\n", layer_phase);
    for (size_t l = 0; l < p.attn_us.size(); ++l) {
      s += fmt::format("| {} | {:.3f} ms | {:.3f} ms | {} |\n", l, ms(p.attn_us[l] / per), ms(p.ffn_us[l] / per),
                       pct(p.attn_us[l], p.attn_us[l] + p.ffn_us[l]));
    }
    s += "\nOps (excluding linear products):\n\n| op | calls | time | per call |\n| --- | ---: | ---: | ---: |\n";
    for (const auto& [name, v] : p.ops) {
      s += fmt::format("| {} | {} | {:.3f} ms | {:.4f} ms |\n", name, v.first, ms(v.second), ms(v.second) / static_cast<double>(v.first));
    }
  }
  // Shapes ranked by FLOPs and by time.
  auto table = [&](std::vector<ShapeStat> v, bool by_time) {
    std::sort(v.begin(), v.end(), [&](const ShapeStat& a, const ShapeStat& b) {
      return by_time ? a.us > b.us : a.flop() * static_cast<double>(a.count) > b.flop() * static_cast<double>(b.count);
    });
    std::string t = fmt::format("\nTop shapes by {}:\n\n| op | [M,K]x[K,N] | dtype | calls | GFLOP | time | GFLOP/s | weight GB/s |{}\n"
                                "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |{}\n",
                                by_time ? "time" : "FLOPs", r.limits ? " % int8 peak | % read BW |" : "",
                                r.limits ? " ---: | ---: |" : "");
    for (size_t i = 0; i < std::min<size_t>(v.size(), 10); ++i) {
      const ShapeStat& x = v[i];
      const double gflop = x.flop() * static_cast<double>(x.count) / 1e9;
      const double sec = x.us / 1e6;
      const double gflops = sec > 0 ? gflop / sec : 0.0;
      const double gbs = sec > 0 ? x.weight_bytes * static_cast<double>(x.count) / sec / 1e9 : 0.0;
      t += fmt::format("| {} | [{},{}]x[{},{}] | {} | {} | {:.2f} | {:.2f} ms | {:.1f} | {:.1f} |", x.op, x.m, x.k, x.k,
                       x.n, x.dtype, x.count, gflop, ms(x.us), gflops, gbs);
      if (r.limits) t += fmt::format(" {} | {} |", pct(gflops, r.limits->int8_gop_s), pct(gbs, r.limits->read_gb_s));
      t += "\n";
    }
    return t;
  };
  s += table(r.shapes, false);
  s += table(r.shapes, true);
  return s;
}

nlohmann::json profile_json(const ProfileResult& r) {
  nlohmann::json j;
  j["model"] = r.model;
  j["threads"] = r.threads;
  j["split_decode_threads"] = r.split_decode_threads;
  j["prompt_tokens"] = r.options.prompt_tokens;
  j["gen_tokens"] = r.options.gen_tokens;
  j["tokens"] = r.options.prompt_tokens + r.options.gen_tokens;
  nlohmann::json phases = nlohmann::json::object();
  for (const auto& [name, p] : r.phases) {
    nlohmann::json ops = nlohmann::json::object();
    for (const auto& [op, v] : p.ops) ops[op] = {{"calls", v.first}, {"ms", ms(v.second)}};
    phases[name] = {{"forwards", p.forwards}, {"tokens", p.tokens}, {"total_ms", ms(p.total_us)},
                    {"embedding_ms", ms(p.embedding_us)}, {"layers_ms", ms(p.layers_us)}, {"norm_ms", ms(p.norm_us)},
                    {"lm_head_ms", ms(p.lm_head_us)}, {"sampling_ms", ms(p.sampling_us)}, {"ops", ops}};
    nlohmann::json attn = nlohmann::json::array(), ffn = nlohmann::json::array();
    for (double us : p.attn_us) attn.push_back(ms(us));
    for (double us : p.ffn_us) ffn.push_back(ms(us));
    phases[name]["attn_ms_per_layer"] = attn;
    phases[name]["ffn_ms_per_layer"] = ffn;
  }
  j["phases"] = phases;
  nlohmann::json shapes = nlohmann::json::array();
  for (const auto& x : r.shapes) {
    shapes.push_back({{"op", x.op}, {"m", x.m}, {"k", x.k}, {"n", x.n}, {"dtype", x.dtype}, {"count", x.count},
                      {"ms", ms(x.us)}, {"flop", x.flop() * static_cast<double>(x.count)},
                      {"weight_bytes", x.weight_bytes * static_cast<double>(x.count)}});
  }
  j["shapes"] = shapes;
  if (r.limits) {
    j["machine"] = {{"read_gb_s", r.limits->read_gb_s}, {"int8_gop_s", r.limits->int8_gop_s},
                    {"f32_gflop_s", r.limits->f32_gflop_s}, {"isa", r.limits->isa}};
  }
  return j;
}

}  // namespace ts
