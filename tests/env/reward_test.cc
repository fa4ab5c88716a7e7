#include "tide/env/reward.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

TEST(RewardTest, AnnealsLinearlyToZero) {
  EXPECT_DOUBLE_EQ(AnnealedLambda(0.4, 0, 100), 0.4);
  EXPECT_DOUBLE_EQ(AnnealedLambda(0.4, 25, 100), 0.3);   // 0.4 * (1 - 25/100)
  EXPECT_DOUBLE_EQ(AnnealedLambda(0.4, 50, 100), 0.2);
  EXPECT_DOUBLE_EQ(AnnealedLambda(0.4, 100, 100), 0.0);
  EXPECT_DOUBLE_EQ(AnnealedLambda(0.4, 250, 100), 0.0);  // stays at 0 after the schedule
  EXPECT_DOUBLE_EQ(AnnealedLambda(0.4, 10, 0), 0.0);     // no schedule: no shaping
}

TEST(RewardTest, ParallelAndFinishTerms) {
  EXPECT_DOUBLE_EQ(ParallelTerm(0, 8), 0.0);   // serial collapse earns nothing
  EXPECT_DOUBLE_EQ(ParallelTerm(2, 8), 0.25);
  EXPECT_DOUBLE_EQ(ParallelTerm(8, 8), 1.0);
  EXPECT_DOUBLE_EQ(ParallelTerm(30, 8), 1.0);  // capped: spawning more earns no more
  EXPECT_DOUBLE_EQ(FinishTerm(0, 0), 0.0);
  EXPECT_DOUBLE_EQ(FinishTerm(8, 6), 0.75);
  EXPECT_DOUBLE_EQ(FinishTerm(4, 4), 1.0);
}

TEST(RewardTest, BudgetPenaltyHandComputed) {
  RewardConfig c;
  c.step_budget = 10;
  c.step_penalty = 0.02;
  c.token_budget = 5000;
  c.token_penalty = 0.01;
  c.max_penalty = 0.5;
  EXPECT_DOUBLE_EQ(BudgetPenalty(c, 10, 5000), 0.0);
  EXPECT_NEAR(BudgetPenalty(c, 13, 5000), 0.06, 1e-12);          // 3 steps over * 0.02
  EXPECT_NEAR(BudgetPenalty(c, 13, 7000), 0.06 + 0.02, 1e-12);   // + 2k tokens * 0.01
  EXPECT_DOUBLE_EQ(BudgetPenalty(c, 1000, 0), 0.5);              // capped
  RewardConfig none;  // budgets 0: no penalty however long
  EXPECT_DOUBLE_EQ(BudgetPenalty(none, 1000000, 1000000000), 0.0);
}

TEST(RewardTest, CoordinatorRewardHandComputed) {
  RewardConfig c;
  c.lambda_parallel = 0.2;
  c.lambda_finish = 0.1;
  c.anneal_steps = 100;
  c.parallel_target = 4;
  c.step_budget = 6;
  c.step_penalty = 0.05;
  SwarmRunStats s{0.8, 2, 1, 8, 0};
  Result<RewardBreakdown> r = CoordinatorReward(c, s, 50);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // λ1 = 0.2 * 0.5 = 0.1, λ2 = 0.05; r_parallel = 2/4, r_finish = 1/2; penalty = 2 * 0.05.
  EXPECT_DOUBLE_EQ(r->lambda_parallel, 0.1);
  EXPECT_DOUBLE_EQ(r->lambda_finish, 0.05);
  EXPECT_DOUBLE_EQ(r->r_parallel, 0.5);
  EXPECT_DOUBLE_EQ(r->r_finish, 0.5);
  EXPECT_NEAR(r->budget_penalty, 0.1, 1e-12);
  EXPECT_NEAR(r->total, 0.8 + 0.05 + 0.025 - 0.1, 1e-12);
  EXPECT_EQ(r->ToJson()["r_finish"], 0.5);

  // After the schedule only the task reward and the penalty remain.
  Result<RewardBreakdown> late = CoordinatorReward(c, s, 100);
  ASSERT_TRUE(late.ok());
  EXPECT_NEAR(late->total, 0.8 - 0.1, 1e-12);

  // Serial collapse: the same task reward without spawning earns less early in training.
  Result<RewardBreakdown> serial = CoordinatorReward(c, {0.8, 0, 0, 6, 0}, 0);
  Result<RewardBreakdown> parallel = CoordinatorReward(c, {0.8, 4, 4, 6, 0}, 0);
  EXPECT_DOUBLE_EQ(serial->total, 0.8);
  EXPECT_NEAR(parallel->total, 0.8 + 0.2 + 0.1, 1e-12);
  // Spurious spawning: sub-agents that do not finish earn no r_finish.
  Result<RewardBreakdown> spurious = CoordinatorReward(c, {0.8, 4, 0, 6, 0}, 0);
  EXPECT_NEAR(spurious->total, 0.8 + 0.2, 1e-12);
}

TEST(RewardTest, AgentRewardIsTaskRewardLessPenalty) {
  RewardConfig c;
  c.token_budget = 1000;
  c.token_penalty = 0.1;
  Result<RewardBreakdown> r = AgentReward(c, 1.0, 3, 3000);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->total, 1.0 - 0.2, 1e-12);
  EXPECT_DOUBLE_EQ(r->r_parallel, 0.0);
}

TEST(RewardTest, BadInputsNameTheField) {
  RewardConfig c;
  c.lambda_parallel = -1;
  Result<RewardBreakdown> r = CoordinatorReward(c, {}, 0);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("lambda_parallel"), std::string::npos);
  RewardConfig t;
  t.parallel_target = 0;
  EXPECT_NE(CoordinatorReward(t, {}, 0).status().message().find("parallel_target"), std::string::npos);
  RewardConfig ok;
  EXPECT_NE(CoordinatorReward(ok, {1.5, 0, 0, 0, 0}, 0).status().message().find("task_reward"), std::string::npos);
  EXPECT_NE(CoordinatorReward(ok, {1.0, 2, 3, 0, 0}, 0).status().message().find("finished"), std::string::npos);
  EXPECT_NE(CoordinatorReward(ok, {1.0, 0, 0, 0, 0}, -1).status().message().find("training_step"), std::string::npos);
  EXPECT_NE(AgentReward(ok, -0.1, 0, 0).status().message().find("task_reward"), std::string::npos);
}

}  // namespace
}  // namespace tide::env
