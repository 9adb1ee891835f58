// Hugging Face checkpoint import on tiny hand-made checkpoints: a valid one loads and runs, and
// each defect of config.json or of the tensors is refused with a message naming it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "formats/gguf/gguf_reader.h"
#include "formats/safetensors/safetensors_reader.h"
#include "model/hf_import.h"
#include "model/model.h"

namespace ts {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Spec {
  std::string dtype = "F32";
  std::vector<int64_t> shape;
};

// Writes model.safetensors with small deterministic values (F32 only needs them to be finite).
void write_safetensors(const fs::path& path, const std::map<std::string, Spec>& tensors) {
  json header = json::object();
  std::vector<uint8_t> data;
  for (const auto& [name, s] : tensors) {
    uint64_t n = 1;
    for (int64_t d : s.shape) n *= static_cast<uint64_t>(d);
    const uint64_t elem = s.dtype == "F32" || s.dtype == "I32" ? 4 : 2;
    const uint64_t begin = data.size();
    for (uint64_t i = 0; i < n; ++i) {
      if (elem == 4) {
        const float v = s.dtype == "F32" ? 0.01f * static_cast<float>((i * 7 + begin) % 13) - 0.06f : 0.0f;
        const auto* p = reinterpret_cast<const uint8_t*>(&v);
        data.insert(data.end(), p, p + 4);
      } else {
        data.insert(data.end(), {0x00, 0x3c});  // 1.0 in f16
      }
    }
    header[name] = {{"dtype", s.dtype}, {"shape", s.shape}, {"data_offsets", {begin, data.size()}}};
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h += ' ';  // keep the buffer 8-byte aligned, as writers do
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = h.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

json gpt2_config() {
  return {{"model_type", "gpt2"}, {"vocab_size", 16}, {"n_positions", 8}, {"n_embd", 8}, {"n_layer", 1},
          {"n_head", 2}, {"layer_norm_epsilon", 1e-5}, {"activation_function", "gelu_new"}};
}

std::map<std::string, Spec> gpt2_tensors() {
  std::map<std::string, Spec> t = {
      {"wte.weight", {"F32", {16, 8}}}, {"wpe.weight", {"F32", {8, 8}}},
      {"ln_f.weight", {"F32", {8}}},    {"ln_f.bias", {"F32", {8}}},
  };
  for (const char* ln : {"ln_1", "ln_2"}) {
    t[std::string("h.0.") + ln + ".weight"] = {"F32", {8}};
    t[std::string("h.0.") + ln + ".bias"] = {"F32", {8}};
  }
  t["h.0.attn.c_attn.weight"] = {"F32", {8, 24}};
  t["h.0.attn.c_attn.bias"] = {"F32", {24}};
  t["h.0.attn.c_proj.weight"] = {"F32", {8, 8}};
  t["h.0.attn.c_proj.bias"] = {"F32", {8}};
  t["h.0.mlp.c_fc.weight"] = {"F32", {8, 32}};
  t["h.0.mlp.c_fc.bias"] = {"F32", {32}};
  t["h.0.mlp.c_proj.weight"] = {"F32", {32, 8}};
  t["h.0.mlp.c_proj.bias"] = {"F32", {8}};
  t["h.0.attn.bias"] = {"F32", {1, 1, 8, 8}};  // a causal-mask buffer old exports keep: ignored
  return t;
}

class HfImport : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ts_hf_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const json& config, const std::map<std::string, Spec>& tensors) {
    std::ofstream(dir_ / "config.json") << config.dump();
    write_safetensors(dir_ / "model.safetensors", tensors);
  }
  // The error import + model construction give, or "ok".
  std::string error() {
    try {
      auto f = import_hf_checkpoint(dir_.string());
      ThreadPool pool(1);
      auto m = load_model(*f, pool, ModelOptions{4});
    } catch (const std::exception& e) {
      return e.what();
    }
    return "ok";
  }
  fs::path dir_;
};

TEST_F(HfImport, TinyGpt2LoadsAndRuns) {
  write(gpt2_config(), gpt2_tensors());
  EXPECT_TRUE(is_hf_checkpoint(dir_.string()));
  EXPECT_TRUE(is_hf_checkpoint((dir_ / "config.json").string()));
  EXPECT_FALSE(is_hf_checkpoint((dir_ / "x.gguf").string()));
  auto f = import_hf_checkpoint(dir_.string());
  // Conv1D [in, out] arrives as [out, in]: GGUF dims {in, out}.
  const auto& qkv = f->tensor("blk.0.attn_qkv.weight");
  EXPECT_EQ(qkv.dims[0], 8);
  EXPECT_EQ(qkv.dims[1], 24);
  EXPECT_EQ(f->find_tensor("blk.0.attn.bias"), nullptr);
  ThreadPool pool(1);
  auto m = load_model(*f, pool, ModelOptions{8});
  KvCache kv(m->config(), 8);
  const int32_t tokens[3] = {1, 5, 9};
  std::vector<float> logits(16);
  m->forward(tokens, 3, 0, kv, logits.data(), false);
  for (float v : logits) EXPECT_TRUE(std::isfinite(v));
  // Learned positions end at n_positions.
  const int32_t more[6] = {1, 2, 3, 4, 5, 6};
  KvCache kv2(m->config(), 16);
  m->forward(more, 6, 0, kv2, logits.data(), false);
  try {
    m->forward(more, 6, 6, kv2, logits.data(), false);
    ADD_FAILURE() << "position 8 accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("learned positions"), std::string::npos) << e.what();
  }
}

TEST_F(HfImport, ConfigErrorsNameTheKey) {
  EXPECT_NE(error().find("no config.json"), std::string::npos);
  std::ofstream(dir_ / "config.json") << "{\"model_type\": ";
  write_safetensors(dir_ / "model.safetensors", gpt2_tensors());
  EXPECT_NE(error().find("not a JSON object"), std::string::npos);
  auto with = [&](const char* key, json value) {
    json c = gpt2_config();
    c[key] = std::move(value);
    write(c, gpt2_tensors());
    return error();
  };
  EXPECT_NE(with("model_type", "bert").find("model_type 'bert' is not supported"), std::string::npos);
  EXPECT_NE(with("n_embd", -8).find("'n_embd' = -8"), std::string::npos);
  EXPECT_NE(with("n_embd", "8").find("'n_embd'"), std::string::npos);
  EXPECT_NE(with("n_layer", 1e12).find("'n_layer'"), std::string::npos);
  EXPECT_NE(with("layer_norm_epsilon", "small").find("'layer_norm_epsilon'"), std::string::npos);
  EXPECT_NE(with("activation_function", "relu").find("activation_function 'relu'"), std::string::npos);
  EXPECT_NE(with("n_positions", 4).find("position_embd.weight"), std::string::npos);  // wpe has 8 rows
}

TEST_F(HfImport, TensorErrorsNameTheTensor) {
  auto t = gpt2_tensors();
  t.erase("h.0.ln_1.bias");
  write(gpt2_config(), t);
  EXPECT_NE(error().find("blk.0.attn_norm.bias"), std::string::npos);
  t = gpt2_tensors();
  t["h.0.mystery.weight"] = {"F32", {8}};
  write(gpt2_config(), t);
  EXPECT_NE(error().find("'h.0.mystery.weight' is not used by the gpt2 architecture"), std::string::npos);
  t = gpt2_tensors();
  t["wte.weight"] = {"I32", {16, 8}};
  write(gpt2_config(), t);
  EXPECT_NE(error().find("'wte.weight' has dtype I32"), std::string::npos);
  t = gpt2_tensors();
  t["h.0.mlp.c_fc.weight"] = {"F32", {8, 30}};
  write(gpt2_config(), t);
  EXPECT_NE(error().find("ffn_up.weight"), std::string::npos);
  t = gpt2_tensors();
  t["h.0.mlp.c_fc.weight"] = {"F32", {8, 4, 8}};
  write(gpt2_config(), t);
  EXPECT_NE(error().find("3 dimensions"), std::string::npos);
}

TEST_F(HfImport, LlamaAndGemmaChecks) {
  json llama = {{"model_type", "llama"},       {"vocab_size", 16},         {"hidden_size", 8},
                {"intermediate_size", 16},     {"num_hidden_layers", 1},   {"num_attention_heads", 2},
                {"num_key_value_heads", 1},    {"rms_norm_eps", 1e-5}};
  std::map<std::string, Spec> t = {
      {"model.embed_tokens.weight", {"F16", {16, 8}}}, {"model.norm.weight", {"F32", {8}}},
      {"model.layers.0.input_layernorm.weight", {"F32", {8}}},
      {"model.layers.0.self_attn.q_proj.weight", {"F16", {8, 8}}},
      {"model.layers.0.self_attn.k_proj.weight", {"F16", {4, 8}}},
      {"model.layers.0.self_attn.v_proj.weight", {"F16", {4, 8}}},
      {"model.layers.0.self_attn.o_proj.weight", {"F16", {8, 8}}},
      {"model.layers.0.post_attention_layernorm.weight", {"F32", {8}}},
      {"model.layers.0.mlp.gate_proj.weight", {"F16", {16, 8}}},
      {"model.layers.0.mlp.up_proj.weight", {"F16", {16, 8}}},
      {"model.layers.0.mlp.down_proj.weight", {"F16", {8, 16}}},
  };
  write(llama, t);
  EXPECT_EQ(error(), "ok");
  auto bad_k = t;
  bad_k["model.layers.0.self_attn.k_proj.weight"] = {"F16", {6, 8}};  // 6 rows: no 2 heads of even size... 1 head of 6
  llama["num_key_value_heads"] = 2;
  write(llama, bad_k);
  EXPECT_NE(error().find("heads of even size"), std::string::npos);
  llama["num_key_value_heads"] = 1;
  llama["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  write(llama, t);
  EXPECT_NE(error().find("rope_scaling type 'yarn'"), std::string::npos);
  llama["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  write(llama, t);
  EXPECT_EQ(error(), "ok");

  json gemma = {{"model_type", "gemma3_text"}, {"vocab_size", 16}, {"hidden_size", 8}, {"intermediate_size", 16},
                {"num_hidden_layers", 2}, {"num_attention_heads", 2}, {"num_key_value_heads", 1}, {"head_dim", 4},
                {"query_pre_attn_scalar", 4}, {"sliding_window", 4},
                {"layer_types", {"sliding_attention", "full_attention"}}};
  std::map<std::string, Spec> g = {{"model.embed_tokens.weight", {"F32", {16, 8}}}, {"model.norm.weight", {"F32", {8}}}};
  for (int i = 0; i < 2; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    for (const char* n : {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"}) {
      g[p + n + ".weight"] = {"F32", {8}};
    }
    g[p + "self_attn.q_norm.weight"] = {"F32", {4}};
    g[p + "self_attn.k_norm.weight"] = {"F32", {4}};
    g[p + "self_attn.q_proj.weight"] = {"F32", {8, 8}};
    g[p + "self_attn.k_proj.weight"] = {"F32", {4, 8}};
    g[p + "self_attn.v_proj.weight"] = {"F32", {4, 8}};
    g[p + "self_attn.o_proj.weight"] = {"F32", {8, 8}};
    g[p + "mlp.gate_proj.weight"] = {"F32", {16, 8}};
    g[p + "mlp.up_proj.weight"] = {"F32", {16, 8}};
    g[p + "mlp.down_proj.weight"] = {"F32", {8, 16}};
  }
  write(gemma, g);
  ASSERT_EQ(error(), "ok");
  {
    auto f = import_hf_checkpoint(dir_.string());
    EXPECT_EQ(f->get_int("gemma3.attention.sliding_window_pattern"), 2);
    // Norm weights w become 1 + w (in f32).
    auto raw = safetensors::Checkpoint::open(dir_.string());
    const auto* hf = raw->find("model.norm.weight");
    ASSERT_NE(hf, nullptr);
    const auto& n = f->tensor("output_norm.weight");
    for (int i = 0; i < 8; ++i) {
      float w = 0.0f, imported = 0.0f;
      std::memcpy(&w, hf->data + 4 * i, 4);
      std::memcpy(&imported, n.data + 4 * i, 4);
      EXPECT_EQ(imported, 1.0f + w);
    }
  }
  gemma["layer_types"] = {"full_attention", "sliding_attention"};
  write(gemma, g);
  EXPECT_NE(error().find("layer_types[1]"), std::string::npos);
  gemma.erase("layer_types");
  gemma["query_pre_attn_scalar"] = 3;
  write(gemma, g);
  EXPECT_NE(error().find("query_pre_attn_scalar 3"), std::string::npos);
}

}  // namespace
}  // namespace ts
