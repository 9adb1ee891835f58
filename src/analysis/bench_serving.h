#pragma once
// The serving benchmark suite (bench throughput, latency, scalability, breakdown): text requests
// through the serving engine (tokenized, scheduled, batched, sampled, detokenized; no HTTP), with
// at most `concurrency` requests in flight, timed per request and per engine step.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/roofline.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace ts {

struct ServingBenchOptions {
  int64_t prompt = 128;             // prompt tokens per request (text cut to this many tokens)
  int64_t gen = 64;                 // generated tokens per request (greedy, end of text ignored)
  int64_t requests = 8;             // requests per run (throughput, latency)
  std::vector<int64_t> concurrency = {1, 2, 4, 8, 16};  // scalability levels
  int64_t max_batched_tokens = 512;
};

struct RequestTiming {
  int64_t prompt_tokens = 0, gen_tokens = 0;
  double tokenize_ms = 0, ttft_ms = 0, tpot_ms = 0, e2e_ms = 0;  // ttft and e2e from submission
};

struct ServingRun {
  int64_t requests = 0, concurrency = 0;
  std::vector<RequestTiming> timings;  // [requests]
  double wall_ms = 0;
  int64_t generated = 0;
  // Per engine step (milliseconds): model forward of steps with and without prompt chunks,
  // sampling and detokenization (text streaming) of every step.
  std::vector<double> prefill_forward_ms, decode_forward_ms, sampling_ms, detokenize_ms;
  int64_t prompt_tokens = 0;
  double gen_tok_s() const { return static_cast<double>(generated) / (wall_ms / 1e3); }
  // Prompt and generated tokens together: what the model processed per second.
  double total_tok_s() const { return static_cast<double>(generated + prompt_tokens) / (wall_ms / 1e3); }
};

// Runs n_requests requests, at most `concurrency` in flight (1: one after another). Prompts are
// different slices of a built-in English text, cut to options.prompt tokens.
ServingRun run_serving(Model& model, const Tokenizer& tokenizer, const ServingBenchOptions& options, int64_t n_requests,
                       int64_t concurrency);

// Ceilings for the tables: decode tok/s of one sequence (bandwidth), n sequences sharing each
// weight read (bounded by the int8 compute ceiling), and prefill tok/s (compute).
struct ServingCeilings {
  double decode_tok_s = 0, prefill_tok_s = 0;
  double decode_tok_s_for(int64_t n_seqs) const;
};
std::optional<ServingCeilings> serving_ceilings(const MachineLimits* m, const ModelCost* cost);

struct ServingReport {
  std::string markdown;
  nlohmann::json json;
  std::string csv;
};

// throughput: one request; N one after another; N at once; the concurrent/sequential speedup.
ServingReport throughput_report(const ServingRun& single, const ServingRun& sequential, const ServingRun& concurrent,
                                const std::optional<ServingCeilings>& ceil);
// latency: TTFT, TPOT, end-to-end per request, and their medians.
ServingReport latency_report(const ServingRun& run, const std::optional<ServingCeilings>& ceil);
// scalability: generated tok/s at each concurrency, speedup over 1 and efficiency (speedup / n).
ServingReport scalability_report(const std::vector<ServingRun>& runs, const std::optional<ServingCeilings>& ceil);
// breakdown: medians and shares of decode forward, prefill, sampling, tokenization, detokenization.
ServingReport breakdown_report(const ServingRun& run, const std::optional<ServingCeilings>& ceil);

}  // namespace ts
