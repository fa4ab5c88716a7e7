// Private bridge between engine/src/cuda_model.cc (C++20, the public CudaModel of
// tide/engine/cuda/cuda_model.h) and engine/cuda/device_model.cu (nvcc, C++17, which cannot
// include model_config.h). Plain C++17 and no CUDA headers: the shim packs ModelWeights into
// the host views below (q/k/v fused into one matrix, experts stacked) and DeviceModel owns
// everything on the device: the weights (f32 or bf16), the paged KV pool, the activation
// buffers sized for max_rows, a stream, and the captured decode graphs.
//
// Not thread-safe: one caller at a time. No function throws; failures are Status.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tide/core/status.h"

namespace tide::engine::cuda_internal {

struct DeviceModelSpec {
  int vocab = 0, hidden = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0;
  int experts = 0, top_k = 0, moe_inter = 0, inter = 0, shared_inter = 0;
  float eps = 1e-6f, rope_theta = 10000.f, routed_scale = 1.f;
  bool softmax = true, normalise = true, use_bias = false;
  std::vector<char> moe_layer;  // [layers]
  bool bf16 = false;            // weights in bf16 (else f32)
  int block_size = 16, num_blocks = 0;
  int max_rows = 0, max_seqs = 0;
};

// Host views of one layer; matrices are HF [out, in] row-major, element type f32 (float)
// or bf16 (uint16_t bits) as DeviceModelSpec::bf16 says. Norms, router and bias are f32.
struct HostLayer {
  const float *in_norm = nullptr, *post_norm = nullptr, *q_norm = nullptr, *k_norm = nullptr;
  const void* qkv = nullptr;  // [qd + 2 kvd, hidden]
  const void* o = nullptr;    // [hidden, qd]
  const float* router = nullptr;  // [experts, hidden] (MoE layers)
  const float* bias = nullptr;    // [experts] or null
  // MoE: [experts, moe_inter, hidden] x2 and [experts, hidden, moe_inter]; dense layers:
  // the dense MLP as one expert of width inter.
  const void *gate = nullptr, *up = nullptr, *down = nullptr;
  const void *shared_gate = nullptr, *shared_up = nullptr, *shared_down = nullptr;  // or null
};

struct HostWeights {
  const void* embed = nullptr;    // [vocab, hidden]
  const float* norm = nullptr;    // [hidden]
  const void* lm_head = nullptr;  // [vocab, hidden]
  std::vector<HostLayer> layers;
};

// One sequence of a forward: `tokens` new ids after `past` positions held in the blocks of
// table (covering past + tokens positions; checked by the caller).
struct DeviceSeq {
  int tokens = 0;
  int past = 0;
  const std::int32_t* ids = nullptr;
  const std::int32_t* table = nullptr;
  int table_len = 0;
};

class DeviceModel {
 public:
  static Status Create(const DeviceModelSpec& spec, const HostWeights& weights,
                       std::unique_ptr<DeviceModel>* out);
  ~DeviceModel();
  DeviceModel(const DeviceModel&) = delete;
  DeviceModel& operator=(const DeviceModel&) = delete;

  // Runs the forward (rows = Σ tokens <= max_rows, seqs <= max_seqs), writing the new keys
  // and values into the pool, and copies the logits of every row (all_rows) or of each
  // sequence's last row into logits_host [rows or n, vocab].
  Status Forward(const DeviceSeq* seqs, int n, bool all_rows, float* logits_host);

  // Greedy decode of `batch` sequences, one token each per step, entirely on the device:
  // step s feeds the token chosen at step s - 1 (first_tokens at step 0) at position
  // pasts[i] + s, writes its K/V into the sequence's blocks (tables: batch rows of
  // table_stride block ids, covering pasts[i] + steps positions) and picks the argmax.
  // tokens_host [steps, batch] gets the chosen ids. With use_graph the step is captured
  // once into a CUDA graph and replayed. *seconds (if not null) is the device time of the
  // steps (CUDA events around them).
  Status DecodeGreedy(int batch, const std::int32_t* first_tokens, const int* pasts,
                      const std::int32_t* tables, int table_stride, int steps, bool use_graph,
                      std::int32_t* tokens_host, double* seconds);

  std::int64_t weight_bytes() const;

  struct Impl;

 private:
  DeviceModel();
  std::unique_ptr<Impl> impl_;
};

}  // namespace tide::engine::cuda_internal
