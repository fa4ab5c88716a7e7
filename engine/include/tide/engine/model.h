// Model: the forward and backward pass of Tide's MoE transformer over a ModelWeights,
// with the semantics of Hugging Face transformers' Qwen3MoeForCausalLM and the
// DeepSeek-V3 / Kimi K2 extensions of model_config.h.
//
// One decoder layer:
//   x = input_layernorm(h)
//   q = rope(q_norm(x·Wqᵀ per head)), k = rope(k_norm(x·Wkᵀ per head)), v = x·Wvᵀ
//   h = h + o_proj(causal GQA softmax(q·kᵀ / sqrt(head_dim)) · v)
//   h = h + mlp(post_attention_layernorm(h))
// and logits = lm_head(norm(h)) (the embedding matrix when tie_word_embeddings).
// mlp is a SwiGLU down(silu(gate x) * up x) in dense layers, and in MoE layers:
//   router logits = x·Wgᵀ; scores s = softmax (f32, over all experts) or sigmoid;
//   top-k ids chosen on s (or on s + expert_bias when use_expert_bias; the bias only
//   chooses); weights w_j = s[id_j], divided by Σ_j s[id_j] when norm_topk_prob (for sigmoid
//   only when k > 1, plus 1e-20 as DeepSeek-V3 does), times routed_scaling_factor;
//   mlp(x) = Σ_j w_j · expert_{id_j}(x) + shared_expert(x) (n_shared_experts > 0).
//
// Routing replay (R3): ForwardOptions::record_routing stores every token's top-k ids per MoE
// layer; passing them as forced_routing makes a later forward use exactly those ids. The
// gating weights are the same formula evaluated at the forced ids (for norm_topk_prob that
// is the softmax over the forced set), so router weights still get gradients, and a forward
// over the same tokens with the recorded choices returns bit-identical logits.
//
// Load balance: a forward with keep_activations computes, per MoE layer, the Switch loss
// N · Σ_i f_i · P_i (f_i: share of tokens whose top-k holds expert i, so Σ f = k; P_i: mean
// router probability of i — the softmax, or for sigmoid scoring the scores normalised over
// experts as in DeepSeek-V3's sequence-wise loss). The loss term is router_aux_loss_coef
// times its mean over MoE layers; with one MoE layer this equals transformers'
// load_balancing_loss_func (which, with several layers, pools the layers' experts together
// instead). Backward always adds its gradient (through P only); set the coefficient to 0 to
// leave it out. Expert loads (tokens per expert per layer) feed the aux-loss-free bias
// update, UpdateExpertBias: bias_i -= gamma · sign(load_i − mean load).
//
// Precision: f32 storage; kernels accumulate in double (the *Reference kernels) and GEMMs
// use gemm.h.
//
// Ownership: Create(ModelWeights*) borrows the weights (they must outlive the Model; an
// optimizer may update them in place between steps); Create(ModelWeights) owns them.
//
// Thread safety: Forward with keep_activations = false only reads the weights and the
// Model, so such calls may run concurrently on different KvCaches and option outputs. A
// Forward with keep_activations = true, Backward, LossAndGrad and UpdateExpertBias write
// the Model's state (the kept activations, the bias) and must not overlap any other call.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "tide/core/status.h"
#include "tide/engine/model_config.h"
#include "tide/engine/model_weights.h"

namespace tide::engine {

class KvBlockPool;

// Gradients have the weights' shapes and names (NamedParameters walks both alike).
using Gradients = ModelWeights;

// Top-k expert ids of each token in each MoE layer of one forward.
struct RouterChoices {
  int top_k = 0;
  int tokens = 0;
  // experts[layer]: [tokens * top_k] ids, token-major, in the forward's slot order; empty
  // for dense layers.
  std::vector<std::vector<int32_t>> experts;
};

// Tokens routed to each expert: tokens[layer][expert]; empty for dense layers.
struct ExpertLoad {
  std::vector<std::vector<int64_t>> tokens;
};

// Keys and values of every layer for the tokens seen so far (after k_norm and RoPE).
// A default-constructed cache is empty; Forward sizes it. One cache per sequence.
struct KvCache {
  int length = 0;                        // tokens stored
  std::vector<std::vector<float>> k, v;  // [layer] -> [length, kv_dim]
  void Clear();
  void Truncate(int new_length);  // keeps the first new_length tokens (clamped to length)
};

struct ForwardOptions {
  // Keep what Backward needs (and compute the balance loss). Backward uses the most recent
  // forward that kept activations.
  bool keep_activations = false;
  // Use these top-k ids instead of choosing (tokens and top_k must match the call).
  const RouterChoices* forced_routing = nullptr;
  // Written with the ids this forward used.
  RouterChoices* record_routing = nullptr;
  // Tokens per expert of this forward are added to it (sized on first use).
  ExpertLoad* expert_load = nullptr;
};

// One sequence of a batched forward: new tokens following the cache's contents (or an
// empty prefix when cache is null). positions: one per token; empty means cache length +
// index.
struct SequenceInput {
  std::span<const int32_t> tokens;
  std::span<const int32_t> positions;
  KvCache* cache = nullptr;
};

// One sequence of a paged (serving) forward: `tokens` at positions past .. past + n − 1;
// block_table lists the KvBlockPool blocks holding its positions 0 .. past + n − 1 (the
// first `past` already written, the rest written by this forward).
struct PagedSequenceInput {
  std::span<const int32_t> tokens;
  int past = 0;
  std::span<const int32_t> block_table;
};

struct LossOptions {
  // Cross-entropy normaliser N (see cross_entropy.h); <= 0 means Σ|w_t|.
  float normalizer = 0.f;
  // The tokens are these independent sequences back to back (packed training: each
  // attends only within itself, positions restart at 0); empty means one sequence.
  std::span<const int32_t> sequence_lengths;
  // Multiplies the balance-loss term (in the loss and its gradient): a step split over
  // several LossAndGrad calls weights each call's share.
  float aux_weight = 1.f;
  const RouterChoices* forced_routing = nullptr;
  RouterChoices* record_routing = nullptr;
  ExpertLoad* expert_load = nullptr;
};

// What the last Backward(targets, …) / LossAndGrad computed.
struct LossReport {
  float loss = 0.f;      // ce_loss + aux_loss
  float ce_loss = 0.f;   // weighted cross-entropy
  float aux_loss = 0.f;  // router_aux_loss_coef × mean over MoE layers of N·Σ f·P
  std::vector<float> token_logprobs;  // log p(target_t), every token (weight 0 included)
};

class Model {
 public:
  // Checks the config (positive sizes, heads a multiple of kv_heads, even head_dim, a valid
  // top-k) and every tensor's shape; InvalidArgument names the first mismatch.
  static Result<Model> Create(ModelWeights* weights);  // borrowed
  static Result<Model> Create(ModelWeights weights);   // owned

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const ModelConfig& config() const { return weights_->config; }
  ModelWeights& weights() { return *weights_; }
  const ModelWeights& weights() const { return *weights_; }

  // Logits [tokens.size(), vocab] for `tokens` following the cache's contents (or an empty
  // prefix when cache is null); the cache, when given, gets the new keys and values.
  // positions: one per token; empty means cache length + index. Causal masking is by order
  // in the cache, RoPE by position. Errors (InvalidArgument: empty input, a token outside
  // the vocabulary, bad positions or forced routing, a cache of another model) leave the
  // cache unchanged.
  Result<Tensor> Forward(std::span<const int32_t> tokens, std::span<const int32_t> positions, KvCache* cache,
                         const ForwardOptions& options = {});
  Result<Tensor> Forward(std::span<const int32_t> tokens, KvCache* cache = nullptr,
                         const ForwardOptions& options = {}) {
    return Forward(tokens, {}, cache, options);
  }
  // Several independent sequences in one pass (continuous batching, packed training): the
  // token-wise work (projections, experts, head) runs once over all rows, attention per
  // sequence over its own cache. Logits rows follow the sequences in order; routing
  // options and expert loads cover all rows in that order. InvalidArgument as Forward, and
  // for a cache given twice; on error no cache changes.
  Result<Tensor> ForwardBatch(std::span<const SequenceInput> sequences, const ForwardOptions& options = {});
  // The serving forward over a paged KV cache (kv_block_pool.h, continuous batching): writes
  // each sequence's new keys and values into its blocks, attends over its own positions, and
  // returns the logits of each sequence's LAST row only: [sequences, vocab]. Routing and load
  // options cover all rows in order; keep_activations and forced_routing are refused. InvalidArgument for a pool
  // of another shape, a block table too short or naming a block out of range, or bad tokens;
  // then nothing is written. Concurrent calls must use disjoint blocks.
  Result<Tensor> ForwardPaged(std::span<const PagedSequenceInput> sequences, KvBlockPool* pool,
                              const ForwardOptions& options = {});

  // A zeroed gradient container shaped like the weights.
  Gradients ZeroGradients() const;

  // Backpropagates dlogits [tokens, vocab] of the last kept forward, plus the balance loss,
  // adding (+=) into *grads (an empty Gradients is sized first). The cache prefix of that
  // forward, if any, is treated as a constant. FailedPrecondition without kept activations.
  Status Backward(const Tensor& dlogits, Gradients* grads);
  // Same with dlogits from token-weighted cross-entropy of the kept logits against
  // `targets`; returns ce + aux loss (details in last_loss()).
  Result<float> Backward(std::span<const int32_t> targets, std::span<const float> token_weights, Gradients* grads,
                         float normalizer = 0.f);

  // Forward with kept activations, then Backward(targets, token_weights). token_weights
  // may be empty (all 1). Gradients are added into *grads.
  Result<float> LossAndGrad(std::span<const int32_t> tokens, std::span<const int32_t> targets,
                            std::span<const float> token_weights, Gradients* grads, const LossOptions& options = {});
  const LossReport& last_loss() const { return last_loss_; }
  // Balance loss term of the last kept forward (already × router_aux_loss_coef).
  float last_aux_loss() const;

  // Aux-loss-free balancing: for every MoE layer, bias_i -= gamma · sign(load_i − mean).
  // FailedPrecondition unless use_expert_bias; InvalidArgument if loads do not fit.
  Status UpdateExpertBias(const ExpertLoad& loads, float gamma = 0.001f);

  struct Activations;  // defined in the implementation

 private:
  explicit Model(ModelWeights* borrowed);
  // ForwardBatch; a kept forward's logits stay in the activations and are copied to
  // *logits only when it is not null.
  Status ForwardInto(std::span<const SequenceInput> sequences, const ForwardOptions& options, Tensor* logits);

  std::unique_ptr<ModelWeights> owned_;
  ModelWeights* weights_ = nullptr;
  std::unique_ptr<Activations> acts_;
  LossReport last_loss_;
};

// Shape check used by Create and Backward: every tensor of `w` as ModelWeights::Allocate
// would make it for w.config. `what` names the container in the message.
Status CheckWeightShapes(const ModelWeights& w, const char* what);

}  // namespace tide::engine
