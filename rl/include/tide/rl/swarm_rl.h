// Reinforcement learning on swarms, colocated: the same InferenceEngine serves the swarms'
// rollouts and has its weights trained in place.
//
// One step: for each of a few tasks (world, family, a seed drawn from the training range),
// G swarms run at once through the real orchestrator (orchestrator::Swarm: coordinator,
// sub-agents, the world's tools, the verifier) on the engine, every generation recorded
// with its log-probs and router choices (workers::EnginePolicy::on_generation). Each
// episode gets one reward (by default the coordinator's PARL reward, env/reward.h, with λ
// annealed over the steps; a run that fails scores its r_perf as 0), advantages are
// normalised within the task's group, groups whose rewards are all equal are dropped
// (DAPO's dynamic sampling), and every recorded turn of the trained agents becomes a
// rollout carrying its episode's advantage (rollout_sampler.h RolloutFromGeneration).
// Agents decode tool calls under the tools' schema (EnginePolicy's default), so every call
// is valid; those constrained tokens are masked out of the loss, so RL learns when to call
// and what to answer, while SFT teaches the calls' contents. The
// policy-gradient step (policy_gradient.h: routing replay, clip-higher, token-level
// normalisation over the whole step) runs in micro-batches inside
// InferenceEngine::UpdateWeights, so the engine serves the new weights at once, with no
// restart; the time that takes is reported (update_s).
//
// Asynchronous collection (max_staleness > 0, swarm_collector.h): the next groups run
// while a step trains; groups more than max_staleness updates old are dropped, and
// episodes in flight across an update continue under the new weights (partial rollouts),
// each turn keeping the log-probs it was sampled with.
//
// PARL (Kimi K2.5): with `frozen_subagents`, sub-agents decode on that engine (a frozen
// checkpoint) and only coordinator turns are trained.
//
// Resume: weights, optimizer state and step are checkpointed (engine/train_checkpoint.h);
// a run finding out_dir/checkpoint/ continues after its step. Tasks and sampling seeds are
// functions of (seed, step), but concurrent agents make batching, and so floating-point
// sums, differ between runs: a resumed run is the same procedure, not bit-identical.
// Errors: InvalidArgument naming the field for bad options; a step whose rollouts cannot
// be trained on (e.g. a turn past the context) fails with the engine's error.
// Thread safety: not thread-safe; uses the engine concurrently with its own requests only.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/engine/dtype.h"
#include "tide/engine/inference_engine.h"
#include "tide/engine/optimizer.h"
#include "tide/env/reward.h"
#include "tide/orchestrator/swarm_spec.h"
#include "tide/rl/grpo_loss.h"
#include "tide/rl/policy_gradient.h"
#include "tide/v1/orchestrator.pb.h"
#include "tide/workers/engine_policy.h"

namespace tide::rl {

// One swarm run of a group, with every generation its agents made.
struct SwarmEpisode {
  uint64_t task_seed = 0;
  Status status;                 // how the run ended (a failed run is still an episode)
  tide::v1::RunResult result;    // when status is OK
  std::vector<workers::AgentGeneration> turns;  // in the order they finished
  double reward = 0;
  // Policy versions its first and last turn finished under (SwarmRolloutOptions::
  // policy_version; 0 without one). They differ for a partial rollout.
  int64_t first_version = 0, last_version = 0;
};

struct SwarmRolloutOptions {
  orchestrator::SwarmSpec spec;  // world, family, items, limits; policy and seed are set per episode
  int group_size = 4;            // G
  float temperature = 1.f;
  int max_tokens = 512;          // per turn
  env::RewardConfig reward;
  // When set, sub-agents decode here (frozen) and only the coordinator is trained (PARL).
  engine::InferenceEngine* frozen_subagents = nullptr;
  // When set, each turn is stamped with the version read here as it finishes.
  const std::atomic<int64_t>* policy_version = nullptr;
  // When set and true, the swarms stop early (their episodes end cancelled).
  std::atomic<bool>* cancelled = nullptr;
};

// Runs G swarms of task `task_seed` at once on `engine`; sample_seed seeds their sampling
// (episode g uses a seed mixed from it and g).
Result<std::vector<SwarmEpisode>> CollectSwarmGroup(engine::InferenceEngine* engine, const SwarmRolloutOptions& options,
                                                    uint64_t task_seed, uint64_t sample_seed);

// The episode's reward at `training_step`: the coordinator's PARL reward.
Result<double> EpisodeReward(const SwarmEpisode& episode, const env::RewardConfig& config, int64_t training_step);

struct SwarmRlOptions {
  SwarmRolloutOptions rollout;
  int steps = 10;
  int tasks_per_step = 2;
  uint64_t task_seed_first = 1;     // training tasks: seeds [first, first + count)
  uint64_t task_seed_count = 1000;
  uint64_t seed = 1;
  PolicyGradientOptions policy;     // temperature is taken from rollout.temperature
  AdvantageOptions advantage;
  bool dynamic_sampling = true;
  engine::OptimizerConfig optimizer;
  int warmup_steps = 0;
  float min_lr_ratio = 1.f;
  int64_t micro_batch_tokens = 8192;  // training forward size (activations kept)
  int save_every = 0;
  int stop_after_step = 0;            // > 0: checkpoint and return after this step
  engine::Dtype save_dtype = engine::Dtype::kF32;  // the final model's tensors (checkpoints stay f32)
  // 0: synchronous (a step trains on groups collected under its own weights). k > 0:
  // asynchronous (swarm_collector.h): groups are collected ahead while the trainer trains,
  // and a group started more than k updates ago is dropped; episodes in flight across an
  // update continue under the new weights (partial rollouts).
  int max_staleness = 0;
  // Replaces EpisodeReward (tests, custom objectives); called on the caller's thread.
  std::function<double(const SwarmEpisode&, int64_t step)> reward_fn;
};

struct SwarmRlStepStats {
  int step = 0;
  int episodes = 0, failed_episodes = 0;
  double reward_mean = 0, success = 0, item_f1 = 0, spawn_rate = 0, critical_steps = 0;
  int groups = 0, groups_kept = 0;
  int rollouts = 0;          // turns trained on
  int stale_groups = 0;      // dropped: started more than max_staleness updates ago
  int partial_episodes = 0;  // trained episodes whose turns span a weight update
  double staleness = 0;      // mean updates between a trained group's start and this step's
  bool updated = false;
  double lr = 0;
  double collect_s = 0;      // rollouts (all swarms of the step)
  double train_s = 0;        // the policy-gradient step
  double update_s = 0;       // the engine held for the update (train_s included)
  PolicyGradientStats policy;
};

struct SwarmRlResult {
  int steps = 0;
  int resumed_from = 0;
  std::vector<SwarmRlStepStats> history;
};

// Trains the engine's model in place. The tokenizer's vocabulary bounds sampling
// (policy.sampling_vocab is set from it when 0).
Result<SwarmRlResult> TrainSwarmRl(engine::InferenceEngine* engine, const SwarmRlOptions& options,
                                   const std::string& out_dir,
                                   const std::function<void(const SwarmRlStepStats&)>& progress = nullptr);

}  // namespace tide::rl
