#include "tide/env/api_oracle.h"

#include <gtest/gtest.h>

#include "oracle_test_util.h"
#include "tide/env/api_world.h"
#include "tide/env/oracle.h"
#include "tide/workers/swarm_protocol.h"

namespace tide::env {
namespace {

using nlohmann::json;

std::unique_ptr<ApiEpisode> Reset(uint64_t seed, int items, double failure_rate = -1, int distractors = -1) {
  TaskParams p;
  p.family = kApiGoalFamily;
  p.seed = seed;
  p.items = items;
  p.failure_rate = failure_rate;
  p.distractors = distractors;
  Result<std::unique_ptr<ApiEpisode>> e = ApiWorld().ResetApi(p);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return std::move(e).value();
}

// The oracle as one operator agent on the episode's tools, as a swarm's sub-agent runs.
workers::AgentOutcome Solve(const ApiEpisode& e, workers::Policy* policy, int max_steps = 60) {
  workers::ToolRegistry registry = testing::Registry(e.tools());
  return testing::RunAgent(policy, registry, e.prompt(), "operator", max_steps);
}

TEST(ApiOracleTest, ScoresOneOnTwoHundredSeeds) {
  OraclePolicy oracle;
  int failures_seen = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    auto e = Reset(seed, 1 + static_cast<int>(seed % 6));
    workers::AgentOutcome out = Solve(*e, &oracle);
    ASSERT_EQ(out.end, workers::AgentEnd::kFinished) << "seed " << seed << ": " << out.error.ToString();
    Verdict v = e->Verify(out.result);
    EXPECT_EQ(v.reward, 1.0) << "seed " << seed << "\n" << e->prompt() << "\n" << out.result << "\n" << v.details.dump(1);
    EXPECT_NE(out.result.find("steps are done"), std::string::npos);
    for (const ApiCallRecord& c : e->simulator().CallLog()) failures_seen += !c.ok;
  }
  EXPECT_GT(failures_seen, 50) << "the default failure rate makes the oracle retry";
}

TEST(ApiOracleTest, RetriesThroughHeavyFailuresWithoutDuplicates) {
  OraclePolicy oracle;
  // Seed 95 chains two actions over four records, with up to four failures on one record.
  for (uint64_t seed = 80; seed < 120; ++seed) {
    auto e = Reset(seed, 5, kApiMaxFailureRate);
    workers::AgentOutcome out = Solve(*e, &oracle);
    ASSERT_EQ(out.end, workers::AgentEnd::kFinished) << out.error.ToString();
    Verdict v = e->Verify(out.result);
    EXPECT_EQ(v.reward, 1.0) << "seed " << seed << "\n" << v.details.dump(1);
  }
}

TEST(ApiOracleTest, ItNeverCallsAForbiddenTool) {
  OraclePolicy oracle;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto e = Reset(seed, 5);
    Solve(*e, &oracle);
    for (const ApiCallRecord& c : e->simulator().CallLog()) {
      for (const std::string& f : e->task().forbidden_tools) EXPECT_NE(c.tool, f);
      EXPECT_NE(c.kind, ApiToolKind::kDelete);
    }
  }
}

TEST(ApiOracleTest, CoordinatorSplitsTheStepsOverOperators) {
  for (uint64_t seed : {5u, 6u, 7u, 8u}) {
    auto e = Reset(seed, 20);
    testing::SpawnTool* spawn = nullptr;
    auto tool = std::make_shared<testing::SpawnTool>(8, e->tools());
    spawn = tool.get();
    workers::ToolRegistry registry = testing::Registry({tool});
    OraclePolicy oracle;
    workers::AgentOutcome out = testing::RunAgent(&oracle, registry, e->prompt(), "coordinator", 10);
    ASSERT_EQ(out.end, workers::AgentEnd::kFinished) << out.error.ToString();
    Verdict v = e->Verify(out.result);
    EXPECT_EQ(v.reward, 1.0) << "seed " << seed << "\n" << v.details.dump(1);
    ASSERT_EQ(spawn->calls().size(), 1u);
    ASSERT_EQ(spawn->calls()[0].size(), 8u);
    Result<ApiTaskSpec> first = ParseApiTask(spawn->calls()[0][0].instructions);
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first->steps.size(), 2u);  // 20 steps over 8 operators: 2, 3, 2, 3, ...
    EXPECT_EQ(first->forbidden_tools, e->task().forbidden_tools);
    EXPECT_TRUE(first->steps[0] == e->task().steps[0]);
    EXPECT_NE(out.result.find("operator-8"), std::string::npos);
  }
}

TEST(ApiOracleTest, CoordinatorRespawnsAFailedOperatorOnce) {
  auto e = Reset(40, 6, 0);
  auto tool = std::make_shared<testing::SpawnTool>(3, e->tools(), std::vector<std::string>{"operator-2"});
  workers::ToolRegistry registry = testing::Registry({tool});
  OraclePolicy oracle;
  workers::AgentOutcome out = testing::RunAgent(&oracle, registry, e->prompt(), "coordinator", 10);
  ASSERT_EQ(out.end, workers::AgentEnd::kFinished);
  ASSERT_EQ(tool->calls().size(), 2u);
  ASSERT_EQ(tool->calls()[1].size(), 1u);
  EXPECT_EQ(tool->calls()[1][0].name, "operator-2-retry");
  // The dropped operator did its work before its report was lost: the retry finds it done.
  EXPECT_EQ(e->Verify(out.result).reward, 1.0) << e->Verify(out.result).details.dump(1);
}

TEST(ApiOracleTest, ReportsAStepItCannotDo) {
  // A task naming an owner who does not exist: the operator says so instead of acting.
  auto e = Reset(3, 2, 0);
  ApiTaskSpec task = e->task();
  task.steps[0].owner_name = "Nobody Atall";
  OraclePolicy oracle;
  workers::ToolRegistry registry = testing::Registry(e->tools());
  workers::AgentOutcome out = testing::RunAgent(&oracle, registry, FormatApiTask(task), "operator", 30);
  ASSERT_EQ(out.end, workers::AgentEnd::kFinished);
  EXPECT_NE(out.result.find("1. failed: no " + task.steps[0].owner + " is named \"Nobody Atall\""), std::string::npos)
      << out.result;
  EXPECT_NE(out.result.find("2. done"), std::string::npos) << out.result;
  EXPECT_LT(e->Verify(out.result).reward, 1.0);
}

TEST(ApiOracleTest, CapsCallsPerTurn) {
  auto e = Reset(11, 8, 0);
  OraclePolicy oracle(OraclePolicy::Options{2});
  workers::ToolRegistry registry = testing::Registry(e->tools());
  workers::Agent agent({"operator", 100, nullptr}, &oracle, &registry, nullptr);
  workers::AgentOutcome out = agent.Run({workers::Message::User(e->prompt())});
  ASSERT_EQ(out.end, workers::AgentEnd::kFinished);
  for (const workers::Message& m : agent.context()) EXPECT_LE(m.tool_calls.size(), 2u);
  EXPECT_EQ(e->Verify(out.result).reward, 1.0);
}

TEST(ApiOracleTest, RecognisesApiRequestsOnly) {
  auto e = Reset(1, 2);
  std::vector<workers::Message> api = {workers::Message::System("You operate."), workers::Message::User(e->prompt())};
  std::vector<workers::Message> other = {workers::Message::User("What is the weather?")};
  EXPECT_TRUE(IsApiGoalRequest({&api, nullptr, "a", nullptr}));
  EXPECT_FALSE(IsApiGoalRequest({&other, nullptr, "a", nullptr}));
  EXPECT_FALSE(IsApiGoalRequest({nullptr, nullptr, "a", nullptr}));
  EXPECT_EQ(ApiOperatorTurn({&other, nullptr, "a", nullptr}).status().code(), StatusCode::kInvalidArgument);
  // The first turn finds every step's owner, in parallel.
  Result<workers::Message> first = ApiOperatorTurn({&api, nullptr, "a", nullptr});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->tool_calls.size(), 2u);
  EXPECT_EQ(first->tool_calls[0].id, "call_1_1");
  EXPECT_EQ(first->tool_calls[0].name, "find_" + e->suite().owner + "s");
  EXPECT_EQ(json::parse(first->tool_calls[1].arguments)["name"], e->task().steps[1].owner_name);
}

}  // namespace
}  // namespace tide::env
