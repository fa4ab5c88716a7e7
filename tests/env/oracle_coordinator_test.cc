#include <gtest/gtest.h>

#include "oracle_test_util.h"
#include "tide/env/oracle.h"
#include "tide/env/research_world.h"
#include "tide/env/wide_task.h"

namespace tide::env {
namespace {

using testing::Registry;
using testing::RunAgent;
using testing::SpawnTool;

std::unique_ptr<Episode> NewEpisode(uint64_t seed, int items) {
  TaskParams p;
  p.seed = seed;
  p.items = items;
  Result<std::unique_ptr<Episode>> e = FindWorld("research").value()->Reset(p);
  EXPECT_TRUE(e.ok());
  return std::move(e).value();
}

TEST(OracleCoordinatorTest, SplitsIntoBalancedContiguousGroupsAndMerges) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    auto episode = NewEpisode(seed, 20);
    auto spawn = std::make_shared<SpawnTool>(8, episode->tools());
    OraclePolicy oracle;
    workers::ToolRegistry tools = Registry({spawn});
    workers::AgentOutcome out = RunAgent(&oracle, tools, episode->prompt(), "coordinator");
    ASSERT_EQ(out.end, workers::AgentEnd::kFinished) << out.error.ToString();
    Verdict v = episode->Verify(out.result);
    EXPECT_TRUE(v.success) << "seed " << seed << ": " << v.details.dump(1);
    EXPECT_EQ(out.steps, 2);  // spawn, answer

    ASSERT_EQ(spawn->calls().size(), 1u);
    const std::vector<workers::SubagentTask> tasks = spawn->calls()[0];
    ASSERT_EQ(tasks.size(), 8u);
    Result<WideTaskSpec> whole = ParseWideTask(episode->prompt());
    std::vector<std::string> concatenated;
    for (size_t i = 0; i < tasks.size(); ++i) {
      EXPECT_EQ(tasks[i].name, "researcher-" + std::to_string(i + 1));
      EXPECT_EQ(tasks[i].tools, (std::vector<std::string>{"search", "open"}));
      Result<WideTaskSpec> part = ParseWideTask(tasks[i].instructions);
      ASSERT_TRUE(part.ok());
      EXPECT_EQ(part->columns, whole->columns);
      EXPECT_EQ(part->entities.size(), i < 4 ? 3u : 2u);  // 20 over 8: 3,3,3,3,2,2,2,2
      concatenated.insert(concatenated.end(), part->entities.begin(), part->entities.end());
    }
    EXPECT_EQ(concatenated, whole->entities);
  }
}

TEST(OracleCoordinatorTest, FewerEntitiesThanSlotsGivesOneEach) {
  auto episode = NewEpisode(9, 3);
  auto spawn = std::make_shared<SpawnTool>(100, episode->tools());
  OraclePolicy oracle;
  workers::ToolRegistry tools = Registry({spawn});
  workers::AgentOutcome out = RunAgent(&oracle, tools, episode->prompt(), "coordinator");
  EXPECT_TRUE(episode->Verify(out.result).success);
  ASSERT_EQ(spawn->calls().size(), 1u);
  EXPECT_EQ(spawn->calls()[0].size(), 3u);
}

TEST(OracleCoordinatorTest, SpawnsAgainOnlyForMissingEntities) {
  auto episode = NewEpisode(4, 10);
  auto spawn = std::make_shared<SpawnTool>(5, episode->tools(), std::vector<std::string>{"researcher-2"});
  OraclePolicy oracle;
  workers::ToolRegistry tools = Registry({spawn});
  workers::AgentOutcome out = RunAgent(&oracle, tools, episode->prompt(), "coordinator");
  ASSERT_EQ(out.end, workers::AgentEnd::kFinished);
  EXPECT_TRUE(episode->Verify(out.result).success);
  EXPECT_EQ(out.steps, 3);  // spawn, spawn again, answer
  ASSERT_EQ(spawn->calls().size(), 2u);
  const std::vector<workers::SubagentTask> retry = spawn->calls()[1];
  Result<WideTaskSpec> first = ParseWideTask(spawn->calls()[0][1].instructions);
  std::vector<std::string> again;
  for (const workers::SubagentTask& t : retry) {
    EXPECT_EQ(t.name.rfind("researcher-", 0), 0u);
    EXPECT_GE(std::stoi(t.name.substr(11)), 6);  // names stay unique across the run
    Result<WideTaskSpec> part = ParseWideTask(t.instructions);
    again.insert(again.end(), part->entities.begin(), part->entities.end());
  }
  EXPECT_EQ(again, first->entities);
}

TEST(OracleCoordinatorTest, GivesUpAfterTheSecondRoundWithNulls) {
  auto episode = NewEpisode(4, 4);
  auto spawn = std::make_shared<SpawnTool>(2, episode->tools(),
                                           std::vector<std::string>{"researcher-1", "researcher-3", "researcher-4"});
  OraclePolicy oracle;
  workers::ToolRegistry tools = Registry({spawn});
  workers::AgentOutcome out = RunAgent(&oracle, tools, episode->prompt(), "coordinator");
  ASSERT_EQ(out.end, workers::AgentEnd::kFinished);
  EXPECT_EQ(spawn->calls().size(), 2u);
  Verdict v = episode->Verify(out.result);
  EXPECT_FALSE(v.success);
  EXPECT_DOUBLE_EQ(v.precision, 1.0);
  EXPECT_DOUBLE_EQ(v.recall, 0.5);
}

}  // namespace
}  // namespace tide::env
