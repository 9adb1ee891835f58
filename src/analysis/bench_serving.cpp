#include "analysis/bench_serving.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "base/checked_math.h"
#include "base/error.h"
#include "base/perf.h"
#include "base/timer.h"
#include "engine/engine.h"

namespace ts {

namespace {

// Prompt material: plain English, so every tokenizer makes ordinary tokens of it.
const char* const kText =
    "The river runs past the old mill and under the stone bridge, where children stop to watch the water. "
    "In the spring the fields on either side turn green, and farmers walk the long rows at first light. "
    "A small library stands at the corner of the square; its shelves hold maps, letters and the diaries of "
    "travellers who came through the valley a century ago. Every evening the bell in the tower rings six "
    "times, and the shops close one by one while the lamps are lit along the quiet street. ";

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// Request i's prompt text: the built-in text from a shifting token offset, `tokens` tokens long.
std::string prompt_text(const Tokenizer& tok, int64_t tokens, int64_t i) {
  std::string text;
  std::vector<int32_t> ids;
  const int64_t offset = (i * 11) % 40;
  while (static_cast<int64_t>(ids.size()) < tokens + offset) {
    text += kText;
    ids = tok.encode(text, false, false);
  }
  return tok.decode(std::vector<int32_t>(ids.begin() + offset, ids.begin() + offset + tokens));
}

// Sums the durations of the zones a step emits, by name.
class StepRecorder : public perf::Recorder {
 public:
  void on_event(const perf::Event& e) override {
    if (std::strcmp(e.name, "forward") == 0) forward_ms += e.dur_us / 1e3;
    else if (std::strcmp(e.name, "sampling") == 0) sampling_ms += e.dur_us / 1e3;
    else if (std::strcmp(e.name, "detokenize") == 0) detokenize_ms += e.dur_us / 1e3;
  }
  void reset() { forward_ms = sampling_ms = detokenize_ms = 0; }
  double forward_ms = 0, sampling_ms = 0, detokenize_ms = 0;
};

std::string pct(double value, double ceiling) {
  return ceiling > 0 ? fmt::format("{:.1f}%", 100.0 * value / ceiling) : "-";
}

}  // namespace

double ServingCeilings::decode_tok_s_for(int64_t n_seqs) const {
  return std::min(decode_tok_s * static_cast<double>(n_seqs), prefill_tok_s);
}

std::optional<ServingCeilings> serving_ceilings(const MachineLimits* m, const ModelCost* cost) {
  if (m == nullptr || cost == nullptr) return std::nullopt;
  const Ceilings c = ceilings(*m, *cost);
  return ServingCeilings{c.decode_tok_s, c.prefill_tok_s};
}

ServingRun run_serving(Model& model, const Tokenizer& tokenizer, const ServingBenchOptions& o, int64_t n_requests,
                       int64_t concurrency) {
  if (n_requests < 1 || concurrency < 1) fail("serving bench: {} requests at concurrency {}", n_requests, concurrency);
  const ModelConfig& c = model.config();
  const int64_t in_flight = std::min(concurrency, n_requests);
  EngineConfig ec;
  ec.scheduler = {in_flight, std::min(o.max_batched_tokens, model.max_batch()), o.prompt + o.gen + 8};
  ec.block_size = 16;
  ec.kv_budget_bytes = in_flight * ceil_div(o.prompt + o.gen + 8, ec.block_size) *
                       KvStore::bytes_per_block(c.n_layer, c.kv_dim(), ec.block_size);
  Engine engine(model, tokenizer, ec);
  std::vector<std::string> prompts;
  for (int64_t i = 0; i < n_requests; ++i) prompts.push_back(prompt_text(tokenizer, o.prompt, i));

  ServingRun run;
  run.requests = n_requests;
  run.concurrency = concurrency;
  run.timings.resize(static_cast<size_t>(n_requests));
  std::vector<double> t_submit(static_cast<size_t>(n_requests)), t_first(t_submit.size(), 0.0);
  int64_t next = 0, done = 0;
  StepRecorder rec;
  perf::set_recorder(&rec);
  const double t0 = now_ms();
  auto submit = [&](int64_t i) {
    RequestTiming& rt = run.timings[static_cast<size_t>(i)];
    const double ts = now_ms();
    RequestOptions r;
    r.prompt = tokenizer.encode(prompts[static_cast<size_t>(i)], true, false);
    rt.tokenize_ms = now_ms() - ts;
    rt.prompt_tokens = static_cast<int64_t>(r.prompt.size());
    run.prompt_tokens += rt.prompt_tokens;
    r.max_tokens = static_cast<int32_t>(o.gen);
    r.sampling.temperature = 0.0f;
    r.ignore_eos = true;
    t_submit[static_cast<size_t>(i)] = ts;
    engine.submit(std::move(r), [&, i](const RequestUpdate& u) {
      const double t = now_ms();
      const auto k = static_cast<size_t>(i);
      if (t_first[k] == 0.0 && u.completion_tokens >= 1) t_first[k] = t;
      if (u.finished) {
        RequestTiming& x = run.timings[k];
        if (t_first[k] == 0.0) t_first[k] = t;
        x.gen_tokens = u.completion_tokens;
        x.ttft_ms = t_first[k] - t_submit[k];
        x.e2e_ms = t - t_submit[k];
        x.tpot_ms = x.gen_tokens > 1 ? (t - t_first[k]) / static_cast<double>(x.gen_tokens - 1) : 0.0;
        run.generated += u.completion_tokens;
        ++done;
      }
    });
  };
  try {
    while (done < n_requests) {
      while (next < n_requests && next - done < in_flight) submit(next++);
      const EngineStats before = engine.stats();
      rec.reset();
      if (!engine.step()) fail("serving bench: the engine stopped with {} of {} requests done", done, n_requests);
      const EngineStats after = engine.stats();
      const int64_t computed = after.computed_tokens - before.computed_tokens;
      const int64_t sampled = after.generation_tokens - before.generation_tokens;
      // A step that ran prompt tokens (more tokens than it sampled) is a prefill step.
      (computed > sampled ? run.prefill_forward_ms : run.decode_forward_ms).push_back(rec.forward_ms);
      run.sampling_ms.push_back(rec.sampling_ms);
      run.detokenize_ms.push_back(rec.detokenize_ms);
    }
  } catch (...) {
    perf::set_recorder(nullptr);
    throw;
  }
  perf::set_recorder(nullptr);
  run.wall_ms = now_ms() - t0;
  return run;
}

ServingReport throughput_report(const ServingRun& single, const ServingRun& sequential, const ServingRun& concurrent,
                                const std::optional<ServingCeilings>& ceil) {
  ServingReport r;
  r.markdown = "| workload | requests | in flight | wall | generated tok/s | prompt + generated tok/s | ceiling (decode) | % of ceiling |\n"
               "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  r.csv = "workload,requests,in_flight,wall_ms,gen_tok_s,total_tok_s,ceiling_tok_s\n";
  r.json = nlohmann::json::array();
  const std::pair<const char*, const ServingRun*> rows[] = {{"single request", &single}, {"sequential", &sequential}, {"concurrent", &concurrent}};
  for (const auto& [name, run] : rows) {
    const int64_t n = std::min(run->concurrency, run->requests);
    const double c = ceil ? ceil->decode_tok_s_for(n) : 0.0;
    r.markdown += fmt::format("| {} | {} | {} | {:.0f} ms | {:.1f} | {:.1f} | {} | {} |\n", name, run->requests, n,
                              run->wall_ms, run->gen_tok_s(), run->total_tok_s(), c > 0 ? fmt::format("{:.1f}", c) : "-",
                              pct(run->gen_tok_s(), c));
    r.csv += fmt::format("{},{},{},{:.3f},{:.3f},{:.3f},{:.3f}\n", name, run->requests, n, run->wall_ms, run->gen_tok_s(),
                         run->total_tok_s(), c);
    r.json.push_back({{"workload", name}, {"requests", run->requests}, {"in_flight", n}, {"wall_ms", run->wall_ms},
                      {"gen_tok_s", run->gen_tok_s()}, {"total_tok_s", run->total_tok_s()}, {"ceiling_tok_s", c}});
  }
  const double speedup = concurrent.gen_tok_s() / sequential.gen_tok_s();
  r.markdown += fmt::format("\nConcurrent / sequential: {:.2f}x. Generated tok/s counts the whole run (prompts included); "
                            "the decode ceiling is read bandwidth / bytes per token, times the sequences sharing each "
                            "weight read (capped by the int8 compute ceiling).\n", speedup);
  return r;
}

ServingReport latency_report(const ServingRun& run, const std::optional<ServingCeilings>& ceil) {
  ServingReport r;
  r.markdown = "| request | prompt tokens | generated | TTFT | TPOT | end to end |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n";
  r.csv = "request,prompt_tokens,gen_tokens,ttft_ms,tpot_ms,e2e_ms\n";
  r.json = nlohmann::json::array();
  std::vector<double> ttft, tpot, e2e;
  for (size_t i = 0; i < run.timings.size(); ++i) {
    const RequestTiming& t = run.timings[i];
    r.markdown += fmt::format("| {} | {} | {} | {:.1f} ms | {:.2f} ms | {:.1f} ms |\n", i, t.prompt_tokens, t.gen_tokens,
                              t.ttft_ms, t.tpot_ms, t.e2e_ms);
    r.csv += fmt::format("{},{},{},{:.3f},{:.3f},{:.3f}\n", i, t.prompt_tokens, t.gen_tokens, t.ttft_ms, t.tpot_ms, t.e2e_ms);
    r.json.push_back({{"request", i}, {"prompt_tokens", t.prompt_tokens}, {"gen_tokens", t.gen_tokens},
                      {"ttft_ms", t.ttft_ms}, {"tpot_ms", t.tpot_ms}, {"e2e_ms", t.e2e_ms}});
    ttft.push_back(t.ttft_ms);
    tpot.push_back(t.tpot_ms);
    e2e.push_back(t.e2e_ms);
  }
  const double prompt = run.timings.empty() ? 0.0 : static_cast<double>(run.timings[0].prompt_tokens);
  r.markdown += fmt::format("| median | | | {:.1f} ms | {:.2f} ms | {:.1f} ms |\n", median(ttft), median(tpot), median(e2e));
  if (ceil) {
    const double ttft_floor = prompt / ceil->prefill_tok_s * 1e3, tpot_floor = 1e3 / ceil->decode_tok_s;
    r.markdown += fmt::format("| floor (this machine) | | | {:.1f} ms | {:.2f} ms | |\n", ttft_floor, tpot_floor);
    r.markdown += fmt::format("\nMedian TTFT is {:.1f}x its compute floor (prompt tokens / prefill ceiling); median TPOT "
                              "is {:.1f}x its bandwidth floor (bytes per token / read bandwidth): {} and {} of the ceilings.\n",
                              median(ttft) / ttft_floor, median(tpot) / tpot_floor, pct(ttft_floor, median(ttft)),
                              pct(tpot_floor, median(tpot)));
  }
  r.markdown += fmt::format("\n{} requests, {} in flight at a time; TTFT and end to end from submission (tokenization "
                            "included), TPOT = (end - first token) / (generated - 1).\n", run.requests, run.concurrency);
  return r;
}

ServingReport scalability_report(const std::vector<ServingRun>& runs, const std::optional<ServingCeilings>& ceil) {
  ServingReport r;
  if (runs.empty()) return r;
  r.markdown = "| concurrent requests | generated tok/s | prompt + generated tok/s | speedup | efficiency | median TTFT | median TPOT | ceiling (decode) | % of ceiling |\n"
               "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  r.csv = "concurrency,gen_tok_s,total_tok_s,speedup,efficiency,ttft_ms,tpot_ms,ceiling_tok_s\n";
  r.json = nlohmann::json::array();
  const double base = runs.front().gen_tok_s() / static_cast<double>(runs.front().concurrency);
  for (const ServingRun& run : runs) {
    std::vector<double> ttft, tpot;
    for (const RequestTiming& t : run.timings) {
      ttft.push_back(t.ttft_ms);
      tpot.push_back(t.tpot_ms);
    }
    const double speedup = run.gen_tok_s() / base;
    const double eff = speedup / static_cast<double>(run.concurrency);
    const double c = ceil ? ceil->decode_tok_s_for(run.concurrency) : 0.0;
    r.markdown += fmt::format("| {} | {:.1f} | {:.1f} | {:.2f}x | {:.0f}% | {:.1f} ms | {:.2f} ms | {} | {} |\n", run.concurrency,
                              run.gen_tok_s(), run.total_tok_s(), speedup, 100.0 * eff, median(ttft), median(tpot),
                              c > 0 ? fmt::format("{:.1f}", c) : "-", pct(run.gen_tok_s(), c));
    r.csv += fmt::format("{},{:.3f},{:.3f},{:.4f},{:.4f},{:.3f},{:.3f},{:.3f}\n", run.concurrency, run.gen_tok_s(), run.total_tok_s(), speedup, eff,
                         median(ttft), median(tpot), c);
    r.json.push_back({{"concurrency", run.concurrency}, {"gen_tok_s", run.gen_tok_s()}, {"total_tok_s", run.total_tok_s()}, {"speedup", speedup},
                      {"efficiency", eff}, {"ttft_ms", median(ttft)}, {"tpot_ms", median(tpot)}, {"ceiling_tok_s", c}});
  }
  r.markdown += "\nEach level runs as many requests as it has in flight, all submitted at once; speedup (generated "
                "tok/s) is against one request alone, efficiency = speedup / requests. Generated tok/s spans the whole "
                "run, prompts included: with prompts much longer than the replies it is bounded by prefill, which "
                "batching does not speed up (the prompt + generated column shows the work done).\n";
  return r;
}

ServingReport breakdown_report(const ServingRun& run, const std::optional<ServingCeilings>& ceil) {
  ServingReport r;
  std::vector<double> tokenize;
  for (const RequestTiming& t : run.timings) tokenize.push_back(t.tokenize_ms);
  struct Part {
    const char* name;
    const std::vector<double>* v;
    const char* per;
  };
  const Part parts[] = {{"decode forward", &run.decode_forward_ms, "step"},
                        {"prefill forward", &run.prefill_forward_ms, "step"},
                        {"sampling", &run.sampling_ms, "step"},
                        {"tokenization", &tokenize, "request"},
                        {"detokenization", &run.detokenize_ms, "step"}};
  double total = 0;
  for (const Part& p : parts) total += sum(*p.v);
  r.markdown = "| part | count | median | total | share |\n| --- | ---: | ---: | ---: | ---: |\n";
  r.csv = "part,count,median_ms,total_ms,share\n";
  r.json = nlohmann::json::array();
  for (const Part& p : parts) {
    const double s = sum(*p.v);
    r.markdown += fmt::format("| {} | {} per {} | {:.3f} ms | {:.1f} ms | {:.1f}% |\n", p.name, p.v->size(), p.per,
                              median(*p.v), s, total > 0 ? 100.0 * s / total : 0.0);
    r.csv += fmt::format("{},{},{:.4f},{:.3f},{:.5f}\n", p.name, p.v->size(), median(*p.v), s, total > 0 ? s / total : 0.0);
    r.json.push_back({{"part", p.name}, {"count", p.v->size()}, {"median_ms", median(*p.v)}, {"total_ms", s},
                      {"share", total > 0 ? s / total : 0.0}});
  }
  r.markdown += fmt::format("\nWall time {:.1f} ms; the parts above cover {:.1f}% of it (the rest: scheduling, KV "
                            "bookkeeping, the bench loop).\n", run.wall_ms, 100.0 * total / run.wall_ms);
  if (ceil && !run.decode_forward_ms.empty()) {
    const int64_t n = std::min(run.concurrency, run.requests);
    const double step_floor = 1e3 * static_cast<double>(n) / ceil->decode_tok_s_for(n);
    r.markdown += fmt::format("Median decode step {:.2f} ms for up to {} sequences; this machine's floor for it is {:.2f} ms "
                              "({} of the ceiling).\n", median(run.decode_forward_ms), n, step_floor,
                              pct(step_floor, median(run.decode_forward_ms)));
  }
  return r;
}

}  // namespace ts
