// tinyserve bench: speed (llama-bench-style pp/tg table) and roofline (this machine's limits).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "analysis/bench_speed.h"
#include "analysis/memory_report.h"
#include "analysis/model_summary.h"
#include "analysis/roofline.h"
#include "analysis/bench_batch.h"
#include "analysis/bench_serving.h"
#include "apps/common.h"
#include "apps/llamacpp_reference.h"
#include "apps/synth.h"
#include "base/error.h"
#include "fmt/format.h"
#include "kernels/cpu_features.h"

namespace ts {

namespace {

struct SpeedArgs {
  std::string model;
  int threads = 1;
  int64_t prompt = 512;
  int64_t gen = 128;
  int reps = 5;
  KvType kv_type = KvType::kF16;
  AttentionMode attention = AttentionMode::kExact;
  std::optional<BlockOrder> block_order;  // unset: the architecture's default
  bool json = false;
  bool roofline = false;
  bool vs_llamacpp = false;
};

struct RooflineArgs {
  std::string model;
  int threads = 1;
  int64_t context = 256;
  int64_t buffer_mib = 1024;
  bool json = false;
};

nlohmann::json limits_json(const MachineLimits& m) {
  return {{"threads", m.threads}, {"isa", m.isa}, {"read_gb_s", m.read_gb_s}, {"read_gb_s_median", m.read_gb_s_median},
          {"int8_gop_s", m.int8_gop_s}, {"f32_gflop_s", m.f32_gflop_s}};
}

nlohmann::json cost_json(const ModelCost& c, const Ceilings& x) {
  return {{"model", c.name}, {"context", c.context}, {"weight_bytes_per_token", c.weight_bytes_per_token},
          {"matmul_flop_per_token", c.matmul_flop_per_token}, {"attn_flop_per_token", c.attn_flop_per_token},
          {"decode_ceiling_tok_s", x.decode_tok_s}, {"prefill_ceiling_tok_s", x.prefill_tok_s}};
}

void run_roofline(const RooflineArgs& a) {
  ThreadPool pool(a.threads);
  const MachineLimits m = measure_machine(pool, a.buffer_mib);
  std::unique_ptr<gguf::GgufFile> file;
  std::optional<ModelCost> cost;
  if (!a.model.empty()) {
    file = gguf::GgufFile::open(a.model);
    cost = model_cost(*file, a.context);
  }
  if (a.json) {
    nlohmann::json j{{"machine", limits_json(m)}};
    if (cost) j["model"] = cost_json(*cost, ceilings(m, *cost));
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s", roofline_markdown(m, cost ? &*cost : nullptr).c_str());
  }
}

nlohmann::json speed_json(const ModelSummary& m, const std::string& backend, int threads,
                          const std::vector<SpeedSample>& samples) {
  nlohmann::json j;
  j["model"] = m.name;
  j["model_bytes"] = m.bytes;
  j["model_params"] = m.params;
  j["backend"] = backend;
  j["threads"] = threads;
  j["tests"] = nlohmann::json::array();
  for (const auto& s : samples) {
    j["tests"].push_back({{"test", s.test}, {"tokens", s.tokens}, {"mean_tok_s", s.mean()},
                          {"stddev_tok_s", s.stddev()}, {"median_tok_s", s.median()}, {"samples_tok_s", s.tok_s}});
  }
  return j;
}

void run_speed(const SpeedArgs& a) {
  LoadedModel m = load_everything(a.model, a.threads, std::max<int64_t>(a.prompt, 1));
  m.model->set_attention_mode(a.attention);
  apply_block_order(*m.model, a.block_order);
  SpeedOptions o;
  o.prompt_tokens = a.prompt;
  o.gen_tokens = a.gen;
  o.repetitions = a.reps;
  o.kv_type = a.kv_type;
  std::optional<MachineLimits> limits;
  // Read bandwidth measured right before and right after each timed tg repetition: on a shared
  // machine it drifts by tens of percent within a minute, so each repetition is also compared
  // with the mean of the two measurements that bracket it. Each is the very test `bench
  // roofline` runs (best of 7 reads of 1 GiB): the quicker probe used before (best of 3 reads of
  // 256 MiB) read 3-7% more than it, taken right next to it, with the cores on two dies
  // (docs/performance.md), which held decode to a higher bar than the one it is meant for.
  std::map<std::string, std::vector<double>> before_gb_s, after_gb_s;
  if (a.roofline) {
    limits = measure_machine(*m.pool);
    o.before_rep = [&](const std::string& test) {
      if (test.rfind("tg", 0) == 0) before_gb_s[test].push_back(measure_read_gb_s(*m.pool));
    };
    o.after_rep = [&](const std::string& test) {
      if (test.rfind("tg", 0) == 0) after_gb_s[test].push_back(measure_read_gb_s(*m.pool));
    };
  }
  const std::vector<SpeedSample> samples = bench_speed(*m.model, o);
  const ModelSummary summary = summarize_model(*m.file);
  // The comparison runs after ours, on the same machine minutes later: read both with the noise
  // of a shared host in mind (docs/performance.md).
  std::optional<nlohmann::json> ref;
  if (a.vs_llamacpp) ref = run_llamacpp_reference(a.model, fmt::format("-p {} -n {} -t {} -r {}", a.prompt, a.gen, a.threads, a.reps));
  auto ref_median = [&](const std::string& test) -> double {
    if (!ref) return 0.0;
    for (const auto& t : (*ref)["tests"]) {
      if (t.value("test", "") == test) return t.value("median_tok_s", 0.0);
    }
    return 0.0;
  };
  const std::string backend = std::string("CPU (") + isa_name() + (attends_online(a.attention, a.kv_type) ? ", online attention)" : ")");
  // How close each test came to this machine's limits: tg against read bandwidth (bytes per
  // token), pp against the int8 peak (operations per token at the prompt's mean context).
  std::vector<std::string> notes;
  nlohmann::json eff = nlohmann::json::array();
  if (limits) {
    for (const auto& s : samples) {
      const bool pp = s.test.rfind("pp", 0) == 0;
      const ModelCost cost = model_cost(*m.file, s.tokens / 2);
      const double med = s.median();
      if (pp) {
        const double gops = med * (cost.matmul_flop_per_token + cost.attn_flop_per_token) / 1e9;
        notes.push_back(fmt::format("{}: {:.0f} GOP/s = {:.1f}% of the measured int8 peak {:.0f} GOP/s", s.test, gops,
                                    100.0 * gops / limits->int8_gop_s, limits->int8_gop_s));
        eff.push_back({{"test", s.test}, {"gop_s", gops}, {"fraction_of_int8_peak", gops / limits->int8_gop_s}});
      } else {
        const double gbs = med * static_cast<double>(cost.weight_bytes_per_token) / 1e9;
        // Per repetition: weight GB/s over the mean of the bandwidths measured just before and
        // just after it; median.
        std::vector<double> ratios;
        const auto& before = before_gb_s[s.test];
        const auto& after = after_gb_s[s.test];
        for (size_t r = 0; r < s.tok_s.size() && r < before.size() && r < after.size(); ++r) {
          const double bw = 0.5 * (before[r] + after[r]);
          ratios.push_back(s.tok_s[r] * static_cast<double>(cost.weight_bytes_per_token) / 1e9 / bw);
        }
        std::sort(ratios.begin(), ratios.end());
        const double paired = ratios.empty() ? 0.0 : ratios[ratios.size() / 2];
        notes.push_back(fmt::format(
            "{}: {:.1f} GB/s of weights = {:.1f}% of the measured read bandwidth {:.1f} GB/s (best of the run); "
            "median per repetition against the bandwidth measured right before and after it: {:.1f}%",
            s.test, gbs, 100.0 * gbs / limits->read_gb_s, limits->read_gb_s, 100.0 * paired));
        eff.push_back({{"test", s.test}, {"weight_gb_s", gbs}, {"fraction_of_read_bandwidth", gbs / limits->read_gb_s},
                       {"read_gb_s_before", before}, {"read_gb_s_after", after}, {"median_paired_fraction", paired}});
      }
    }
  }
  if (a.json) {
    nlohmann::json j = speed_json(summary, backend, a.threads, samples);
    if (limits) {
      j["machine"] = limits_json(*limits);
      j["efficiency"] = eff;
    }
    j["load_ms"] = m.load_ms;
    j["block_order"] = block_order_name(m.model->block_order());
    if (ref) {
      j["llamacpp"] = *ref;
      for (auto& t : j["tests"]) {
        const double r = ref_median(t["test"].get<std::string>());
        t["llamacpp_median_tok_s"] = r;
        t["ratio_median"] = r > 0 ? t["median_tok_s"].get<double>() / r : 0.0;
      }
    }
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s", speed_markdown(summary, backend, a.threads, samples).c_str());
    if (ref) {
      std::printf("\n| test | llama.cpp t/s (median) | tinyserve t/s (median) | ratio |\n| --- | ---: | ---: | ---: |\n");
      for (const auto& s : samples) {
        const double r = ref_median(s.test);
        std::printf("| %s | %.2f | %.2f | %s |\n", s.test.c_str(), r, s.median(),
                    r > 0 ? fmt::format("{:.2f}x", s.median() / r).c_str() : "-");
      }
      std::printf("\nllama.cpp: %s, same file, threads and lengths, run after tinyserve\n",
                  (*ref).value("engine", std::string("llama.cpp")).c_str());
    }
    for (const auto& n : notes) std::printf("\n%s", n.c_str());
    if (!notes.empty()) std::printf("\n");
  }
}

struct MemoryArgs {
  std::string model;
  std::vector<int64_t> contexts = {512, 1024, 2048, 4096};
  std::vector<int64_t> sequences = {1, 4, 8, 16};
  KvType kv_type = KvType::kF16;
  bool json = false;
};

void run_memory(const MemoryArgs& a) {
  LoadedModel m = load_everything(a.model, 1, 1);
  const ModelSummary summary = summarize_model(*m.file);
  const MemoryReport r = measure_memory(m.model->config(), summary.name, static_cast<double>(summary.bytes), a.contexts,
                                        a.sequences, a.kv_type);
  if (a.json) {
    std::printf("%s\n", memory_json(r).dump(2).c_str());
  } else {
    std::printf("%s", memory_markdown(r).c_str());
  }
}

struct BatchArgs {
  std::string model;
  BatchBenchOptions options;
  AttentionMode attention = AttentionMode::kExact;
  std::optional<BlockOrder> block_order;  // unset: the architecture's default
  int threads = 1;
  bool json = false;
};

void run_batch(const BatchArgs& a) {
  LoadedModel m = load_everything(a.model, a.threads, a.options.max_batched_tokens);
  m.model->set_attention_mode(a.attention);
  apply_block_order(*m.model, a.block_order);
  const auto points = run_batch_bench(*m.model, *m.tokenizer, a.options);
  if (a.json) {
    std::printf("%s\n", batch_json(points).dump(2).c_str());
  } else {
    std::printf("%s", batch_markdown(points, summarize_model(*m.file).name, m.pool->num_threads()).c_str());
  }
}

// bench throughput | latency | scalability | breakdown: text requests through the serving engine.
struct ServingArgs {
  std::string model;  // empty: a tiny synth model
  ServingBenchOptions options;
  int threads = 1;
  bool json = false;
  bool no_limits = false;
  std::string csv;
};

void run_serving_bench(const std::string& which, const ServingArgs& a) {
  std::string path = a.model;
  std::string temp;
  if (path.empty()) {  // no model given: a small random one, written once per run
    temp = (std::filesystem::temp_directory_path() / fmt::format("tinyserve-bench-tiny-{}.gguf", ::getpid())).string();
    write_synth_model(synth_preset("tiny"), DType::Q8_0, TS_DEFAULT_VOCAB, 1, temp);
    path = temp;
  }
  struct Cleanup {
    std::string p;
    ~Cleanup() {
      if (!p.empty()) std::filesystem::remove(p);
    }
  } cleanup{temp};
  const ServingBenchOptions& o = a.options;
  const int64_t max_in_flight = which == "scalability" ? *std::max_element(o.concurrency.begin(), o.concurrency.end()) : o.requests;
  LoadedModel m = load_everything(path, a.threads, std::min<int64_t>(o.max_batched_tokens, std::max<int64_t>(max_in_flight, 512)));
  std::optional<MachineLimits> limits;
  std::optional<ModelCost> cost;
  if (!a.no_limits) {
    limits = measure_machine(*m.pool, 512);
    cost = model_cost(*m.file, o.prompt + o.gen / 2);
  }
  const auto ceil = serving_ceilings(limits ? &*limits : nullptr, cost ? &*cost : nullptr);
  ServingReport r;
  if (which == "throughput") {
    const ServingRun single = run_serving(*m.model, *m.tokenizer, o, 1, 1);
    const ServingRun seq = run_serving(*m.model, *m.tokenizer, o, o.requests, 1);
    const ServingRun conc = run_serving(*m.model, *m.tokenizer, o, o.requests, o.requests);
    r = throughput_report(single, seq, conc, ceil);
  } else if (which == "latency") {
    r = latency_report(run_serving(*m.model, *m.tokenizer, o, o.requests, 1), ceil);
  } else if (which == "scalability") {
    std::vector<ServingRun> runs;
    for (int64_t n : o.concurrency) runs.push_back(run_serving(*m.model, *m.tokenizer, o, n, n));
    r = scalability_report(runs, ceil);
  } else {
    r = breakdown_report(run_serving(*m.model, *m.tokenizer, o, o.requests, o.requests), ceil);
  }
  if (!a.csv.empty()) {
    std::ofstream out(a.csv);
    if (!(out << r.csv)) fail("cannot write {}", a.csv);
  }
  if (a.json) {
    nlohmann::json j{{"bench", which}, {"model", summarize_model(*m.file).name}, {"threads", m.pool->num_threads()},
                     {"prompt_tokens", o.prompt}, {"gen_tokens", o.gen}, {"rows", r.json}};
    if (limits) j["machine"] = limits_json(*limits);
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("# bench %s: %s, %d threads, prompt %lld tokens, %lld generated per request%s\n\n", which.c_str(),
              summarize_model(*m.file).name.c_str(), m.pool->num_threads(), static_cast<long long>(o.prompt),
              static_cast<long long>(o.gen), a.model.empty() ? " (tiny synth model: no -m given)" : "");
  if (limits) {
    std::printf("Machine: read %.1f GB/s, int8 %.0f GOP/s (%s); ceilings for this model: decode %.1f tok/s per sequence, prefill %.0f tok/s.\n\n",
                limits->read_gb_s, limits->int8_gop_s, limits->isa.c_str(), ceil->decode_tok_s, ceil->prefill_tok_s);
  }
  std::printf("%s", r.markdown.c_str());
}

void add_serving_bench(CLI::App* bench, const std::string& which, const std::string& help) {
  auto a = std::make_shared<ServingArgs>();
  CLI::App* cmd = bench->add_subcommand(which, help);
  cmd->add_option("-m,--model", a->model, "GGUF file or Hugging Face checkpoint directory (default: a tiny synth model)")
      ->check(CLI::ExistingPath);
  cmd->add_option("-p,--prompt-tokens", a->options.prompt, "Prompt tokens per request")->check(CLI::Range(1, 8192));
  cmd->add_option("-n,--gen-tokens", a->options.gen, "Generated tokens per request")->check(CLI::Range(2, 8192));
  if (which == "scalability") {
    cmd->add_option("--concurrency", a->options.concurrency, "Concurrent requests, comma-separated")
        ->delimiter(',')->check(CLI::Range(1, 256));
  } else {
    cmd->add_option("--requests", a->options.requests, "Requests per run")->check(CLI::Range(1, 256));
  }
  cmd->add_option("--max-batched-tokens", a->options.max_batched_tokens, "Tokens per engine step")->check(CLI::Range(1, 8192));
  cmd->add_flag("--json", a->json, "JSON instead of Markdown");
  cmd->add_option("--csv", a->csv, "Also write the table as CSV to this file");
  cmd->add_flag("--no-limits", a->no_limits, "Skip measuring this machine's limits (no ceiling columns)");
  add_threads_flag(cmd, a->threads);
  cmd->callback([a, which] { run_serving_bench(which, *a); });
}

}  // namespace

void add_bench_commands(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks: speed, roofline, memory, batch, throughput, latency, scalability, breakdown");
  bench->require_subcommand(1);

  static SpeedArgs speed;
  CLI::App* sp = bench->add_subcommand("speed", "Prompt processing (pp) and generation (tg) tokens/s, llama-bench style");
  sp->add_option("-m,--model", speed.model, "GGUF file or Hugging Face checkpoint directory")->required()->check(CLI::ExistingPath);
  sp->add_option("-p,--prompt-tokens", speed.prompt, "Prompt length of the pp test (0 skips it)")->check(CLI::Range(0, 65536));
  sp->add_option("-n,--gen-tokens", speed.gen, "Generated tokens of the tg test (0 skips it)")->check(CLI::Range(0, 65536));
  sp->add_option("-r,--repetitions", speed.reps, "Timed repetitions of each test")->check(CLI::Range(1, 1000));
  sp->add_flag("--json", speed.json, "JSON instead of the Markdown table");
  add_threads_flag(sp, speed.threads);
  add_kv_type_flag(sp, speed.kv_type);
  add_attention_flag(sp, speed.attention);
  add_block_order_flag(sp, speed.block_order);
  sp->add_flag("--roofline", speed.roofline, "Also measure this machine's limits and report the fraction reached");
  sp->add_flag("--vs-llamacpp", speed.vs_llamacpp,
               "Also run llama.cpp (llama-cpp-python) on the same GGUF and settings and add its columns");
  sp->callback([] { run_speed(speed); });

  static RooflineArgs roof;
  CLI::App* rf = bench->add_subcommand("roofline", "This machine's read bandwidth and int8/f32 peaks, and a model's ceilings");
  rf->add_option("-m,--model", roof.model, "GGUF model whose decode and prefill ceilings to compute")->check(CLI::ExistingFile);
  rf->add_option("-c,--context", roof.context, "Attention context for the prefill cost")->check(CLI::Range(0, 1 << 20));
  rf->add_option("--buffer-mib", roof.buffer_mib, "Size of the read-bandwidth buffer")->check(CLI::Range(64, 1 << 16));
  rf->add_flag("--json", roof.json, "JSON instead of Markdown");
  add_threads_flag(rf, roof.threads);
  rf->callback([] { run_roofline(roof); });

  static MemoryArgs mem;
  CLI::App* me = bench->add_subcommand("memory", "Weights, KV per token (computed and measured), projections, peak RSS vs RAM");
  me->add_option("-m,--model", mem.model, "GGUF file or Hugging Face checkpoint directory")->required()->check(CLI::ExistingPath);
  me->add_option("--ctx", mem.contexts, "Context lengths, comma-separated")->delimiter(',')->check(CLI::Range(1, 1 << 22));
  me->add_option("--seqs", mem.sequences, "Sequence counts, comma-separated")->delimiter(',')->check(CLI::Range(1, 4096));
  me->add_flag("--json", mem.json, "JSON instead of Markdown");
  add_kv_type_flag(me, mem.kv_type);
  me->callback([] { run_memory(mem); });

  static BatchArgs batch;
  CLI::App* ba = bench->add_subcommand("batch", "Aggregate decode tok/s of N sequences batched by the serving engine");
  ba->add_option("-m,--model", batch.model, "GGUF file or Hugging Face checkpoint directory")->required()->check(CLI::ExistingPath);
  ba->add_option("--seqs", batch.options.seqs, "Sequence counts, comma-separated")->delimiter(',')->check(CLI::Range(1, 1024));
  ba->add_option("-p,--prompt-tokens", batch.options.prompt, "Prompt tokens per sequence")->check(CLI::Range(1, 65536));
  ba->add_option("-n,--gen-tokens", batch.options.gen, "Generated tokens per sequence")->check(CLI::Range(2, 65536));
  ba->add_option("-r,--repetitions", batch.options.reps, "Runs per point (median reported)")->check(CLI::Range(1, 100));
  ba->add_option("--max-batched-tokens", batch.options.max_batched_tokens, "Tokens per engine step")->check(CLI::Range(1, 8192));
  ba->add_flag("--json", batch.json, "JSON instead of Markdown");
  add_kv_type_flag(ba, batch.options.kv_type);
  add_attention_flag(ba, batch.attention);
  add_block_order_flag(ba, batch.block_order);
  add_threads_flag(ba, batch.threads);
  ba->callback([] { run_batch(batch); });

  add_serving_bench(bench, "throughput", "One request, N sequential, N concurrent through the serving engine; speedup");
  add_serving_bench(bench, "latency", "TTFT, TPOT and end-to-end latency per request");
  add_serving_bench(bench, "scalability", "Generated tok/s at 1, 2, 4, 8, 16 concurrent requests, with efficiency");
  add_serving_bench(bench, "breakdown", "Medians and shares of decode forward, prefill, sampling, tokenization, detokenization");
}

}  // namespace ts
