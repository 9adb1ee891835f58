#pragma once
// What every architecture provides to the engine.
#include <cstdint>
#include <memory>

#include "base/thread_pool.h"
#include "model/config.h"
#include "model/kv_cache.h"

namespace ts {
namespace gguf { class GgufFile; }

struct ModelOptions {
  int64_t max_batch = 512;  // most tokens one forward call takes (buffers are sized for it)
};

// Receives intermediate activations of a forward pass by name. Names follow llama.cpp's graph
// ("attn_norm", "Qcur", "l_out", "result_output", with the layer passed separately, -1 for none)
// so dumps of both engines line up for layer-by-layer comparison.
class TensorTap {
 public:
  virtual ~TensorTap() = default;
  // data is [rows, cols] row-major and valid only during the call.
  virtual void on_tensor(const char* name, int64_t layer, const float* data, int64_t rows, int64_t cols) = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  virtual int64_t max_batch() const = 0;

  // Runs tokens[0..n) at positions pos0..pos0+n-1 of one sequence, reading and extending kv.
  // Writes logits of the last token to logits[n_vocab], or of every token to logits[n, n_vocab]
  // when all_logits. n <= max_batch and pos0 + n <= kv.n_ctx, else throws.
  virtual void forward(const int32_t* tokens, int64_t n, int64_t pos0, KvCache& kv, float* logits,
                       bool all_logits) = 0;

  // Debugging and analysis hook; nullptr (the default) costs one branch per tap point.
  void set_tap(TensorTap* tap) { tap_ = tap; }

 protected:
  void tap(const char* name, int64_t layer, const float* data, int64_t rows, int64_t cols) const {
    if (tap_ != nullptr) tap_->on_tensor(name, layer, data, rows, cols);
  }

 private:
  TensorTap* tap_ = nullptr;
};

// Builds the model for the file's general.architecture; throws if the architecture is unknown.
std::unique_ptr<Model> load_model(const gguf::GgufFile& file, ThreadPool& pool, const ModelOptions& options);

}  // namespace ts
