#include "server/metrics.h"

#include <fmt/format.h>

namespace ts {

namespace {

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void scalar(std::string& out, const char* name, const char* type, const char* help, double v) {
  header(out, name, type, help);
  out += fmt::format("{} {}\n", name, v);
}

void histogram(std::string& out, const char* name, const char* help, const Histogram& h) {
  header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, h.bounds[i], cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, h.count, name, h.sum, name, h.count);
}

}  // namespace

std::string prometheus_text(const EngineStats& s, const ServerCounters& c) {
  std::string out;
  header(out, "tinyserve_requests_total", "counter", "Requests finished, by finish reason.");
  out += fmt::format("tinyserve_requests_total{{finish_reason=\"stop\"}} {}\n", s.finished_stop);
  out += fmt::format("tinyserve_requests_total{{finish_reason=\"length\"}} {}\n", s.finished_length);
  out += fmt::format("tinyserve_requests_total{{finish_reason=\"abort\"}} {}\n", s.finished_abort);
  scalar(out, "tinyserve_requests_rejected_total", "counter", "Requests refused with a 4xx before generation.", static_cast<double>(c.rejected));
  scalar(out, "tinyserve_client_disconnects_total", "counter", "Clients that went away before their reply was complete.", static_cast<double>(c.disconnects));
  header(out, "tinyserve_http_responses_total", "counter", "HTTP responses by status code.");
  for (const auto& [status, n] : c.responses_by_status) out += fmt::format("tinyserve_http_responses_total{{code=\"{}\"}} {}\n", status, n);
  scalar(out, "tinyserve_prompt_tokens_total", "counter", "Prompt tokens admitted.", static_cast<double>(s.prompt_tokens));
  scalar(out, "tinyserve_generation_tokens_total", "counter", "Tokens generated.", static_cast<double>(s.generation_tokens));
  scalar(out, "tinyserve_computed_tokens_total", "counter", "Tokens run through the model (prompts, recomputation, decoding).", static_cast<double>(s.computed_tokens));
  scalar(out, "tinyserve_engine_steps_total", "counter", "Engine steps (batched forward passes).", static_cast<double>(s.steps));
  scalar(out, "tinyserve_requests_running", "gauge", "Sequences being generated.", static_cast<double>(s.running));
  scalar(out, "tinyserve_requests_waiting", "gauge", "Sequences waiting for admission.", static_cast<double>(s.waiting));
  scalar(out, "tinyserve_kv_blocks_total", "gauge", "KV cache blocks in the pool.", static_cast<double>(s.kv_blocks_total));
  scalar(out, "tinyserve_kv_blocks_used", "gauge", "KV cache blocks held by sequences.", static_cast<double>(s.kv_blocks_used));
  scalar(out, "tinyserve_kv_blocks_free", "gauge", "KV cache blocks free (cached prefixes included).", static_cast<double>(s.kv_blocks_total - s.kv_blocks_used));
  scalar(out, "tinyserve_kv_block_size_tokens", "gauge", "Tokens per KV cache block.", static_cast<double>(s.kv_block_size));
  scalar(out, "tinyserve_preemptions_total", "counter", "Sequences preempted (to be recomputed) when KV blocks ran out.", static_cast<double>(s.preemptions));
  scalar(out, "tinyserve_prefix_cache_queries_total", "counter", "Prompt blocks looked up in the prefix cache.", static_cast<double>(s.prefix_queries));
  scalar(out, "tinyserve_prefix_cache_hits_total", "counter", "Prompt blocks found in the prefix cache.", static_cast<double>(s.prefix_hits));
  scalar(out, "tinyserve_prefix_cache_hit_rate", "gauge", "Prefix cache hits / queries since start.",
         s.prefix_queries > 0 ? static_cast<double>(s.prefix_hits) / static_cast<double>(s.prefix_queries) : 0.0);
  histogram(out, "tinyserve_time_to_first_token_seconds", "Submission to first generated token.", s.ttft);
  histogram(out, "tinyserve_time_per_output_token_seconds", "Mean time per generated token after the first, per request.", s.tpot);
  histogram(out, "tinyserve_e2e_request_latency_seconds", "Submission to the last token, per completed request.", s.e2e);
  return out;
}

}  // namespace ts
