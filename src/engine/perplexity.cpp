#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "base/error.h"

namespace ts {

namespace {

constexpr char kMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};

int64_t packed_row_size(int64_t n_vocab) { return 2 * ((n_vocab + 1) / 2) + 4; }  // uint16 per position

int nearest_int(float v) { return static_cast<int>(std::lrintf(v)); }

// Log-softmax of one position packed as the base file stores it: [scale, min_log_prob] as two
// floats, then log-probs quantized to 16 bits over at most 16 nats below the maximum.
void pack_log_probs(const float* logits, int64_t n_vocab, uint16_t* out) {
  float max_logit = logits[0], min_logit = logits[0];
  for (int64_t i = 1; i < n_vocab; ++i) {
    max_logit = std::max(max_logit, logits[i]);
    min_logit = std::min(min_logit, logits[i]);
  }
  min_logit = std::max(min_logit, max_logit - 16.0f);
  double sum_exp = 0.0;
  for (int64_t i = 0; i < n_vocab; ++i) sum_exp += static_cast<double>(std::exp(logits[i] - max_logit));
  const auto log_sum_exp = static_cast<float>(std::log(sum_exp));
  const float header[2] = {(max_logit - min_logit) / 65535.0f, min_logit - max_logit - log_sum_exp};
  std::memcpy(out, header, sizeof header);
  uint16_t* q = out + 4;
  if (header[0] != 0.0f) {
    const float inv = 1.0f / header[0];
    for (int64_t i = 0; i < n_vocab; ++i) {
      q[i] = logits[i] > min_logit ? static_cast<uint16_t>(nearest_int(inv * (logits[i] - min_logit))) : 0;
    }
  } else {
    std::fill_n(q, n_vocab, uint16_t{0});
  }
}

struct PositionKl {
  double kl;
  bool same_top;
};

PositionKl compare_position(const float* logits, int64_t n_vocab, const uint16_t* base) {
  float scale = 0.0f, min_log_prob = 0.0f;
  std::memcpy(&scale, base, sizeof(float));
  std::memcpy(&min_log_prob, base + 2, sizeof(float));
  const uint16_t* q = base + 4;
  float max_logit = logits[0];
  int64_t our_top = 0;
  for (int64_t i = 1; i < n_vocab; ++i) {
    if (logits[i] > max_logit) {
      max_logit = logits[i];
      our_top = i;
    }
  }
  double sum_exp = 0.0;
  for (int64_t i = 0; i < n_vocab; ++i) sum_exp += static_cast<double>(std::exp(logits[i] - max_logit));
  const double log_sum_exp = std::log(sum_exp);
  double kl = 0.0, base_max = -1e300;
  int64_t base_top = 0;
  // Entries stored as 0 lie at or below the 16-nat floor; their true log-probabilities are
  // unknown, so they are left out of the sum, as llama.cpp's perplexity tool does.
  for (int64_t i = 0; i < n_vocab; ++i) {
    if (q[i] == 0) continue;
    const double base_lp = static_cast<double>(scale) * q[i] + static_cast<double>(min_log_prob);
    const double our_lp = static_cast<double>(logits[i] - max_logit) - log_sum_exp;
    kl += std::exp(base_lp) * (base_lp - our_lp);
    if (base_lp > base_max) {
      base_max = base_lp;
      base_top = i;
    }
  }
  return {kl, base_top == our_top};
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0.0;
  const size_t idx = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(idx), v.end());
  return v[idx];
}

template <typename T>
void read_exact(std::ifstream& in, T* data, size_t count, const std::string& path, const char* what) {
  in.read(reinterpret_cast<char*>(data), static_cast<std::streamsize>(count * sizeof(T)));
  if (!in) fail("{}: truncated KL-divergence base file while reading {}", path, what);
}

}  // namespace

PerplexityResult compute_perplexity(Model& model, const Tokenizer& tokenizer, const std::string& text,
                                    const PerplexityOptions& opt,
                                    const std::function<void(int64_t, double)>& progress) {
  const int64_t n_vocab = model.config().n_vocab;
  int64_t n_ctx = opt.n_ctx;
  if (n_ctx < 8 || n_ctx > model.config().n_ctx_train * 4) fail("--ctx {} is out of range", n_ctx);
  if (!opt.kl_base_in.empty() && !opt.kl_base_out.empty()) fail("cannot read and write a KL-divergence base at once");

  std::vector<int32_t> tokens;
  std::ifstream base_in;
  int64_t n_chunk = 0;
  if (!opt.kl_base_in.empty()) {
    base_in.open(opt.kl_base_in, std::ios::binary);
    if (!base_in) fail("cannot open KL-divergence base file '{}'", opt.kl_base_in);
    char magic[8];
    read_exact(base_in, magic, 8, opt.kl_base_in, "magic");
    if (std::memcmp(magic, kMagic, 8) != 0) fail("{}: not a KL-divergence base file (bad magic)", opt.kl_base_in);
    uint32_t file_ctx = 0;
    int32_t file_vocab = 0, file_chunks = 0;
    read_exact(base_in, &file_ctx, 1, opt.kl_base_in, "n_ctx");
    read_exact(base_in, &file_vocab, 1, opt.kl_base_in, "n_vocab");
    read_exact(base_in, &file_chunks, 1, opt.kl_base_in, "n_chunk");
    if (file_vocab != n_vocab) fail("{}: base has {} vocabulary entries, this model {}", opt.kl_base_in, file_vocab, n_vocab);
    if (file_ctx < 8 || file_ctx > 1u << 20 || file_chunks <= 0 || file_chunks > 1 << 20) {
      fail("{}: implausible header (n_ctx {}, n_chunk {})", opt.kl_base_in, file_ctx, file_chunks);
    }
    n_ctx = file_ctx;
    n_chunk = file_chunks;
    tokens.resize(static_cast<size_t>(n_ctx * n_chunk));
    read_exact(base_in, tokens.data(), tokens.size(), opt.kl_base_in, "tokens");
    for (int32_t t : tokens) {
      if (t < 0 || t >= n_vocab) fail("{}: token id {} outside the vocabulary", opt.kl_base_in, t);
    }
  } else {
    tokens = tokenizer.encode(text, /*add_special=*/true, /*parse_special=*/false);
    n_chunk = static_cast<int64_t>(tokens.size()) / n_ctx;
    if (n_chunk < 1 || static_cast<int64_t>(tokens.size()) < 2 * n_ctx) {
      fail("the text has {} tokens; at least 2 x ctx = {} are needed", tokens.size(), 2 * n_ctx);
    }
  }
  if (opt.max_chunks > 0) n_chunk = std::min(n_chunk, opt.max_chunks);
  if (n_ctx > model.max_batch()) fail("--ctx {} exceeds the model's batch capacity {}", n_ctx, model.max_batch());

  std::ofstream base_out;
  if (!opt.kl_base_out.empty()) {
    base_out.open(opt.kl_base_out, std::ios::binary);
    if (!base_out) fail("cannot create '{}'", opt.kl_base_out);
    const auto ctx32 = static_cast<uint32_t>(n_ctx);
    const auto vocab32 = static_cast<int32_t>(n_vocab), chunk32 = static_cast<int32_t>(n_chunk);
    base_out.write(kMagic, 8);
    base_out.write(reinterpret_cast<const char*>(&ctx32), 4);
    base_out.write(reinterpret_cast<const char*>(&vocab32), 4);
    base_out.write(reinterpret_cast<const char*>(&chunk32), 4);
    base_out.write(reinterpret_cast<const char*>(tokens.data()), static_cast<std::streamsize>(n_ctx * n_chunk * 4));
  }

  const int64_t first = n_ctx / 2;
  const int64_t n_scored_per_chunk = n_ctx - 1 - first;
  const int64_t row = packed_row_size(n_vocab);
  KvCache kv(model.config(), n_ctx, opt.kv_type);
  std::vector<float> logits(static_cast<size_t>(n_ctx * n_vocab));  // [n_ctx, n_vocab]
  std::vector<int32_t> batch(static_cast<size_t>(n_ctx));
  std::vector<uint16_t> packed(static_cast<size_t>(n_scored_per_chunk * row));
  std::vector<double> kls;
  int64_t same_top = 0;
  double nll = 0.0, nll2 = 0.0, base_nll = 0.0;
  int64_t count = 0;
  PerplexityResult r;
  const Vocab& v = tokenizer.vocab();
  for (int64_t c = 0; c < n_chunk; ++c) {
    std::copy_n(tokens.begin() + c * n_ctx, n_ctx, batch.begin());
    if (v.add_bos && v.bos >= 0) batch[0] = v.bos;
    model.forward(batch.data(), n_ctx, 0, kv, logits.data(), true);
    if (base_in.is_open()) read_exact(base_in, packed.data(), packed.size(), opt.kl_base_in, "log-probabilities");
    for (int64_t j = first; j < n_ctx - 1; ++j) {
      const float* lg = logits.data() + j * n_vocab;
      const int32_t target = tokens[static_cast<size_t>(c * n_ctx + j + 1)];
      float max_logit = lg[0];
      for (int64_t i = 1; i < n_vocab; ++i) max_logit = std::max(max_logit, lg[i]);
      double sum_exp = 0.0;
      for (int64_t i = 0; i < n_vocab; ++i) sum_exp += static_cast<double>(std::exp(lg[i] - max_logit));
      const double token_nll = std::log(sum_exp) - static_cast<double>(lg[target] - max_logit);
      nll += token_nll;
      nll2 += token_nll * token_nll;
      ++count;
      uint16_t* slot = packed.data() + (j - first) * row;
      if (base_out.is_open()) pack_log_probs(lg, n_vocab, slot);
      if (base_in.is_open()) {
        const PositionKl k = compare_position(lg, n_vocab, slot);
        kls.push_back(k.kl);
        same_top += k.same_top ? 1 : 0;
        float scale = 0.0f, min_lp = 0.0f;
        std::memcpy(&scale, slot, 4);
        std::memcpy(&min_lp, slot + 2, 4);
        base_nll -= static_cast<double>(scale) * slot[4 + target] + static_cast<double>(min_lp);
      }
    }
    if (base_out.is_open()) {
      base_out.write(reinterpret_cast<const char*>(packed.data()), static_cast<std::streamsize>(packed.size() * 2));
    }
    r.chunk_ppl.push_back(std::exp(nll / static_cast<double>(count)));
    if (progress) progress(c + 1, r.chunk_ppl.back());
  }
  if (base_out.is_open() && !base_out) fail("error writing '{}'", opt.kl_base_out);
  r.n_chunks = n_chunk;
  r.n_scored = count;
  const double mean = nll / static_cast<double>(count);
  r.ppl = std::exp(mean);
  const double var = std::max(0.0, nll2 / static_cast<double>(count) - mean * mean);
  r.ppl_err = r.ppl * std::sqrt(var / static_cast<double>(std::max<int64_t>(1, count - 1)));
  if (!kls.empty()) {
    r.has_kl = true;
    KlStats& s = r.kl;
    s.count = static_cast<int64_t>(kls.size());
    double sum = 0.0, sum2 = 0.0;
    for (double k : kls) {
      sum += k;
      sum2 += k * k;
    }
    s.mean = sum / static_cast<double>(s.count);
    s.mean_err = std::sqrt(std::max(0.0, sum2 / static_cast<double>(s.count) - s.mean * s.mean) /
                           static_cast<double>(std::max<int64_t>(1, s.count - 1)));
    s.same_top = static_cast<double>(same_top) / static_cast<double>(s.count);
    s.base_ppl = std::exp(base_nll / static_cast<double>(s.count));
    s.max = *std::max_element(kls.begin(), kls.end());
    s.min = *std::min_element(kls.begin(), kls.end());
    s.median = percentile(kls, 0.5);
    s.p90 = percentile(kls, 0.90);
    s.p95 = percentile(kls, 0.95);
    s.p99 = percentile(kls, 0.99);
  }
  return r;
}

}  // namespace ts
