// ModelWeights: every parameter of a model as fp32 master tensors, laid out as Hugging
// Face stores them (row-major [out_features, in_features] for projections), with the
// names transformers writes for Qwen3MoeForCausalLM (and DeepSeek-V3 names for the
// extensions). NamedParameters is the one place names and shapes are spelled out; the
// loader, the saver, the optimizers and the tests all walk it.
//
// Ownership: ModelWeights owns its storage. Not thread-safe to mutate; concurrent reads
// are fine.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tide/engine/model_config.h"

namespace tide::engine {

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
  int64_t numel() const;
  void Resize(std::vector<int64_t> new_shape);  // zero-filled
};

struct ExpertWeights {  // one SwiGLU: down(silu(gate x) * up x)
  Tensor gate_proj;     // [inter, hidden]
  Tensor up_proj;       // [inter, hidden]
  Tensor down_proj;     // [hidden, inter]
};

struct LayerWeights {
  Tensor input_layernorm;           // [hidden]
  Tensor q_proj, k_proj, v_proj;    // [q_dim|kv_dim, hidden]
  Tensor o_proj;                    // [hidden, q_dim]
  Tensor q_norm, k_norm;            // [head_dim]
  Tensor post_attention_layernorm;  // [hidden]
  // MoE layers:
  Tensor router;                        // mlp.gate.weight [num_experts, hidden]
  Tensor expert_bias;                   // mlp.gate.e_score_correction_bias [num_experts] (use_expert_bias)
  std::vector<ExpertWeights> experts;   // mlp.experts.E.*
  ExpertWeights shared;                 // mlp.shared_experts.* (n_shared_experts > 0)
  // Dense layers:
  ExpertWeights dense;                  // mlp.{gate,up,down}_proj
};

struct ModelWeights {
  ModelConfig config;
  Tensor embed_tokens;  // [vocab, hidden]
  std::vector<LayerWeights> layers;
  Tensor norm;     // [hidden]
  Tensor lm_head;  // [vocab, hidden]; empty when tie_word_embeddings

  // Allocates every tensor for `config` (zeros).
  static ModelWeights Allocate(const ModelConfig& config);
  // Seeded init: normal(0, 0.02) for matrices, 1 for norms, 0 for the expert bias.
  void InitRandom(uint64_t seed);
};

struct NamedTensor {
  std::string name;  // e.g. "model.layers.3.mlp.experts.7.up_proj.weight"
  Tensor* tensor;
  enum class Kind { kEmbedding, kNorm, kMatrix, kRouter, kBias, kLmHead } kind;
};

// Every parameter with its HF name, in a fixed order.
std::vector<NamedTensor> NamedParameters(ModelWeights& w);

}  // namespace tide::engine
