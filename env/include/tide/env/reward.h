// Rewards for reinforcement learning on swarms. Every agent is scored by the task reward
// (r_perf: the verifier's Verdict.reward, 0..1). The coordinator, which decides whether and
// how to spawn, also gets PARL's parallel-agent terms (Kimi K2.5):
//
//   r = r_perf + λ1·r_parallel + λ2·r_finish − budget_penalty
//
//   r_parallel = min(spawned, parallel_target) / parallel_target — pays for spawning at all,
//                against "serial collapse" (a coordinator that learns to do everything alone);
//   r_finish   = finished / spawned (0 when nothing was spawned) — pays only for sub-agents
//                that finish, against spurious spawning of sub-agents that go nowhere;
//   λi(t)      = λi(0)·max(0, 1 − t/anneal_steps): linear annealing over training steps t,
//                so the shaping terms help early and vanish, leaving r_perf alone;
//   budget_penalty = min(max_penalty, step_penalty·max(0, critical_steps − step_budget)
//                    + token_penalty·max(0, tokens − token_budget)/1000) for overlong runs
//                    (a budget of 0 is no budget).
//
// Pure functions of their arguments; thread-safe; bad configs and stats are
// INVALID_ARGUMENT naming the field, never a crash.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"

namespace tide::env {

struct RewardConfig {
  double lambda_parallel = 0.1;    // λ1 at training step 0, >= 0
  double lambda_finish = 0.1;      // λ2 at training step 0, >= 0
  int64_t anneal_steps = 1000;     // steps over which λ falls to 0; 0: λ is 0 from the start
  int parallel_target = 8;         // sub-agents that earn the full r_parallel, >= 1
  int64_t step_budget = 0;         // critical steps allowed without penalty; 0 = no budget
  double step_penalty = 0.01;      // per critical step over the budget, >= 0
  int64_t token_budget = 0;        // tokens allowed without penalty; 0 = no budget
  double token_penalty = 0.001;    // per 1,000 tokens over the budget, >= 0
  double max_penalty = 1.0;        // the budget penalty never exceeds this, >= 0
};

// What a finished swarm run contributes to its coordinator's reward.
struct SwarmRunStats {
  double task_reward = 0;     // r_perf, 0..1
  int spawned = 0;            // sub-agents spawned over the run
  int finished = 0;           // of those, the ones that finished with a result (<= spawned)
  int64_t critical_steps = 0; // DESIGN.md "Measures"
  int64_t tokens = 0;         // prompt + completion tokens of all the run's agents
};

struct RewardBreakdown {
  double r_perf = 0;
  double r_parallel = 0;
  double r_finish = 0;
  double lambda_parallel = 0;  // λ1 at this training step
  double lambda_finish = 0;    // λ2 at this training step
  double budget_penalty = 0;
  double total = 0;
  nlohmann::json ToJson() const;
};

Status ValidateRewardConfig(const RewardConfig& config);

// λ(t) = initial·max(0, 1 − step/anneal_steps); 0 when anneal_steps <= 0.
double AnnealedLambda(double initial, int64_t step, int64_t anneal_steps);
// min(spawned, target)/target; 0 for spawned <= 0 (target must be >= 1).
double ParallelTerm(int spawned, int target);
// finished/spawned; 0 when spawned <= 0.
double FinishTerm(int spawned, int finished);
// The budget penalty above (the config is assumed valid).
double BudgetPenalty(const RewardConfig& config, int64_t critical_steps, int64_t tokens);

// The coordinator's reward at `training_step` (>= 0). INVALID_ARGUMENT for a bad config or
// stats (task_reward outside 0..1, negative counts, finished > spawned).
Result<RewardBreakdown> CoordinatorReward(const RewardConfig& config, const SwarmRunStats& stats,
                                          int64_t training_step);
// A sub-agent's (or a single agent's) reward: r_perf less the budget penalty of its own run.
Result<RewardBreakdown> AgentReward(const RewardConfig& config, double task_reward, int64_t steps,
                                    int64_t tokens);

}  // namespace tide::env
