// CudaModel: the MoE transformer of model.h run on one GPU with everything resident on the
// device — weights uploaded once (f32 or bf16), activations, and a paged KV cache of
// kv_blocks blocks of kv_block_size positions (the layout of kv_block_pool.h, f32). A
// forward uploads only per-row metadata, runs every layer without a host round trip
// (router top-k, the sort of rows by expert and the grouped expert products read the
// routing on the device) and copies back only the logits. DecodeGreedy also picks tokens
// on the device and can replay one captured CUDA graph per step.
//
// Semantics: those of Model::ForwardPaged (model.h) over the device pool instead of a
// KvBlockPool; callers manage block tables as they do for the CPU pool. With f32 weights
// the logits match the CPU Model to f32 rounding (relative error ~1e-6); with bf16 weights
// they match a CPU Model whose weights were rounded to bf16 (activations stay f32, products
// accumulate in f32). Routing replay, expert loads and training are CPU-only.
//
// Like the other CUDA headers this includes nothing from CUDA. Without CUDA (TIDE_HAS_CUDA=0)
// or without a device, Create returns FailedPrecondition. Errors: InvalidArgument for a bad
// config, bad options, bad tokens or block tables (checked before any device work, nothing
// written); Internal for a failed CUDA call (named). Not thread-safe: one call at a time.
// No function throws.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "tide/core/status.h"
#include "tide/engine/model.h"
#include "tide/engine/model_weights.h"

namespace tide::engine {

namespace cuda_internal {
class DeviceModel;
}

enum class CudaWeightType { kF32, kBf16 };

struct CudaModelOptions {
  CudaWeightType weights = CudaWeightType::kF32;
  int kv_block_size = 16;
  int kv_blocks = 256;    // the device KV pool, per layer
  int max_rows = 512;     // tokens of one forward (activation buffers are sized once)
  int max_sequences = 64;
};

struct CudaDecodeResult {
  int batch = 0, steps = 0;
  std::vector<int32_t> tokens;  // [steps, batch]: the token chosen at each step
  double seconds = 0;           // device time of the steps (CUDA events)
};

class CudaModel {
 public:
  // Validates the config and weight shapes (as Model::Create) and the options, then uploads.
  static Result<std::unique_ptr<CudaModel>> Create(const ModelWeights& weights,
                                                   const CudaModelOptions& options = {});
  ~CudaModel();
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  const ModelConfig& config() const { return config_; }
  const CudaModelOptions& options() const { return options_; }
  int64_t weight_bytes() const;  // on the device

  // Model::ForwardPaged on the device pool: logits [sequences, vocab] of each sequence's last
  // row, or [rows, vocab] of every row when all_rows. Block ids must be < kv_blocks; at most
  // max_rows tokens and max_sequences sequences.
  Result<Tensor> ForwardPaged(std::span<const PagedSequenceInput> sequences, bool all_rows = false);

  // Greedy decoding of every sequence for `steps` steps on the device: each sequence gives
  // exactly one token (fed at position past) and a block table covering past + steps
  // positions. Step s's chosen tokens are fed at step s + 1. use_graph replays one
  // captured CUDA graph per step. Equivalent to `steps` ForwardPaged calls with an argmax
  // (lowest id on ties) between them.
  Result<CudaDecodeResult> DecodeGreedy(std::span<const PagedSequenceInput> sequences, int steps,
                                        bool use_graph = true);

 private:
  CudaModel() = default;
  Status CheckSequences(std::span<const PagedSequenceInput> sequences, int extra_positions,
                        const char* fn) const;

  ModelConfig config_;
  CudaModelOptions options_;
  std::unique_ptr<cuda_internal::DeviceModel> device_;
};

// Device-to-device copy bandwidth of the current GPU in bytes per second, counting bytes
// read plus bytes written (the memory roofline's denominator): the median of `reps` timed
// cudaMemcpyAsync calls of `bytes` bytes each after one warm-up (CUDA events).
// FailedPrecondition without a device; InvalidArgument for bytes or reps <= 0.
Result<double> CudaCopyBandwidth(int64_t bytes, int reps);

}  // namespace tide::engine
