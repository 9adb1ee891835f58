// Decoding a token must not touch the heap: forward passes use preallocated buffers.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <new>

#include "apps/common.h"
#include "apps/synth.h"
#include "engine/sampler.h"

namespace {
std::atomic<long> g_allocations{0};
}

// Replaced allocation functions use malloc/free consistently.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace ts {
namespace {

TEST(NoAlloc, DecodeStepsAndSamplingDoNotAllocate) {
  const std::string path = (std::filesystem::temp_directory_path() / "ts_noalloc_tiny.gguf").string();
  write_synth_model(synth_preset("tiny"), DType::Q4_0, std::string(TS_SHARED_DIR) + "/testdata/vocab/ggml-vocab-llama-spm.gguf", 1, path);
  for (int threads : {1, 2}) {
    LoadedModel m = load_everything(path, threads, 32);
    KvCache kv(m.model->config(), 64);
    std::vector<float> logits(static_cast<size_t>(m.model->config().n_vocab));
    std::vector<int32_t> history = {1, 450, 4996};
    history.reserve(64);
    m.model->forward(history.data(), 3, 0, kv, logits.data(), false);
    SamplingParams sp;
    sp.temperature = 0.8f;
    sp.repeat_penalty = 1.1f;
    Sampler sampler(sp, m.model->config().n_vocab);
    const long before = g_allocations.load();
    for (int64_t pos = 3; pos < 40; ++pos) {
      const int32_t id = sampler.sample(logits.data(), history);
      history.push_back(id);
      m.model->forward(&id, 1, pos, kv, logits.data(), false);
    }
    EXPECT_EQ(g_allocations.load() - before, 0) << threads << " threads";
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace ts
