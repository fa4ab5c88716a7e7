// GRPO-family policy-gradient losses as pure functions of log-probabilities: group-normalised
// advantages (GRPO, or Dr. GRPO without the std division), the dynamic-sampling filter
// (DAPO), and the clipped surrogate loss at token level (GRPO/DAPO, clip-higher) or sequence
// level (GSPO), with an optional k3 KL penalty to a reference policy. No engine dependency:
// the caller supplies log-probs and gets back, besides the loss, d(loss)/d(logp_new) for
// every token, which the policy-gradient step (policy_gradient.h) turns into parameter
// gradients through the model's backward pass.
//
// Token level (DAPO), with r_t = exp(lp_new_t − lp_old_t), m_t the sampling mask and
// T = Σ over the batch of m_t (the batch's trained completion tokens):
//   loss = −(1/T) Σ_i Σ_t m_t · min(r_t·A_i, clip(r_t, 1−ε_low, 1+ε_high)·A_i)  + β·KL
// Sequence level (GSPO), |y_i| = Σ_t m_t of sequence i, n = sequences with |y_i| > 0:
//   s_i  = exp((1/|y_i|) Σ_t m_t (lp_new_t − lp_old_t))
//   loss = −(1/n) Σ_i min(s_i·A_i, clip(s_i, 1−ε_low, 1+ε_high)·A_i)  + β·KL
// KL (k3, unbiased and non-negative), per masked token, averaged over T in both modes:
//   KL = (1/T) Σ m_t (exp(lp_ref_t − lp_new_t) − (lp_ref_t − lp_new_t) − 1)
// Where the clipped branch of the min is the smaller one the term is constant in lp_new, so
// its gradient is exactly 0 (PPO's "clipped tokens do not push further"); at r inside the
// interval both branches are equal and the unclipped one's gradient is used.
//
// Errors: InvalidArgument naming the sequence and field for mismatched lengths, non-finite
// log-probs or advantages, a mask value other than 0/1, ε outside [0, 1) / negative ε_high,
// or a negative β; β > 0 without reference log-probs. Everything is computed in double.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tide/core/status.h"

namespace tide::rl {

struct AdvantageOptions {
  // GRPO divides by the group's standard deviation (the sample std, n − 1, as torch.std in
  // TRL and verl); Dr. GRPO (arXiv 2503.20783) does not: A_i = r_i − mean.
  bool divide_by_std = true;
  double eps = 1e-4;  // A_i = (r_i − mean) / (std + eps)
};

// Advantages of one group of rewards (the G completions of one prompt). A group of one has
// advantage 0. InvalidArgument for an empty group or a non-finite reward.
Result<std::vector<float>> GroupAdvantages(std::span<const float> rewards, const AdvantageOptions& options = {});

// DAPO's dynamic sampling: a group whose rewards are all equal has zero advantage and only
// dilutes the token normaliser, so it is dropped. True when the group carries a signal.
bool GroupHasSignal(std::span<const float> rewards);

enum class RatioLevel { kToken, kSequence };  // GRPO/DAPO, GSPO

struct PgLossOptions {
  RatioLevel level = RatioLevel::kToken;
  double eps_low = 0.2, eps_high = 0.28;  // DAPO clip-higher, token level
  // GSPO's sequence ratio is a geometric mean, so its useful range is far narrower
  // (arXiv 2507.18071 uses 3e-4 / 4e-4).
  double seq_eps_low = 3e-4, seq_eps_high = 4e-4;
  double kl_beta = 0;  // > 0: k3 KL to the reference log-probs
};

// One completion. Spans are per completion token and must have equal lengths (mask and
// logp_ref may be empty: all 1, no reference).
struct PgSequence {
  std::span<const float> logp_new;  // the policy being trained
  std::span<const float> logp_old;  // the policy that sampled (the rollout's log-probs)
  std::span<const float> logp_ref;  // the reference policy (KL), when kl_beta > 0
  std::span<const uint8_t> mask;    // 1: sampled by the policy and trained on
  float advantage = 0;
};

struct PgLossResult {
  double loss = 0;           // policy term + β·KL
  double policy_loss = 0;    // the clipped-surrogate term alone
  double kl_mean = 0;        // the k3 estimate averaged over masked tokens (0 without a reference)
  double clip_fraction = 0;  // share of masked tokens (GSPO: of sequences) on the clipped side
  double ratio_mean = 0;     // mean r_t over masked tokens (GSPO: mean s_i)
  int64_t tokens = 0;        // T, the masked tokens
  // dlogp[i][t] = d(loss)/d(logp_new of token t of sequence i); 0 where the mask is 0.
  std::vector<std::vector<double>> dlogp;
};

Result<PgLossResult> PolicyLoss(std::span<const PgSequence> batch, const PgLossOptions& options = {});

}  // namespace tide::rl
