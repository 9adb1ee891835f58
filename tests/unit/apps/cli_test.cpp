// The binary answers bad flags and bad files with a clear message and a non-zero exit, and the
// basic commands work on a tiny synthetic model.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "../run_binary.h"

namespace {

using Result = ts::test::RunResult;

Result run(const std::string& args) { return ts::test::run_binary(args); }

const std::string kVocab = std::string(TS_SHARED_DIR) + "/testdata/vocab/ggml-vocab-llama-spm.gguf";

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // ctest runs each case in its own process, concurrently: one file per process.
    model_ = (std::filesystem::temp_directory_path() / ("ts_cli_tiny_" + std::to_string(getpid()) + ".gguf")).string();
    const Result r = run("synth --preset tiny --type q8_0 -o " + model_ + " --seed 3");
    ASSERT_EQ(r.status, 0) << r.output;
  }
  static void TearDownTestSuite() { std::filesystem::remove(model_); }
  static std::string model_;
};
std::string Cli::model_;

TEST_F(Cli, HelpForEverySubcommand) {
  for (const char* sub : {"run", "chat", "tokenize", "inspect", "perplexity", "synth", "chipsim"}) {
    const Result r = run(std::string(sub) + " --help");
    EXPECT_EQ(r.status, 0) << sub;
    EXPECT_NE(r.output.find("--"), std::string::npos) << sub;
  }
}

TEST_F(Cli, BadFlagsAreNamed) {
  Result r = run("run -m " + model_ + " -p hi -n -5");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("n-predict"), std::string::npos) << r.output;
  r = run("run -m " + model_ + " -p hi --temp abc");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("temp"), std::string::npos) << r.output;
  r = run("run -m /nonexistent.gguf -p hi");
  EXPECT_NE(r.status, 0);
  r = run("frobnicate");
  EXPECT_NE(r.status, 0);
  r = run("synth --preset huge -o /tmp/x.gguf");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("unknown preset 'huge'"), std::string::npos) << r.output;
  r = run("run -m " + model_ + " -p hi -n 2 --attention fast");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--attention"), std::string::npos) << r.output;
  r = run("run -m " + model_ + " -p hi -n 2 --kv-type f64");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--kv-type"), std::string::npos) << r.output;
  r = run("perplexity -m " + model_ + " -f " + model_ + " --block-order exact");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--block-order"), std::string::npos) << r.output;
}

// A kernel switch with a value it does not know is named on stderr and ignored; the run goes on.
TEST_F(Cli, BadStreamPrefetchSwitchIsNamedAndIgnored) {
  Result r = ts::test::run_binary("run -m " + model_ + " -p hi -n 2", "TINYSERVE_STREAM_PREFETCH=maybe");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("TINYSERVE_STREAM_PREFETCH='maybe'"), std::string::npos) << r.output;
  for (const char* good : {"1", "2048", "3072:l2"}) {
    r = ts::test::run_binary("run -m " + model_ + " -p hi -n 2", std::string("TINYSERVE_STREAM_PREFETCH=") + good);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output.find("TINYSERVE_STREAM_PREFETCH"), std::string::npos) << good << ": " << r.output;
  }
  r = ts::test::run_binary("run -m " + model_ + " -p hi -n 2", "TINYSERVE_STREAM_PREFETCH=3072:l3");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("TINYSERVE_STREAM_PREFETCH='3072:l3'"), std::string::npos) << r.output;
}

TEST_F(Cli, MalformedModelFileIsRejected) {
  const std::string bad = (std::filesystem::temp_directory_path() / ("ts_bad_" + std::to_string(getpid()) + ".gguf")).string();
  std::ofstream(bad) << "GGUF garbage";
  const Result r = run("run -m " + bad + " -p hi");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("error:"), std::string::npos) << r.output;
  std::filesystem::remove(bad);
}

TEST_F(Cli, TokenizeFollowsLlamaTokenizeConventions) {
  Result r = run("tokenize -m " + kVocab + " -p \"Hello world\" --ids");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, "[1, 15043, 3186]\n");
  r = run("tokenize -m " + kVocab + " -p \"Hello world\" --ids --no-bos");
  EXPECT_EQ(r.output, "[15043, 3186]\n");
}

// Every KV type, attention mode and block order generates; greedy text from the online softmax over an f32
// cache may differ from the exact f16 one only by rounding, so only its shape is checked here.
TEST_F(Cli, RunWithEachKvTypeAndAttention) {
  for (const char* flags : {"--kv-type f32", "--attention online", "--kv-type q8_0 --attention online", "--block-order llamacpp",
                            "--block-order fastest"}) {
    const Result r = run("run -m " + model_ + " -p \"Hello\" -n 4 --temp 0 --json -t 2 " + flags);
    EXPECT_EQ(r.status, 0) << flags << ": " << r.output;
    EXPECT_NE(r.output.find("\"tokens\""), std::string::npos) << flags;
  }
}

TEST_F(Cli, RunJsonAndInspect) {
  Result r = run("run -m " + model_ + " -p \"Hello\" -n 5 --temp 0 --json -t 1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("\"tokens\""), std::string::npos);
  EXPECT_NE(r.output.find("decode_tok_s"), std::string::npos);
  r = run("inspect -m " + model_);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.output.find("layers 2"), std::string::npos) << r.output;
}

// The seed's TinyLlama chip, from the command line: per-projection and per-token times; then
// the same model from its GGUF (the synth model's shape) and bad flags.
TEST_F(Cli, ChipsimSeedParametersAndErrors) {
  Result r = run("chipsim --model tinyllama-1.1b --ideal-mha --other-ms-per-layer 100 --json");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  const auto& ops = j["estimate"]["ops"];
  ASSERT_FALSE(ops.empty());
  EXPECT_NEAR(ops[0]["ms_each"].get<double>(), 349.0, 3.49);
  EXPECT_NEAR(j["estimate"]["pass_ms"].get<double>(), 96800.0, 968.0);
  EXPECT_EQ(j["seed_check"]["layer_tiles"].get<int64_t>(), 802816);
  r = run("chipsim --model tinyllama-1.1b --ideal-mha --other-ms-per-layer 100");
  EXPECT_NE(r.output.find("753,664"), std::string::npos);
  r = run("chipsim --model " + model_ + " --chips 2");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("tensor splitting"), std::string::npos) << r.output;
  r = run("chipsim --compare --compare-models gpt2-small,gemma3-1b --json");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output).size(), 2u);

  r = run("chipsim --model gpt-9");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("preset"), std::string::npos) << r.output;
  r = run("chipsim --model tinyllama-1.1b --sparsity 1.5");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("sparsity"), std::string::npos) << r.output;
  r = run("chipsim");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("exactly one"), std::string::npos) << r.output;
  r = run("chipsim --compare --compare-models gpt2-small,nope");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("nope"), std::string::npos) << r.output;
}

// profile on the tiny model: phases, per-layer and shape statistics, a Chrome trace, perf lines
// at --log-level trace, and chipsim reading the recorded shapes.
TEST_F(Cli, ProfileShapesTraceAndChipsim) {
  const std::string base = (std::filesystem::temp_directory_path() / ("ts_cli_prof_" + std::to_string(getpid()))).string();
  Result r = run("profile -m " + model_ + " --prompt-len 8 --gen 3 --no-limits --json -t 1 --trace-out " + base + ".trace");
  ASSERT_EQ(r.status, 0) << r.output;
  std::ofstream(base + ".json") << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["tokens"].get<int64_t>(), 11);
  EXPECT_EQ(j["phases"]["prefill"]["forwards"].get<int64_t>(), 1);
  EXPECT_EQ(j["phases"]["decode"]["forwards"].get<int64_t>(), 3);
  const int64_t layers = static_cast<int64_t>(j["phases"]["decode"]["attn_ms_per_layer"].size());
  ASSERT_GT(layers, 0);
  int64_t prefill_qkv = 0, decode_qkv = 0;
  for (const auto& s : j["shapes"]) {
    if (s["op"] == "attn_qkv" && s["m"] == 8) prefill_qkv += s["count"].get<int64_t>();
    if (s["op"] == "attn_qkv" && s["m"] == 1) decode_qkv += s["count"].get<int64_t>();
  }
  EXPECT_EQ(prefill_qkv, layers);
  EXPECT_EQ(decode_qkv, 3 * layers);
  std::ifstream trace(base + ".trace");
  const auto t = nlohmann::json::parse(trace);
  EXPECT_GT(t["traceEvents"].size(), 10u);
  EXPECT_EQ(t["traceEvents"][0]["ph"], "X");

  r = run("chipsim --profile " + base + ".json");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("attn_qkv"), std::string::npos);
  r = run("profile -m " + model_ + " --prompt-len 4 --gen 1 --no-limits -t 1 --log-level trace");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("[perf] linear [1x"), std::string::npos);
  EXPECT_NE(r.output.find("[perf] model::forward embedding="), std::string::npos);
  r = run("profile -m " + model_ + " --log-level loud");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("log-level"), std::string::npos) << r.output;
  std::filesystem::remove(base + ".json");
  std::filesystem::remove(base + ".trace");
}

// sweep on the tiny model: fixed CSV columns, one row per context, a report with the summary,
// one PNG per metric when gnuplot is installed, and contexts too short for the generation named.
TEST_F(Cli, SweepWritesCsvPlotsAndReport) {
  const auto dir = std::filesystem::temp_directory_path() / ("ts_cli_sweep_" + std::to_string(getpid()));
  Result r = run("sweep -m " + model_ + " --ctx 16,32 --gen 4 -t 1 --out " + dir.string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream csv(dir / "sweep.csv");
  std::string header, row1, row2, extra;
  std::getline(csv, header);
  std::getline(csv, row1);
  std::getline(csv, row2);
  EXPECT_EQ(header,
            "model,threads,ctx,prompt_tokens,gen_tokens,ttft_ms,prefill_tok_s,decode_ms,decode_ms_per_tok,decode_tok_s,"
            "peak_rss_gb,kv_est_mb,kv_measured_mb");
  EXPECT_NE(row1.find(",1,16,12,4,"), std::string::npos) << row1;
  EXPECT_NE(row2.find(",1,32,28,4,"), std::string::npos) << row2;
  EXPECT_FALSE(std::getline(csv, extra));
  std::ifstream report_in(dir / "report.md");
  const std::string report((std::istreambuf_iterator<char>(report_in)), std::istreambuf_iterator<char>());
  EXPECT_NE(report.find("From context 16 to 32"), std::string::npos) << report;
  if (report.find("No plots") == std::string::npos) {
    for (const char* png : {"ttft_ms.png", "decode_ms_per_tok.png", "kv_measured_mb.png"}) {
      EXPECT_GT(std::filesystem::file_size(dir / png), 1000u) << png;
    }
  }
  EXPECT_NE(r.output.find("[sweep] done (2/2)"), std::string::npos) << r.output;
  r = run("sweep -m " + model_ + " --ctx 4 --gen 8 -t 1 --out " + dir.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("context 4"), std::string::npos) << r.output;
  std::filesystem::remove_all(dir);
}

// bench speed --roofline: every timed decode repetition is bracketed by a bandwidth measurement
// on each side, and the efficiency figures follow from the samples.
TEST_F(Cli, BenchSpeedRooflineBracketsEachDecodeRepetition) {
  Result r = run("bench speed -m " + model_ + " -p 8 -n 4 -r 2 -t 2 --roofline --json");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j["efficiency"].size(), 2u);  // pp8, tg4
  const auto& tg = j["efficiency"][1];
  EXPECT_EQ(tg["test"], "tg4");
  ASSERT_EQ(tg["read_gb_s_before"].size(), 2u);
  ASSERT_EQ(tg["read_gb_s_after"].size(), 2u);
  for (const auto& gb : tg["read_gb_s_after"]) EXPECT_GT(gb.get<double>(), 0.0);
  EXPECT_GT(tg["median_paired_fraction"].get<double>(), 0.0);
  EXPECT_GT(tg["weight_gb_s"].get<double>(), 0.0);
  EXPECT_GT(j["efficiency"][0]["fraction_of_int8_peak"].get<double>(), 0.0);
}

// bench memory: the KV bytes per token computed from the config equal what the cache
// allocates, and projections scale with context and sequences.
TEST_F(Cli, BenchMemoryComputedEqualsMeasured) {
  Result r = run("bench memory -m " + model_ + " --ctx 64,128 --seqs 1,4 --json");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  const double est = j["kv_bytes_per_token_est"].get<double>();
  EXPECT_GT(est, 0.0);
  EXPECT_DOUBLE_EQ(est, j["kv_bytes_per_token_measured"].get<double>());
  ASSERT_EQ(j["projections"].size(), 4u);
  EXPECT_DOUBLE_EQ(j["projections"][3]["kv_bytes"].get<double>(), est * 128 * 4);
  EXPECT_GT(j["ram_bytes"].get<double>(), j["peak_rss_bytes"].get<double>());
  r = run("bench memory -m " + model_ + " --seqs 0");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("seqs"), std::string::npos) << r.output;
}

// The serving benchmark suite: every request accounted for, timings ordered (TTFT <= end to
// end), shares summing to one, CSV written; bad flags named. No -m: the tiny synth default.
TEST_F(Cli, ServingBenchSuite) {
  const std::string opts = " -p 24 -n 6 --no-limits --json -t 1";
  Result r = run("bench throughput -m " + model_ + opts + " --requests 3");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j["rows"].size(), 3u);
  EXPECT_EQ(j["rows"][2]["in_flight"].get<int>(), 3);
  for (const auto& row : j["rows"]) EXPECT_GT(row["gen_tok_s"].get<double>(), 0.0);

  r = run("bench latency -m " + model_ + opts + " --requests 2");
  ASSERT_EQ(r.status, 0) << r.output;
  j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j["rows"].size(), 2u);
  for (const auto& row : j["rows"]) {
    EXPECT_EQ(row["gen_tokens"].get<int>(), 6);
    EXPECT_EQ(row["prompt_tokens"].get<int>(), 24 + 1);  // + BOS
    EXPECT_GT(row["ttft_ms"].get<double>(), 0.0);
    EXPECT_LE(row["ttft_ms"].get<double>(), row["e2e_ms"].get<double>());
  }

  const std::string csv = (std::filesystem::temp_directory_path() / ("ts_scal_" + std::to_string(getpid()) + ".csv")).string();
  r = run("bench scalability -m " + model_ + opts + " --concurrency 1,3 --csv " + csv);
  ASSERT_EQ(r.status, 0) << r.output;
  j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j["rows"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["rows"][0]["speedup"].get<double>(), 1.0);
  std::ifstream in(csv);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << text;
  std::filesystem::remove(csv);

  r = run("bench breakdown" + opts + " --requests 2");  // no -m: a tiny synth model
  ASSERT_EQ(r.status, 0) << r.output;
  j = nlohmann::json::parse(r.output);
  double share = 0.0;
  for (const auto& row : j["rows"]) share += row["share"].get<double>();
  EXPECT_NEAR(share, 1.0, 1e-6);
  EXPECT_EQ(j["rows"][1]["part"], "prefill forward");
  EXPECT_GE(j["rows"][1]["count"].get<int>(), 1);

  r = run("bench scalability -m " + model_ + " --concurrency 0");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("concurrency"), std::string::npos) << r.output;
}

}  // namespace
