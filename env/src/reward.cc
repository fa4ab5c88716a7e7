#include "tide/env/reward.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace tide::env {
namespace {

Status NonNegative(double v, const char* name) {
  if (!std::isfinite(v) || v < 0) {
    return InvalidArgument(std::string(name) + " must be a finite number >= 0, got " + std::to_string(v));
  }
  return Status::Ok();
}

Status CheckTaskReward(double r) {
  if (!std::isfinite(r) || r < 0 || r > 1) {
    return InvalidArgument("task_reward must be in 0..1, got " + std::to_string(r));
  }
  return Status::Ok();
}

}  // namespace

nlohmann::json RewardBreakdown::ToJson() const {
  return {{"r_perf", r_perf},
          {"r_parallel", r_parallel},
          {"r_finish", r_finish},
          {"lambda_parallel", lambda_parallel},
          {"lambda_finish", lambda_finish},
          {"budget_penalty", budget_penalty},
          {"total", total}};
}

Status ValidateRewardConfig(const RewardConfig& c) {
  TIDE_RETURN_IF_ERROR(NonNegative(c.lambda_parallel, "lambda_parallel"));
  TIDE_RETURN_IF_ERROR(NonNegative(c.lambda_finish, "lambda_finish"));
  TIDE_RETURN_IF_ERROR(NonNegative(c.step_penalty, "step_penalty"));
  TIDE_RETURN_IF_ERROR(NonNegative(c.token_penalty, "token_penalty"));
  TIDE_RETURN_IF_ERROR(NonNegative(c.max_penalty, "max_penalty"));
  if (c.anneal_steps < 0) return InvalidArgument("anneal_steps must be >= 0, got " + std::to_string(c.anneal_steps));
  if (c.parallel_target < 1) {
    return InvalidArgument("parallel_target must be >= 1, got " + std::to_string(c.parallel_target));
  }
  if (c.step_budget < 0) return InvalidArgument("step_budget must be >= 0, got " + std::to_string(c.step_budget));
  if (c.token_budget < 0) return InvalidArgument("token_budget must be >= 0, got " + std::to_string(c.token_budget));
  return Status::Ok();
}

double AnnealedLambda(double initial, int64_t step, int64_t anneal_steps) {
  if (anneal_steps <= 0) return 0.0;
  double left = 1.0 - static_cast<double>(std::max<int64_t>(step, 0)) / static_cast<double>(anneal_steps);
  return initial * std::max(0.0, left);
}

double ParallelTerm(int spawned, int target) {
  if (spawned <= 0 || target < 1) return 0.0;
  return static_cast<double>(std::min(spawned, target)) / static_cast<double>(target);
}

double FinishTerm(int spawned, int finished) {
  if (spawned <= 0) return 0.0;
  return static_cast<double>(std::clamp(finished, 0, spawned)) / static_cast<double>(spawned);
}

double BudgetPenalty(const RewardConfig& config, int64_t critical_steps, int64_t tokens) {
  double p = 0;
  if (config.step_budget > 0 && critical_steps > config.step_budget) {
    p += config.step_penalty * static_cast<double>(critical_steps - config.step_budget);
  }
  if (config.token_budget > 0 && tokens > config.token_budget) {
    p += config.token_penalty * static_cast<double>(tokens - config.token_budget) / 1000.0;
  }
  return std::min(p, config.max_penalty);
}

Result<RewardBreakdown> CoordinatorReward(const RewardConfig& config, const SwarmRunStats& stats,
                                          int64_t training_step) {
  TIDE_RETURN_IF_ERROR(ValidateRewardConfig(config));
  TIDE_RETURN_IF_ERROR(CheckTaskReward(stats.task_reward));
  if (stats.spawned < 0 || stats.finished < 0 || stats.finished > stats.spawned) {
    return InvalidArgument("spawned and finished must satisfy 0 <= finished <= spawned, got spawned " +
                           std::to_string(stats.spawned) + ", finished " + std::to_string(stats.finished));
  }
  if (stats.critical_steps < 0 || stats.tokens < 0) {
    return InvalidArgument("critical_steps and tokens must be >= 0");
  }
  if (training_step < 0) return InvalidArgument("training_step must be >= 0, got " + std::to_string(training_step));
  RewardBreakdown b;
  b.r_perf = stats.task_reward;
  b.r_parallel = ParallelTerm(stats.spawned, config.parallel_target);
  b.r_finish = FinishTerm(stats.spawned, stats.finished);
  b.lambda_parallel = AnnealedLambda(config.lambda_parallel, training_step, config.anneal_steps);
  b.lambda_finish = AnnealedLambda(config.lambda_finish, training_step, config.anneal_steps);
  b.budget_penalty = BudgetPenalty(config, stats.critical_steps, stats.tokens);
  b.total = b.r_perf + b.lambda_parallel * b.r_parallel + b.lambda_finish * b.r_finish - b.budget_penalty;
  return b;
}

Result<RewardBreakdown> AgentReward(const RewardConfig& config, double task_reward, int64_t steps, int64_t tokens) {
  TIDE_RETURN_IF_ERROR(ValidateRewardConfig(config));
  TIDE_RETURN_IF_ERROR(CheckTaskReward(task_reward));
  if (steps < 0 || tokens < 0) return InvalidArgument("steps and tokens must be >= 0");
  RewardBreakdown b;
  b.r_perf = task_reward;
  b.budget_penalty = BudgetPenalty(config, steps, tokens);
  b.total = b.r_perf - b.budget_penalty;
  return b;
}

}  // namespace tide::env
