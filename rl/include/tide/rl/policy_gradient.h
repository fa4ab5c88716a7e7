// One GRPO/DAPO/GSPO policy-gradient step on an engine::Model.
//
// For a batch of rollouts (rollout_sampler.h: prompt, completion, the sampler's log-probs,
// sampling mask, router choices, advantage) it runs ONE batched training forward over
// prompt ++ completion[0 .. C-2] of every rollout, with the rollouts' router choices forced
// (routing replay, on by default for MoE models), takes the new log-probs of the completion
// tokens at the sampling temperature, evaluates the loss of grpo_loss.h, and backpropagates
// exactly d(loss)/d(params):
//   d loss/d z_t = Σ coef_t · d logp_t/d z_t = coef_t / T · (onehot(target_t) − softmax(z_t/T)),
// which is cross_entropy.h's dlogits with token weight w_t = −coef_t and normaliser N = 1
// (its loss is Σ w_t·(−logp_t)/N, so d/d logp_t = −w_t = coef_t), divided by T. The model's
// router balance loss (router_aux_loss_coef) is added as in SFT. Then global-norm clipping
// and the optimizer step (engine/optimizer.h).
//
// The mismatch metric: mean |logp_train − logp_rollout| over masked tokens, measured at
// the forward before the update (with replay and the same weights it is float noise,
// ~1e-6; without replay a token whose routing flipped shows up here).
//
// Errors: InvalidArgument naming the rollout for an empty completion, lengths that do not
// match, tokens outside the (sampling) vocabulary, missing router choices when replay is on for a MoE
// model (sampled without record_routing), or a KL coefficient without a reference model.
// Thread safety: writes the model's kept activations and the weights: no other call on
// the model (or the reference) may overlap it.
#pragma once

#include <span>
#include <vector>

#include "tide/core/status.h"
#include "tide/engine/model.h"
#include "tide/engine/optimizer.h"
#include "tide/rl/grpo_loss.h"
#include "tide/rl/rollout_sampler.h"

namespace tide::rl {

struct PolicyGradientOptions {
  PgLossOptions loss;
  float temperature = 1.f;     // the rollouts' sampling temperature (0, greedy, counts as 1)
  bool routing_replay = true;  // force the rollouts' router choices (MoE models)
  // > 0: the sampler's distribution covered token ids below this only (InferenceEngine
  // samples over the tokenizer's vocabulary when the model's is padded past it); the
  // training log-probs normalise over the same ids and padded logits get no gradient.
  int sampling_vocab = 0;
  double clip_norm = 1.0;      // global gradient-norm clip; <= 0: none
  // PolicyGradientBackward multiplies the gradient it adds by this: a micro-batch's share
  // of the step's normaliser (its masked tokens / the step's), so micro-batches add up to
  // the gradient of the whole step's token-level loss.
  float grad_scale = 1.f;
  // The KL reference (loss.kl_beta > 0): a frozen model, forwarded without replay.
  engine::Model* reference = nullptr;
  // When set, the training forward's tokens per expert are added to it (for the
  // aux-loss-free bias update, Model::UpdateExpertBias).
  engine::ExpertLoad* expert_load = nullptr;
};

struct PolicyGradientStats {
  double loss = 0, policy_loss = 0, kl_mean = 0, clip_fraction = 0, ratio_mean = 0;
  double aux_loss = 0;         // the router balance term added to the gradient
  double grad_norm = 0;        // before clipping
  int64_t tokens = 0;          // masked completion tokens trained on
  double logprob_mismatch = 0;      // mean |logp_train − logp_rollout| over masked tokens
  double logprob_mismatch_max = 0;  // the largest one
};

// Log-probs of every rollout's completion tokens under `model` at `temperature` (one
// batched forward, no activations kept), replaying the rollouts' routing when asked, over
// the first sampling_vocab ids (0: all).
Result<std::vector<std::vector<float>>> CompletionLogprobs(engine::Model& model, std::span<const Rollout> rollouts,
                                                           float temperature, bool routing_replay,
                                                           int sampling_vocab = 0);

// Adds d(loss)/d(params) of the batch into *grads (sized when empty) without stepping.
Result<PolicyGradientStats> PolicyGradientBackward(engine::Model& model, std::span<const Rollout> rollouts,
                                                   const PolicyGradientOptions& options, engine::Gradients* grads);

// Zeroes *grads, PolicyGradientBackward, clips, and steps the optimizer (over the model's
// weights) with learning-rate factor lr_scale.
Result<PolicyGradientStats> PolicyGradientStep(engine::Model& model, engine::Optimizer& optimizer,
                                               std::span<const Rollout> rollouts, const PolicyGradientOptions& options,
                                               engine::Gradients* grads, float lr_scale = 1.f);

}  // namespace tide::rl
