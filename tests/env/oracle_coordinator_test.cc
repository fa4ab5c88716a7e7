#include <gtest/gtest.h>

#include "oracle_test_util.h"
#include "tide/env/oracle.h"
#include "tide/env/research_world.h"
#include "tide/env/wide_task.h"
#include "tide/workers/swarm_protocol.h"

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

// Answers the create/assign calls of an oracle coordinator turn as a swarm would: creates
// succeed, each assignment runs an oracle researcher on the episode's tools (those of
// agents in `drop` fail with no result).
void AnswerCreateAssign(const workers::Message& turn, Episode& episode, const std::vector<std::string>& drop,
                        std::vector<workers::Message>* messages, std::vector<std::string>* assigned_agents) {
  messages->push_back(turn);
  for (const workers::ToolCall& c : turn.tool_calls) {
    nlohmann::json args = nlohmann::json::parse(c.arguments);
    if (c.name == workers::kCreateSubagentTool) {
      Result<workers::SubagentDefinition> d = workers::ParseCreateArguments(args, {"search", "open"});
      ASSERT_TRUE(d.ok()) << d.status().ToString();
      EXPECT_EQ(d->tools, (std::vector<std::string>{"search", "open"}));
      EXPECT_NE(d->system_prompt.find(kOracleResearcherGuidance), std::string::npos);
      messages->push_back(workers::Message::Tool(c.id, nlohmann::json{{"created", d->name}}.dump()));
      continue;
    }
    ASSERT_EQ(c.name, workers::kAssignTaskTool);
    Result<workers::TaskAssignment> a = workers::ParseAssignArguments(args);
    ASSERT_TRUE(a.ok());
    assigned_agents->push_back(a->agent);
    OraclePolicy researcher;
    workers::ToolRegistry tools = Registry(episode.tools());
    workers::AgentOutcome out = RunAgent(&researcher, tools, a->task, a->agent);
    workers::SubagentReport report{a->agent, workers::AgentEndName(out.end), out.result, out.steps, out.tool_calls};
    if (std::find(drop.begin(), drop.end(), a->agent) != drop.end()) report = {a->agent, "failed", "", 0, 0};
    messages->push_back(workers::Message::Tool(c.id, workers::FormatSubagentReports({report})));
  }
}

TEST(OracleCoordinatorTest, CreateAssignCreatesAndAssignsInOneTurnThenReassignsTheMissing) {
  auto episode = NewEpisode(4, 10);
  const std::vector<workers::ToolSpec> specs = {workers::CreateSubagentSpec(4, {"search", "open"}),
                                                workers::AssignTaskSpec()};
  std::vector<workers::Message> messages = {workers::Message::User(episode->prompt())};
  OraclePolicy oracle;
  auto turn = [&] {
    workers::PolicyRequest request{&messages, &specs, "coordinator"};
    Result<workers::PolicyResponse> r = oracle.Generate(request);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r->message;
  };

  const workers::Message first = turn();
  ASSERT_EQ(first.tool_calls.size(), 8u);  // four creates (the stated limit), then four assigns
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(first.tool_calls[i].name, i < 4 ? workers::kCreateSubagentTool : workers::kAssignTaskTool) << i;
  }
  std::vector<std::string> assigned;
  AnswerCreateAssign(first, *episode, {"researcher-2"}, &messages, &assigned);
  EXPECT_EQ(assigned, (std::vector<std::string>{"researcher-1", "researcher-2", "researcher-3", "researcher-4"}));

  // researcher-2's entities (10 over 4: 3,3,2,2) go again, to the researchers created.
  const workers::Message second = turn();
  ASSERT_FALSE(second.tool_calls.empty());
  std::vector<std::string> again;
  for (const workers::ToolCall& c : second.tool_calls) {
    ASSERT_EQ(c.name, workers::kAssignTaskTool);
    Result<workers::TaskAssignment> a = workers::ParseAssignArguments(nlohmann::json::parse(c.arguments));
    ASSERT_TRUE(a.ok());
    Result<WideTaskSpec> part = ParseWideTask(a->task);
    ASSERT_TRUE(part.ok());
    again.insert(again.end(), part->entities.begin(), part->entities.end());
  }
  Result<WideTaskSpec> whole = ParseWideTask(episode->prompt());
  EXPECT_EQ(again, std::vector<std::string>(whole->entities.begin() + 3, whole->entities.begin() + 6));
  assigned.clear();
  AnswerCreateAssign(second, *episode, {}, &messages, &assigned);
  EXPECT_EQ(assigned.size(), 3u);

  const workers::Message answer = turn();
  EXPECT_TRUE(answer.tool_calls.empty());
  EXPECT_TRUE(episode->Verify(answer.content).success) << answer.content;
}

}  // namespace
}  // namespace tide::env
