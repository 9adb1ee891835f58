#include "analysis/bench_batch.h"

#include <algorithm>

#include <fmt/format.h>

#include "analysis/bench_speed.h"
#include "base/checked_math.h"
#include "base/error.h"
#include "base/timer.h"
#include "engine/engine.h"

namespace ts {

namespace {

BatchPoint run_once(Model& model, const Tokenizer& tokenizer, const BatchBenchOptions& o, int64_t n_seqs, uint64_t seed) {
  const ModelConfig& c = model.config();
  EngineConfig ec;
  ec.scheduler = {n_seqs, std::min(o.max_batched_tokens, model.max_batch()), o.prompt + o.gen};
  ec.block_size = 16;
  ec.kv_type = o.kv_type;
  ec.kv_budget_bytes = n_seqs * ceil_div(o.prompt + o.gen, ec.block_size) *
                       KvStore::bytes_per_block(c.n_layer, c.kv_dim(), ec.block_size, o.kv_type, c.head_dim);
  Engine engine(model, tokenizer, ec);
  for (int64_t i = 0; i < n_seqs; ++i) {
    RequestOptions r;
    r.prompt = random_tokens(o.prompt, c.n_vocab, seed + static_cast<uint64_t>(i));
    r.max_tokens = static_cast<int32_t>(o.gen);
    r.sampling.temperature = 0.0f;
    r.ignore_eos = true;
    engine.submit(std::move(r), {});
  }
  // Time to the step that gives the last sequence its first token, then the rest. (Counting
  // generated tokens instead would start the decode clock while later prompts are still being
  // prefilled, since sequences admitted first already decode alongside those chunks.)
  BatchPoint p;
  p.seqs = n_seqs;
  const double t0 = now_ms();
  double t_prefilled = 0;
  int64_t tokens_at_prefilled = 0;
  while (engine.step()) {
    ++p.steps;
    if (t_prefilled == 0) {
      const EngineStats st = engine.stats();
      if (st.ttft.count >= static_cast<uint64_t>(n_seqs)) {
        t_prefilled = now_ms();
        tokens_at_prefilled = st.generation_tokens;
      }
    }
  }
  const double t1 = now_ms();
  const int64_t generated = engine.stats().generation_tokens;
  if (generated != n_seqs * o.gen) fail("batch bench: {} tokens generated, expected {}", generated, n_seqs * o.gen);
  p.prefill_tok_s = static_cast<double>(n_seqs * o.prompt) / ((t_prefilled - t0) / 1e3);
  p.decode_tok_s = static_cast<double>(generated - tokens_at_prefilled) / ((t1 - t_prefilled) / 1e3);
  p.per_seq_tok_s = p.decode_tok_s / static_cast<double>(n_seqs);
  p.total_s = (t1 - t0) / 1e3;
  return p;
}

}  // namespace

std::vector<BatchPoint> run_batch_bench(Model& model, const Tokenizer& tokenizer, const BatchBenchOptions& o) {
  if (o.prompt < 1 || o.gen < 2) fail("batch bench: prompt {} and gen {} must be >= 1 and >= 2", o.prompt, o.gen);
  std::vector<BatchPoint> out;
  run_once(model, tokenizer, o, 1, 1);  // warm-up: page in the weights
  for (int64_t n : o.seqs) {
    std::vector<BatchPoint> runs;
    for (int r = 0; r < o.reps; ++r) runs.push_back(run_once(model, tokenizer, o, n, 1000 * static_cast<uint64_t>(r + 1)));
    std::sort(runs.begin(), runs.end(), [](const BatchPoint& a, const BatchPoint& b) { return a.decode_tok_s < b.decode_tok_s; });
    out.push_back(runs[runs.size() / 2]);
  }
  return out;
}

std::string batch_markdown(const std::vector<BatchPoint>& points, const std::string& model_name, int threads) {
  std::string s = fmt::format("Batched decode through the engine: {} | {} threads (medians)\n\n", model_name, threads);
  s += "| sequences | prefill tok/s | decode tok/s (all) | per sequence | vs 1 sequence | steps | wall s |\n";
  s += "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  const double base = points.empty() ? 0 : points.front().seqs == 1 ? points.front().decode_tok_s : 0;
  for (const BatchPoint& p : points) {
    s += fmt::format("| {} | {:.1f} | {:.1f} | {:.1f} | {} | {} | {:.2f} |\n", p.seqs, p.prefill_tok_s, p.decode_tok_s,
                     p.per_seq_tok_s, base > 0 ? fmt::format("{:.2f}x", p.decode_tok_s / base) : "-", p.steps, p.total_s);
  }
  return s;
}

nlohmann::json batch_json(const std::vector<BatchPoint>& points) {
  nlohmann::json a = nlohmann::json::array();
  for (const BatchPoint& p : points) {
    a.push_back({{"seqs", p.seqs}, {"prefill_tok_s", p.prefill_tok_s}, {"decode_tok_s", p.decode_tok_s},
                 {"per_seq_tok_s", p.per_seq_tok_s}, {"steps", p.steps}, {"total_s", p.total_s}});
  }
  return a;
}

}  // namespace ts
