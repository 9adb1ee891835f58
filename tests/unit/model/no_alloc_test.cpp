// Decoding a token must not touch the heap: forward passes use preallocated buffers.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "apps/common.h"
#include "apps/synth.h"
#include "engine/sampler.h"

#include "../counting_allocator.h"

namespace ts {
namespace {

TEST(NoAlloc, DecodeStepsAndSamplingDoNotAllocate) {
  const std::string path = (std::filesystem::temp_directory_path() / ("ts_noalloc_tiny_" + std::to_string(::getpid()) + ".gguf")).string();
  write_synth_model(synth_preset("tiny"), DType::Q4_0, std::string(TS_SHARED_DIR) + "/testdata/vocab/ggml-vocab-llama-spm.gguf", 1, path);
  for (int threads : {1, 2}) {
    for (AttentionMode mode : {AttentionMode::kExact, AttentionMode::kOnline}) {
      LoadedModel m = load_everything(path, threads, 32);
      m.model->set_attention_mode(mode);
      KvCache kv(m.model->config(), 64);
      std::vector<float> logits(static_cast<size_t>(m.model->config().n_vocab));
      std::vector<int32_t> history = {1, 450, 4996};
      history.reserve(64);
      m.model->forward(history.data(), 3, 0, kv, logits.data(), false);
      SamplingParams sp;
      sp.temperature = 0.8f;
      sp.repeat_penalty = 1.1f;
      Sampler sampler(sp, m.model->config().n_vocab);
      const long before = test::g_allocations.load();
      for (int64_t pos = 3; pos < 40; ++pos) {
        const int32_t id = sampler.sample(logits.data(), history);
        history.push_back(id);
        m.model->forward(&id, 1, pos, kv, logits.data(), false);
      }
      EXPECT_EQ(test::g_allocations.load() - before, 0) << threads << " threads, attention " << static_cast<int>(mode);
    }
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace ts
