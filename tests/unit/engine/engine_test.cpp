// The serving engine over a real (tiny, random-weight) model: whatever the batch around it, the
// chunking of its prompt, a shared prefix served from the cache or a preemption, each greedy
// request produces exactly what it produces alone through single-sequence generation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include <unistd.h>

#include "apps/common.h"
#include "apps/synth.h"
#include "engine/engine.h"
#include "engine/generate.h"

namespace ts {
namespace {

// ctest runs each test in its own process, two at a time: a file per process, so that one
// process never rewrites the model another has mapped.
std::string temp_model_path(const std::string& stem) {
  return (std::filesystem::temp_directory_path() / (stem + "_" + std::to_string(::getpid()) + ".gguf")).string();
}

// A tiny random-weight Llama of the given weight type, loaded for 2 threads and batches of 64;
// the file is gone once it is mapped.
LoadedModel load_tiny_synth(const std::string& stem, DType type, uint64_t seed) {
  const std::string path = temp_model_path(stem);
  write_synth_model(synth_preset("tiny"), type, std::string(TS_SHARED_DIR) + "/testdata/vocab/ggml-vocab-llama-spm.gguf", seed, path);
  LoadedModel loaded = load_everything(path, 2, 64);
  std::filesystem::remove(path);
  return loaded;
}

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = temp_model_path("ts_engine_tiny");
    write_synth_model(synth_preset("tiny"), DType::Q4_0, std::string(TS_SHARED_DIR) + "/testdata/vocab/ggml-vocab-llama-spm.gguf", 3, path_);
    model_ = new LoadedModel(load_everything(path_, 2, 64));
  }
  static void TearDownTestSuite() {
    delete model_;
    std::filesystem::remove(path_);
  }

  static std::vector<int32_t> prompt(int64_t len, int32_t salt) {
    std::vector<int32_t> p = {1};
    for (int64_t i = 1; i < len; ++i) p.push_back(static_cast<int32_t>(100 + (i * 37 + salt * 101) % 20000));
    return p;
  }
  static RequestOptions greedy(std::vector<int32_t> p, int32_t max_tokens) {
    RequestOptions r;
    r.prompt = std::move(p);
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0.0f;
    r.ignore_eos = true;
    return r;
  }
  static std::string alone(const RequestOptions& r, KvType kv_type = KvType::kF16) {
    KvCache kv(model_->model->config(), static_cast<int64_t>(r.prompt.size()) + r.max_tokens, kv_type);
    GenerateOptions opt;
    opt.max_tokens = r.max_tokens;
    opt.sampling = r.sampling;
    opt.ignore_eos = r.ignore_eos;
    return generate(*model_->model, *model_->tokenizer, kv, r.prompt, opt, {}).text;
  }

  struct Collected {
    std::string text;
    std::string finish_reason;
    int64_t completion_tokens = -1;
    int64_t cached_tokens = 0;
  };
  // Submits every request, steps until all are done, and returns what each streamed.
  static std::map<int64_t, Collected> run_all(Engine& engine, const std::vector<RequestOptions>& requests,
                                              std::vector<int64_t>* ids = nullptr, int abort_after_steps = -1,
                                              const std::vector<size_t>& to_abort = {}) {
    std::map<int64_t, Collected> out;
    std::vector<int64_t> local;
    for (const auto& r : requests) {
      const int64_t id = engine.submit(r, [&out, id_slot = local.size(), &local](const RequestUpdate& u) {
        Collected& c = out[local[id_slot]];
        c.text += u.text;
        if (u.finished) {
          c.finish_reason = u.finish_reason;
          c.completion_tokens = u.completion_tokens;
          c.cached_tokens = u.cached_tokens;
        }
      });
      local.push_back(id);
    }
    int steps = 0;
    while (engine.step()) {
      if (++steps == abort_after_steps) {
        for (size_t i : to_abort) engine.abort(local[i]);
      }
      EXPECT_LT(steps, 10000) << "watchdog";
      if (steps >= 10000) break;
    }
    if (ids) *ids = local;
    return out;
  }

  static EngineConfig config(int64_t seqs, int64_t budget_tokens, int64_t kv_bytes) {
    EngineConfig c;
    c.scheduler = {seqs, budget_tokens, 256};
    c.block_size = 16;
    c.kv_budget_bytes = kv_bytes;
    return c;
  }

  static inline std::string path_;
  static inline LoadedModel* model_ = nullptr;
};

struct EngineTestAccess : EngineTest {
  using EngineTest::prompt;
};

TEST_F(EngineTest, BatchedGreedyEqualsAlone) {
  Engine engine(*model_->model, *model_->tokenizer, config(8, 48, 64 << 20));
  std::vector<RequestOptions> reqs;
  for (int i = 0; i < 10; ++i) reqs.push_back(greedy(prompt(3 + 11 * i, i), 6 + i % 5));  // up to 102 tokens: chunked
  std::vector<int64_t> ids;
  const auto out = run_all(engine, reqs, &ids);
  for (size_t i = 0; i < reqs.size(); ++i) {
    const Collected& c = out.at(ids[i]);
    EXPECT_EQ(c.finish_reason, "length");
    EXPECT_EQ(c.completion_tokens, reqs[i].max_tokens);
    EXPECT_FALSE(c.text.empty());
    EXPECT_EQ(c.text, alone(reqs[i])) << "request " << i;
  }
  const EngineStats s = engine.stats();
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_EQ(s.finished_length, 10);
  EXPECT_EQ(s.running + s.waiting, 0);
}

// With a Q8_0 cache every query still sums over its keys in order, whatever the batch: batched
// greedy requests equal their single-sequence runs over a Q8_0 cache, in 34/64 of the f16 memory.
TEST_F(EngineTest, Q8_0CacheBatchedGreedyEqualsAloneInLessMemory) {
  EngineConfig cfg = config(8, 48, 64 << 20);
  cfg.kv_type = KvType::kQ8_0;
  Engine engine(*model_->model, *model_->tokenizer, cfg);
  const ModelConfig& mc = model_->model->config();
  const int64_t q8_block = KvStore::bytes_per_block(mc.n_layer, mc.kv_dim(), 16, KvType::kQ8_0, mc.head_dim);
  EXPECT_EQ(q8_block * 64, KvStore::bytes_per_block(mc.n_layer, mc.kv_dim(), 16) * 34);
  EXPECT_EQ(engine.num_kv_blocks(), (int64_t{64} << 20) / q8_block);
  std::vector<RequestOptions> reqs;
  for (int i = 0; i < 10; ++i) reqs.push_back(greedy(prompt(3 + 11 * i, i), 6 + i % 5));
  std::vector<int64_t> ids;
  const auto out = run_all(engine, reqs, &ids);
  int differs_from_f16 = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const Collected& c = out.at(ids[i]);
    EXPECT_EQ(c.completion_tokens, reqs[i].max_tokens);
    EXPECT_EQ(c.text, alone(reqs[i], KvType::kQ8_0)) << "request " << i;
    differs_from_f16 += c.text != alone(reqs[i]) ? 1 : 0;
  }
  EXPECT_EQ(engine.stats().kv_blocks_used, 0);
  std::printf("q8_0 cache: %d of %zu greedy texts differ from the f16 cache's\n", differs_from_f16, reqs.size());
}

TEST_F(EngineTest, PromptChunkingDoesNotChangeTheResult) {
  // A 10-token budget splits a 21-token prompt into 10 + 10 + 1 and a 30-token one into three
  // chunks that share steps with the other's decoding.
  Engine engine(*model_->model, *model_->tokenizer, config(4, 10, 64 << 20));
  const std::vector<RequestOptions> reqs = {greedy(prompt(21, 5), 12), greedy(prompt(30, 6), 12), greedy({1}, 8)};
  std::vector<int64_t> ids;
  const auto out = run_all(engine, reqs, &ids);
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(out.at(ids[i]).text, alone(reqs[i])) << i;
}

// Bit level: a prompt run as chunks of 10, 10 and 1 tokens through scattered blocks, batched
// with another sequence's prompt and decode steps, gives exactly the logits of one call alone;
// with either attention and every KV type (the online softmax's runs end at the 16-row blocks
// here and at 64 keys in the contiguous cache: that must not change a bit either).
// Prompt a (21 tokens) run alone, and the same prompt spread over three batched steps next to
// another sequence b (prefill chunks, b's decode steps, a's last token alone): a's last logits
// from both, [n_vocab] each.
std::pair<std::vector<float>, std::vector<float>> logits_alone_and_batched(Model& model, KvType type) {
  const ModelConfig& c = model.config();
  const auto V = static_cast<size_t>(c.n_vocab);
  const auto a = EngineTestAccess::prompt(21, 8), b = EngineTestAccess::prompt(12, 9);
  std::vector<float> want(V), got(2 * V);
  {
    KvCache kv(c, 100, type);
    model.forward(a.data(), 21, 0, kv, want.data(), false);
  }
  KvStore store(c.n_layer, c.kv_dim(), 16, 6, type, c.head_dim);
  const int32_t table_a[2] = {4, 1}, table_b[2] = {0, 5};
  const int32_t b_next[2] = {17, 23};
  // step 1: a[0..10) (no logits) + all of b
  SeqChunk s1[2] = {{a.data(), 10, 0, table_a, 2, LogitRows::kNone, 21}, {b.data(), 12, 0, table_b, 2, LogitRows::kLast, 12}};
  model.forward_batch(s1, store, got.data());
  // step 2: b decodes a token, then a[10..20)
  SeqChunk s2[2] = {{&b_next[0], 1, 12, table_b, 2, LogitRows::kLast, 12}, {a.data() + 10, 10, 10, table_a, 2, LogitRows::kNone, 21}};
  model.forward_batch(s2, store, got.data());
  // step 3: a's last prompt token alone in its chunk, next to b's decode
  SeqChunk s3[2] = {{&b_next[1], 1, 13, table_b, 2, LogitRows::kLast, 12}, {a.data() + 20, 1, 20, table_a, 2, LogitRows::kLast, 21}};
  model.forward_batch(s3, store, got.data());
  return {want, std::vector<float>(got.begin() + static_cast<std::ptrdiff_t>(V), got.end())};
}

TEST_F(EngineTest, BatchedChunksGiveBitIdenticalLogits) {
  // F32 weights: no activation quantization to absorb a difference in summation order.
  LoadedModel loaded = load_tiny_synth("ts_engine_tiny_f32", DType::F32, 4);
  Model& model = *loaded.model;
  const std::pair<KvType, AttentionMode> setups[] = {{KvType::kF16, AttentionMode::kExact},
                                                     {KvType::kF16, AttentionMode::kOnline},
                                                     {KvType::kQ8_0, AttentionMode::kOnline},
                                                     {KvType::kF32, AttentionMode::kExact}};  // f32: online anyway
  for (const auto& [type, mode] : setups) {
    SCOPED_TRACE(std::string(kv_type_name(type)) + (mode == AttentionMode::kOnline ? " online" : " exact"));
    model.set_attention_mode(mode);
    const auto [want, got] = logits_alone_and_batched(model, type);
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0) << "a's logits differ from the unbatched run";
  }
  model.set_attention_mode(AttentionMode::kExact);
}

// With `tap` set: the prompt's logits (every row, or none), then those of `steps` decode steps
// of tokens first, first + stride, ... ([rows, n_vocab] one after another).
std::vector<float> prompt_then_steps(Model& model, TensorTap* tap, const std::vector<int32_t>& prompt, bool prompt_logits,
                                     int64_t steps, int32_t first, int32_t stride) {
  const ModelConfig& c = model.config();
  const auto n = static_cast<int64_t>(prompt.size());
  model.set_tap(tap);
  KvCache kv(c, n + steps);
  std::vector<float> logits(static_cast<size_t>(n * c.n_vocab));  // [n, n_vocab]
  model.forward(prompt.data(), n, 0, kv, logits.data(), prompt_logits);
  std::vector<float> out;
  if (prompt_logits) out = logits;
  for (int64_t i = 0; i < steps; ++i) {
    const int32_t t = static_cast<int32_t>(first + stride * i);
    model.forward(&t, 1, n + i, kv, logits.data(), false);
    out.insert(out.end(), logits.begin(), logits.begin() + c.n_vocab);
  }
  model.set_tap(nullptr);
  return out;
}

// With packed weights the residual add, RMSNorm and the activation quantization run as one pass
// per row; with a tap set (which wants the tensors between) they run as separate ops. Both give
// the same logits bit for bit, prompt and decode steps, and the tap still sees every tensor.
TEST_F(EngineTest, FusedNormQuantizationGivesTheSeparateOpsLogits) {
  Model& model = *model_->model;
  const ModelConfig& c = model.config();
  struct CountingTap : TensorTap {
    std::map<std::string, int> seen;
    void on_tensor(const char* name, int64_t, const float*, int64_t, int64_t) override { ++seen[name]; }
  };
  const auto p = prompt(20, 7);
  auto run = [&](TensorTap* tap) { return prompt_then_steps(model, tap, p, true, 4, 100, 1); };
  CountingTap tap;
  const auto fused = run(nullptr);
  const auto separate = run(&tap);
  ASSERT_EQ(fused.size(), separate.size());
  EXPECT_EQ(std::memcmp(fused.data(), separate.data(), fused.size() * sizeof(float)), 0);
  const int passes = 5;  // the prompt and 4 steps
  for (const char* name : {"attn_norm", "ffn_norm", "ffn_inp", "l_out"}) {
    EXPECT_EQ(tap.seen[name], passes * static_cast<int>(c.n_layer)) << name;
  }
}

// A decode step of one token on 2 threads runs split (Decoder::forward_split_decode): each
// thread its heads and FFN columns, two barriers per layer. It gives the op-by-op path's logits
// bit for bit (a tap forces that path), for Q4_0 and Q8_0, over enough steps that the cache
// spans several blocks; in llama.cpp's block order nothing is split. (On this tiny model the
// two orders' Q4_0 logits happen to agree, the int8 inputs of each product absorbing the last-bit
// differences of wo and down; its Q8_0 logits differ by ~1e-2, so the bitwise check has teeth.)
TEST_F(EngineTest, SplitDecodeStepsGiveTheOpByOpLogits) {
  struct IgnoringTap : TensorTap {
    void on_tensor(const char*, int64_t, const float*, int64_t, int64_t) override {}
  };
  for (DType type : {DType::Q4_0, DType::Q8_0}) {
    SCOPED_TRACE(std::string(dtype_name(type)));
    LoadedModel loaded = load_tiny_synth("ts_engine_tiny_split", type, 11);
    Model& model = *loaded.model;
    ASSERT_EQ(model.block_order(), BlockOrder::kFastest);
    EXPECT_EQ(model.split_decode_threads(), 2);
    const auto p = prompt(5, 12);
    auto run = [&](TensorTap* tap) { return prompt_then_steps(model, tap, p, false, 40, 200, 7); };
    IgnoringTap tap;
    const auto split = run(nullptr);
    const auto op_by_op = run(&tap);
    ASSERT_EQ(split.size(), op_by_op.size());
    EXPECT_EQ(std::memcmp(split.data(), op_by_op.data(), split.size() * sizeof(float)), 0);
    model.set_block_order(BlockOrder::kLlamaCpp);
    EXPECT_EQ(model.split_decode_threads(), 1);
    model.set_block_order(BlockOrder::kFastest);
    EXPECT_EQ(model.split_decode_threads(), 2);
    EXPECT_EQ(run(nullptr), split);  // the columns back in runs after the round trip: same bits
  }
}

// The two Q8_0 block orders differ in rounding only. Measured on the tiny model: max |logit
// difference| 1.2e-7 (AVX2 without VNNI, the one CPU kind where they differ).
constexpr double kBlockOrdersLogitAbs = 1e-5;

TEST_F(EngineTest, Q8_0BlockOrdersAreBatchInvariantAndAgree) {
  LoadedModel loaded = load_tiny_synth("ts_engine_tiny_q8_0", DType::Q8_0, 6);
  Model& model = *loaded.model;
  EXPECT_EQ(model.block_order(), BlockOrder::kFastest);  // Llama's default
  std::vector<float> by_order[2];
  for (BlockOrder order : {BlockOrder::kLlamaCpp, BlockOrder::kFastest}) {
    SCOPED_TRACE(block_order_name(order));
    model.set_block_order(order);
    EXPECT_EQ(model.block_order(), order);
    // One order for every batch size: decode steps and prompt chunks sum alike.
    auto [want, got] = logits_alone_and_batched(model, KvType::kF16);
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0) << "a's logits differ from the unbatched run";
    by_order[static_cast<int>(order)] = std::move(want);
  }
  double d = 0.0;
  for (size_t i = 0; i < by_order[0].size(); ++i) {
    d = std::max(d, std::fabs(static_cast<double>(by_order[0][i]) - static_cast<double>(by_order[1][i])));
  }
  std::printf("max |logit difference| between the block orders: %.2e\n", d);
  EXPECT_LE(d, kBlockOrdersLogitAbs);
  if (fastest_differs(DType::Q8_0, BlockOrder::kFastest)) {
    EXPECT_GT(d, 0.0);  // the exact order is really taken
  } else if (model.split_decode_threads() == 1) {
    EXPECT_EQ(d, 0.0);
  }
  // (Split in the fastest order, wo and down sum their columns in two runs: their outputs move
  // in the last bits, which the int8 quantization of the next product's input mostly absorbs.)
}

// The two attentions differ only in rounding: the exact one rounds queries and weights to f16
// as llama.cpp does, the online one keeps f32. Their outputs at the first layer, where both
// see the same queries, keys and values, agree to about f16's precision; the logits stay close.
constexpr double kOnlineVsExactAttnRel = 2e-3;   // max |difference| / max |exact output|, layer 0
constexpr double kOnlineVsExactLogitAbs = 5e-3;  // max |logit difference| after both layers

TEST_F(EngineTest, OnlineAttentionAgreesWithExactToF16Precision) {
  LoadedModel loaded = load_tiny_synth("ts_engine_tiny_f32_attn", DType::F32, 5);
  Model& model = *loaded.model;
  const ModelConfig& c = model.config();
  struct Layer0Attention : TensorTap {
    std::vector<float> out;
    void on_tensor(const char* name, int64_t layer, const float* data, int64_t rows, int64_t cols) override {
      if (layer == 0 && std::string(name) == "kqv_out") out.assign(data, data + rows * cols);
    }
  };
  const auto p = prompt(50, 3);
  auto run = [&](AttentionMode mode, KvType type, Layer0Attention& tap) {
    model.set_attention_mode(mode);
    model.set_tap(&tap);
    KvCache kv(c, 64, type);
    std::vector<float> logits(static_cast<size_t>(50 * c.n_vocab));
    model.forward(p.data(), 50, 0, kv, logits.data(), true);
    model.set_tap(nullptr);
    return logits;
  };
  Layer0Attention exact, online, f32;
  const auto l_exact = run(AttentionMode::kExact, KvType::kF16, exact);
  const auto l_online = run(AttentionMode::kOnline, KvType::kF16, online);
  const auto l_f32 = run(AttentionMode::kOnline, KvType::kF32, f32);
  model.set_attention_mode(AttentionMode::kExact);
  ASSERT_EQ(exact.out.size(), static_cast<size_t>(50 * c.q_dim()));
  double peak = 0.0, d_online = 0.0, d_f32 = 0.0, d_logit = 0.0;
  for (size_t i = 0; i < exact.out.size(); ++i) {
    peak = std::max(peak, std::fabs(static_cast<double>(exact.out[i])));
    d_online = std::max(d_online, std::fabs(static_cast<double>(online.out[i]) - static_cast<double>(exact.out[i])));
    d_f32 = std::max(d_f32, std::fabs(static_cast<double>(f32.out[i]) - static_cast<double>(exact.out[i])));
  }
  for (size_t i = 0; i < l_exact.size(); ++i) {
    d_logit = std::max(d_logit, std::fabs(static_cast<double>(l_online[i]) - static_cast<double>(l_exact[i])));
  }
  std::printf("layer 0 attention, max |online - exact| / max |exact|: %.2e (f16 cache), %.2e (f32 cache); logits %.2e\n",
              d_online / peak, d_f32 / peak, d_logit);
  EXPECT_GT(d_online, 0.0);  // the online path is really taken
  EXPECT_LE(d_online / peak, kOnlineVsExactAttnRel);
  EXPECT_LE(d_f32 / peak, kOnlineVsExactAttnRel);
  EXPECT_LE(d_logit, kOnlineVsExactLogitAbs);
}

TEST_F(EngineTest, SharedPrefixIsReusedAndGivesTheSameText) {
  Engine engine(*model_->model, *model_->tokenizer, config(4, 64, 64 << 20));
  const auto system = prompt(40, 99);
  std::vector<RequestOptions> reqs;
  for (int i = 0; i < 4; ++i) {
    auto p = system;
    for (int j = 0; j <= i; ++j) p.push_back(300 + 7 * i + j);
    reqs.push_back(greedy(p, 5));
  }
  run_all(engine, {reqs[0]});  // the first one fills the cache
  std::vector<int64_t> ids;
  const auto out = run_all(engine, {reqs.begin() + 1, reqs.end()}, &ids);
  for (size_t i = 0; i + 1 < reqs.size(); ++i) {
    EXPECT_EQ(out.at(ids[i]).cached_tokens, 32) << "two full blocks of the shared 40 tokens";
    EXPECT_EQ(out.at(ids[i]).text, alone(reqs[i + 1]));
  }
  EXPECT_GE(engine.stats().prefix_hits, 6);
}

TEST_F(EngineTest, PreemptedRequestsRecomputeToTheSameText) {
  // Room for 10 blocks of 16 tokens: six 30-token prompts growing by 30 cannot all stay resident.
  const ModelConfig& c = model_->model->config();
  Engine engine(*model_->model, *model_->tokenizer, config(6, 64, 10 * KvStore::bytes_per_block(c.n_layer, c.kv_dim(), 16)));
  std::vector<RequestOptions> reqs;
  for (int i = 0; i < 6; ++i) reqs.push_back(greedy(prompt(30, 50 + i), 30));
  std::vector<int64_t> ids;
  const auto out = run_all(engine, reqs, &ids);
  EXPECT_GT(engine.stats().preemptions, 0);
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(out.at(ids[i]).text, alone(reqs[i])) << i;
  EXPECT_EQ(engine.stats().kv_blocks_used, 0);
}

TEST_F(EngineTest, AbortedRequestsFreeTheirBlocksAndOthersAreUnaffected) {
  Engine engine(*model_->model, *model_->tokenizer, config(16, 64, 64 << 20));
  std::vector<RequestOptions> reqs;
  for (int i = 0; i < 12; ++i) reqs.push_back(greedy(prompt(20, 200 + i), 25));
  std::vector<int64_t> ids;
  const std::vector<size_t> to_abort = {1, 4, 7, 10};
  const auto out = run_all(engine, reqs, &ids, 8, to_abort);
  for (size_t i = 0; i < reqs.size(); ++i) {
    const bool aborted = std::find(to_abort.begin(), to_abort.end(), i) != to_abort.end();
    EXPECT_EQ(out.at(ids[i]).finish_reason, aborted ? "abort" : "length") << i;
    if (!aborted) {
      EXPECT_EQ(out.at(ids[i]).text, alone(reqs[i])) << i;
    }
  }
  EXPECT_EQ(engine.stats().finished_abort, 4);
  EXPECT_EQ(engine.stats().kv_blocks_used, 0);
}

TEST_F(EngineTest, RejectsRequestsThatCanNeverRun) {
  Engine engine(*model_->model, *model_->tokenizer, config(4, 64, 64 << 20));
  EXPECT_THROW(engine.submit(greedy({}, 4), {}), RequestRejected);
  EXPECT_THROW(engine.submit(greedy(prompt(10, 1), 0), {}), RequestRejected);
  EXPECT_THROW(engine.submit(greedy(prompt(250, 1), 10), {}), RequestRejected);  // context 256
  EXPECT_THROW(engine.submit(greedy({1, -5}, 4), {}), RequestRejected);
  EXPECT_THROW(engine.submit(greedy({1, 1 << 30}, 4), {}), RequestRejected);
  RequestOptions bad = greedy(prompt(5, 1), 4);
  bad.sampling.top_p = 2.0f;
  EXPECT_THROW(engine.submit(bad, {}), RequestRejected);
  bad = greedy(prompt(5, 1), 4);
  bad.stop = {""};
  EXPECT_THROW(engine.submit(bad, {}), RequestRejected);
  EXPECT_FALSE(engine.step());
}

TEST_F(EngineTest, LoopThreadServesConcurrentSubmitters) {
  Engine engine(*model_->model, *model_->tokenizer, config(8, 64, 64 << 20));
  engine.start();
  std::mutex m;
  std::condition_variable cv;
  std::map<int64_t, std::string> texts;
  int done = 0;
  std::vector<std::thread> clients;
  std::vector<RequestOptions> reqs;
  for (int i = 0; i < 8; ++i) reqs.push_back(greedy(prompt(10 + i, 400 + i), 8));
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      engine.submit(reqs[static_cast<size_t>(i)], [&, i](const RequestUpdate& u) {
        std::lock_guard<std::mutex> lock(m);
        texts[i] += u.text;
        if (u.finished) {
          ++done;
          cv.notify_all();
        }
      });
    });
  }
  for (auto& t : clients) t.join();
  {
    std::unique_lock<std::mutex> lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == 8; }));
  }
  engine.stop();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(texts[i], alone(reqs[static_cast<size_t>(i)])) << i;
}

}  // namespace
}  // namespace ts
