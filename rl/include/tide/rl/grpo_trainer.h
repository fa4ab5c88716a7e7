// TrainGrpo: the GRPO loop on one engine::Model — per step, G rollouts for each of a few
// prompts (rollout_sampler.h), rewards from a verifiable reward function, group-normalised
// advantages, DAPO's dynamic sampling (groups whose rewards are all equal are dropped; a
// step with none left makes no update), and one policy-gradient step (policy_gradient.h)
// with the learning-rate schedule of lm_trainer.h (warmup, cosine to min_lr_ratio), and
// the expert-bias update when the config uses one.
//
// Reproducibility and resume: the prompts of step s and every rollout's random stream are
// pure functions of (seed, s), and the loop checkpoints with engine/train_checkpoint.h
// (weights, optimizer state, step; atomic). A run finding out_dir/checkpoint/ resumes after
// its step, so a run stopped (killed, or stop_after_step) and resumed ends with the same
// weights bit for bit as an uninterrupted one. The final model is also written to out_dir
// (config.json, model.safetensors in f32).
//
// Errors: InvalidArgument for no prompts, steps or prompts_per_step < 1, and whatever the
// sampler or the step refuses; a non-finite reward is an InvalidArgument naming the step.
// Not thread-safe; the reward function is called on the caller's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/engine/model_weights.h"
#include "tide/engine/optimizer.h"
#include "tide/rl/grpo_loss.h"
#include "tide/rl/policy_gradient.h"
#include "tide/rl/rollout_sampler.h"

namespace tide::rl {

using RewardFn = std::function<float(const Rollout&)>;

struct GrpoOptions {
  int steps = 50;
  int prompts_per_step = 4;
  RolloutOptions rollout;        // group_size = G
  PolicyGradientOptions policy;  // loss, replay, clipping, KL reference
  AdvantageOptions advantage;
  bool dynamic_sampling = true;
  engine::OptimizerConfig optimizer;
  int warmup_steps = 0;
  float min_lr_ratio = 1.f;  // 1: constant learning rate after warmup
  uint64_t seed = 1;
  int save_every = 0;        // steps between checkpoints (0: only at the end)
  int stop_after_step = 0;   // > 0: checkpoint and return once this step is done
  // Aux-loss-free balancing (configs with use_expert_bias): after each update the bias moves
  // by this against the training forward's expert loads, as in the SFT trainer.
  float expert_bias_gamma = 0.001f;
};

struct GrpoStepStats {
  int step = 0;
  double reward_mean = 0;  // over all rollouts of the step, before filtering
  int groups = 0, groups_kept = 0;
  bool updated = false;    // false when dynamic sampling left no group
  double lr = 0;
  PolicyGradientStats policy;
};

struct GrpoResult {
  int steps = 0;         // the last step done
  int resumed_from = 0;  // the checkpoint step this run started at (0 = fresh)
  std::vector<GrpoStepStats> history;  // the steps this call ran
};

Result<GrpoResult> TrainGrpo(engine::ModelWeights* weights, std::span<const std::vector<int32_t>> prompts,
                             const RewardFn& reward, const GrpoOptions& options, const std::string& out_dir,
                             const std::function<void(const GrpoStepStats&)>& progress = nullptr);

}  // namespace tide::rl
