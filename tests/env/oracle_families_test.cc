#include "tide/env/oracle_families.h"

#include <gtest/gtest.h>

#include "oracle_test_util.h"
#include "tide/env/compute_world.h"
#include "tide/env/oracle.h"
#include "tide/env/question_episode.h"
#include "tide/env/research_world.h"

namespace tide::env {
namespace {

using testing::Registry;
using testing::RunAgent;
using testing::SpawnTool;

std::unique_ptr<Episode> Reset(const std::string& world, const std::string& family, uint64_t seed, int items,
                               int hops = 0) {
  TaskParams p;
  p.family = family;
  p.seed = seed;
  p.items = items;
  p.hops = hops;
  Result<std::unique_ptr<Episode>> e = FindWorld(world).value()->Reset(p);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return std::move(e).value();
}

struct Case {
  std::string world, family;
  int items;
};

const std::vector<Case>& Cases() {
  static const std::vector<Case> kCases = {{"research", kLookupFamily, 20},
                                           {"research", kMultiHopFamily, 20},
                                           {"research", kAggregateFamily, 8},
                                           {"compute", kChainFamily, 6}};
  return kCases;
}

TEST(OracleFamiliesTest, SolvesEveryFamilyOnTwoHundredSeeds) {
  OraclePolicy oracle;
  for (const Case& c : Cases()) {
    int solved = 0;
    for (uint64_t seed = 1; seed <= 200; ++seed) {
      auto episode = Reset(c.world, c.family, seed, c.items);
      workers::ToolRegistry tools = Registry(episode->tools());
      workers::AgentOutcome out = RunAgent(&oracle, tools, episode->prompt());
      ASSERT_EQ(out.end, workers::AgentEnd::kFinished) << c.family << " seed " << seed << ": " << out.error.ToString();
      Verdict v = episode->Verify(out.result);
      EXPECT_DOUBLE_EQ(v.reward, 1.0) << c.family << " seed " << seed << ": " << v.details.dump() << "\n"
                                      << episode->prompt();
      solved += v.success;
    }
    EXPECT_EQ(solved, 200) << c.family;
  }
}

TEST(OracleFamiliesTest, MultiHopAtEveryDepthAndTheToolsItUses) {
  OraclePolicy oracle;
  for (int hops : {2, 4}) {
    for (uint64_t seed = 1; seed <= 25; ++seed) {
      auto episode = Reset("research", kMultiHopFamily, seed, 20, hops);
      workers::ToolRegistry tools = Registry(episode->tools());
      workers::Agent agent({"solo", 30, nullptr}, &oracle, &tools, nullptr);
      workers::AgentOutcome out = agent.Run({workers::Message::User(episode->prompt())});
      EXPECT_TRUE(episode->Verify(out.result).success) << "hops " << hops << " seed " << seed;
      // One lookup per entity on the path, never an open of an archive item.
      int lookups = 0;
      for (const workers::Message& m : agent.context()) {
        for (const workers::ToolCall& call : m.tool_calls) lookups += call.name == "lookup";
      }
      EXPECT_EQ(lookups, hops + 1);
    }
  }
}

TEST(OracleFamiliesTest, CoordinatorSolvesThroughSubagents) {
  OraclePolicy oracle;
  for (const Case& c : Cases()) {
    for (uint64_t seed = 1; seed <= 10; ++seed) {
      auto episode = Reset(c.world, c.family, seed, c.items);
      auto spawn = std::make_shared<SpawnTool>(4, episode->tools());
      workers::ToolRegistry tools = Registry({spawn});
      workers::AgentOutcome out = RunAgent(&oracle, tools, episode->prompt(), "coordinator");
      ASSERT_EQ(out.end, workers::AgentEnd::kFinished) << out.error.ToString();
      EXPECT_TRUE(episode->Verify(out.result).success) << c.family << " seed " << seed << ": " << out.result;
      ASSERT_FALSE(spawn->calls().empty());
      const size_t expected = c.family == kAggregateFamily ? 4u : 1u;
      EXPECT_EQ(spawn->calls()[0].size(), expected) << c.family;
    }
  }
}

TEST(OracleFamiliesTest, RespawnsOnceWhenASubagentFails) {
  OraclePolicy oracle;
  auto episode = Reset("research", kLookupFamily, 3, 20);
  auto spawn = std::make_shared<SpawnTool>(4, episode->tools(), std::vector<std::string>{"worker-1-1"});
  workers::ToolRegistry tools = Registry({spawn});
  workers::AgentOutcome out = RunAgent(&oracle, tools, episode->prompt(), "coordinator");
  EXPECT_TRUE(episode->Verify(out.result).success) << out.result;
  EXPECT_EQ(spawn->calls().size(), 2u);
}

TEST(OracleFamiliesTest, ATamperedToolMakesTheOracleWrong) {
  // The oracle believes its tools: with the lookup tool removed and the profiles hidden,
  // it cannot find the values and its answer scores below 1.
  OraclePolicy oracle;
  auto episode = Reset("research", kLookupFamily, 9, 20);
  std::vector<std::shared_ptr<workers::Tool>> only_search = {episode->tools()[0]};
  workers::ToolRegistry tools = Registry(only_search);
  workers::AgentOutcome out = RunAgent(&oracle, tools, episode->prompt());
  EXPECT_LT(episode->Verify(out.result).reward, 1.0) << out.result;
}

TEST(OracleFamiliesTest, OtherTasksAreNotTheirs) {
  std::vector<workers::Message> messages = {workers::Message::User("Columns (1):\n- founder\n\nEntities (1):\n1. A\n")};
  workers::PolicyRequest request{&messages, nullptr, "solo", nullptr};
  EXPECT_FALSE(OracleFamilyTurn(request, 0).has_value());
  std::vector<workers::Message> none;
  EXPECT_FALSE(OracleFamilyTurn({&none, nullptr, "solo", nullptr}, 0).has_value());
}

}  // namespace
}  // namespace tide::env
