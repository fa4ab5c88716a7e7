// Optimizers over a model's fp32 master weights: AdamW, and Muon (momentum orthogonalised
// by 5 Newton–Schulz steps, coefficients 3.4445, −4.7750, 2.0315) for the 2-D hidden
// matrices with AdamW for embeddings, norms, the router and the LM head (Kimi K2's split).
// Muon's update is scaled by 0.2·√max(rows, cols) so its RMS matches AdamW's and one
// learning rate serves both. Optional QK-Clip (MuonClip) rescales a layer's query/key
// weights when its largest attention logit exceeds τ. The expert score-correction bias is
// never touched here: it moves by its own rule (the model's bias update).
//
// The state (moments, momentum, step) saves to and resumes from a safetensors file, so a
// killed training run continues bit-identically.
// Ownership: borrows the weights; the gradients passed to Step must have the same layout
// (ModelWeights::Allocate of the same config). Not thread-safe; Step itself uses the
// engine's thread pool through Gemm.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/engine/model_weights.h"

namespace tide::engine {

enum class OptimizerKind { kAdamW, kMuon };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kMuon;
  float lr = 3e-3f;
  float weight_decay = 0.1f;   // decoupled; not applied to norms and biases
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;  // AdamW
  float momentum = 0.95f;      // Muon
  bool nesterov = true;        // Muon
  int ns_steps = 5;            // Muon
  float muon_rms_scale = 0.2f; // Muon update × scale × √max(rows, cols)
  bool qk_clip = false;        // MuonClip
  float qk_clip_tau = 100.f;
};

// The parameters Muon updates (2-D hidden matrices); everything else uses AdamW.
bool UsesMuon(const NamedTensor& p);

// X ← NS5(G): the orthogonalised direction of G ([rows, cols], row-major). Exposed for tests.
void NewtonSchulz5(const float* g, int rows, int cols, int steps, float* out);

class Optimizer {
 public:
  Optimizer(OptimizerConfig config, ModelWeights* weights);

  // One update with learning rate config.lr * lr_scale (the schedule's factor).
  // INVALID_ARGUMENT when `grads` does not have the weights' layout.
  Status Step(ModelWeights& grads, float lr_scale = 1.f);

  // Scales all gradients so their global L2 norm is at most max_norm; returns the norm
  // before clipping. Non-finite norms are returned as they are and nothing is scaled.
  static double ClipGradNorm(ModelWeights& grads, double max_norm);

  // MuonClip for one layer: `max_logit` is the largest pre-softmax attention logit seen in
  // the step (over heads and tokens). Above τ, q_norm and k_norm weights (Qwen3 normalises
  // q and k per head, so scaling W_q/W_k would change nothing) are scaled by √(τ/S) each,
  // which scales that layer's logits by τ/S. Returns true when it clipped.
  bool ApplyQkClip(int layer, float max_logit);

  int64_t step() const { return step_; }
  const OptimizerConfig& config() const { return config_; }

  // State as safetensors: "<param>.m", "<param>.v" (AdamW) or "<param>.momentum" (Muon),
  // metadata {"step", "kind"}. Load checks every name and shape and the kind.
  Status Save(const std::string& path) const;
  Status Load(const std::string& path);

 private:
  struct Slot {
    NamedTensor param;
    bool muon = false;
    std::vector<float> m, v;  // AdamW moments, or Muon momentum in m
  };

  OptimizerConfig config_;
  ModelWeights* weights_;
  std::vector<Slot> slots_;
  int64_t step_ = 0;
};

}  // namespace tide::engine
