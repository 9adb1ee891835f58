#pragma once
// What every architecture provides to the engine.
#include <cstdint>
#include <memory>
#include <span>

#include "base/thread_pool.h"
#include "kernels/packed.h"
#include "model/config.h"
#include "model/kv_cache.h"

namespace ts {
namespace gguf { class GgufFile; }

// How attention turns a query's scores into weights; both read the same cached keys and values.
enum class AttentionMode {
  kExact,   // softmax over the query's whole row of scores: llama.cpp's default arithmetic, bit for bit
  kOnline,  // one tiled pass with an online softmax (flash attention's recurrence), all in f32
};

// Whether attention over a cache of this type runs online: asked for, or an f32 cache (which only
// the online path reads).
inline bool attends_online(AttentionMode mode, KvType kv) { return mode == AttentionMode::kOnline || kv == KvType::kF32; }

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

// Which of a chunk's tokens get logits.
enum class LogitRows { kLast, kAll, kNone };

// One sequence's share of a batched forward call.
struct SeqChunk {
  const int32_t* tokens = nullptr;  // [n_tokens]
  int64_t n_tokens = 0;
  int64_t pos0 = 0;                 // position of tokens[0]; KV of 0..pos0-1 is already stored
  const int32_t* block_table = nullptr;  // [n_blocks] KvStore blocks of positions 0, block_size, ...
  int64_t n_blocks = 0;
  LogitRows logits = LogitRows::kLast;  // kNone: a prompt chunk whose end is still to come
  // Positions below prompt_end are prompt tokens, whose attention sums run in llama.cpp's
  // batched order; later ones are generated tokens, in the order llama.cpp uses when it decodes
  // one token. A token's result then depends neither on how its sequence's prompt was chunked
  // nor on what else is in the batch (a recomputed sequence reproduces its first run exactly).
  int64_t prompt_end = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  virtual int64_t max_batch() const = 0;

  // Runs several sequences' chunks in one pass (their tokens share every matrix product; each
  // attends over its own positions through its block table) and writes, chunk after chunk, the
  // logits its LogitRows asks for: logits[rows, n_vocab]. The chunks' tokens
  // total at most max_batch; a chunk's blocks must cover pos0 + n_tokens; else throws.
  virtual void forward_batch(std::span<const SeqChunk> chunks, KvStore& kv, float* logits) = 0;

  // One sequence: tokens[0..n) at positions pos0..pos0+n-1, reading and extending kv. Writes
  // logits of the last token to logits[n_vocab], or of every token to logits[n, n_vocab].
  void forward(const int32_t* tokens, int64_t n, int64_t pos0, KvCache& kv, float* logits, bool all_logits) {
    if (pos0 < 0 || n < 0 || pos0 + n > kv.n_ctx) {
      fail_positions(pos0, n, kv.n_ctx);
    }
    // A single token is treated as decoding, several as a prompt, as llama.cpp does for one call.
    const SeqChunk chunk{tokens, n, pos0, kv.table, 1, all_logits ? LogitRows::kAll : LogitRows::kLast, n > 1 ? pos0 + n : pos0};
    forward_batch(std::span<const SeqChunk>(&chunk, 1), kv.store, logits);
  }

  // Debugging and analysis hook; nullptr (the default) costs one branch per tap point.
  void set_tap(TensorTap* tap) { tap_ = tap; }

  // kExact by default. A KV cache of f32 rows is always attended with kOnline.
  void set_attention_mode(AttentionMode mode) { attention_ = mode; }
  AttentionMode attention_mode() const { return attention_; }

  // How the quantized matrix products sum their blocks (kernels/packed.h). Each architecture
  // picks its default at load; a change applies to later forward calls.
  virtual void set_block_order(BlockOrder order) { (void)order; }
  virtual BlockOrder block_order() const { return BlockOrder::kLlamaCpp; }

  // Threads a one-token decode step is divided among, each running the whole pass over its
  // share of heads and FFN columns (Decoder::forward_split_decode); 1 where steps go op by op.
  // Taps and caches other than f16 attended exactly take the op-by-op path.
  virtual int split_decode_threads() const { return 1; }

 protected:
  void tap(const char* name, int64_t layer, const float* data, int64_t rows, int64_t cols) const {
    if (tap_ != nullptr) tap_->on_tensor(name, layer, data, rows, cols);
  }
  bool tapping() const { return tap_ != nullptr; }

 private:
  [[noreturn]] static void fail_positions(int64_t pos0, int64_t n, int64_t n_ctx);
  TensorTap* tap_ = nullptr;
  AttentionMode attention_ = AttentionMode::kExact;
};

// Builds the model for the file's general.architecture; throws if the architecture is unknown.
std::unique_ptr<Model> load_model(const gguf::GgufFile& file, ThreadPool& pool, const ModelOptions& options);

}  // namespace ts
