// ModelConfig: the architecture of a Tide model, read from a Hugging Face style
// config.json with the field names of Qwen3MoeForCausalLM, plus the DeepSeek-V3 / Kimi K2
// extensions (sigmoid scoring with a per-expert correction bias, shared experts, dense
// first layers, routed scaling). The architecture is described here once; tensor names
// and shapes follow from it (model_weights.h).
//
// Both spellings transformers has used are accepted: `num_experts` or
// `num_local_experts`, `rope_theta` or `rope_parameters.rope_theta`, `torch_dtype` or
// `dtype` (both present: they must agree, except dtype, where `dtype` wins). Null values
// count as absent; `eos_token_id` may be a list (its first id is kept). Unknown fields
// are ignored (HF configs carry many), but known ones whose value would describe an
// architecture Tide does not run are rejected: model_type other than qwen3_moe/qwen3,
// hidden_act other than silu, attention_bias, use_sliding_window, RoPE scaling other
// than "default", group-limited routing (n_group > 1). Every error names the file and
// the field: `path: field "num_key_value_heads": must divide num_attention_heads (4),
// got 3`. Extension fields: "scoring_func" softmax|sigmoid, "topk_method" greedy|noaux_tc
// (noaux_tc, or "use_expert_bias": true, turns the expert bias on), "n_shared_experts",
// "first_k_dense_replace", "routed_scaling_factor".
//
// Value types; the functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"

namespace tide::engine {

enum class ScoringFunc { kSoftmax, kSigmoid };

struct ModelConfig {
  // Qwen3MoeForCausalLM fields.
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;      // dense MLP layers (first_k_dense_replace, mlp_only_layers)
  int moe_intermediate_size = 0;  // each routed expert
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;  // 0 in the file means hidden_size / num_attention_heads
  int max_position_embeddings = 4096;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.f;
  bool tie_word_embeddings = false;
  int num_experts = 0;            // routed experts per MoE layer
  int num_experts_per_tok = 0;    // top-k
  bool norm_topk_prob = true;
  int decoder_sparse_step = 1;
  std::vector<int> mlp_only_layers;  // dense layers by index
  float router_aux_loss_coef = 0.001f;
  int bos_token_id = -1;
  int eos_token_id = -1;
  std::string torch_dtype = "float32";

  // DeepSeek-V3 / Kimi K2 extensions.
  ScoringFunc scoring_func = ScoringFunc::kSoftmax;
  bool use_expert_bias = false;       // "topk_method": "noaux_tc": score-correction bias for top-k choice
  int n_shared_experts = 0;           // shared SwiGLU of width n_shared_experts * moe_intermediate_size
  int first_k_dense_replace = 0;      // layers [0, k) are dense
  float routed_scaling_factor = 1.f;

  int q_dim() const { return num_attention_heads * head_dim; }
  int kv_dim() const { return num_key_value_heads * head_dim; }
  // True when layer `i` has a routed-expert MLP (else a dense SwiGLU of intermediate_size).
  bool IsMoeLayer(int layer) const;
  int64_t NumParameters() const;        // every weight
  int64_t NumActiveParameters() const;  // weights one token touches (top-k experts, one embedding row)

  friend bool operator==(const ModelConfig&, const ModelConfig&) = default;
};

// `source` names the file in error messages.
Result<ModelConfig> ModelConfigFromJson(const nlohmann::json& j, const std::string& source);
Result<ModelConfig> LoadModelConfig(const std::string& path);
// The HF config.json Tide writes: model_type "qwen3_moe", architectures
// ["Qwen3MoeForCausalLM"], and the extension fields only when they are not defaults.
nlohmann::json ModelConfigToJson(const ModelConfig& c);
Status ValidateModelConfig(const ModelConfig& c, const std::string& source);

}  // namespace tide::engine
