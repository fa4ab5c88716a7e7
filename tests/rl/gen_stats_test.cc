// GenStats against hand-computed numbers: outcomes per task, pass rate, the reward
// histogram, the tool-call histogram, error observations and per-example distributions.
#include "tide/rl/gen_stats.h"

#include <gtest/gtest.h>

namespace tide::rl {
namespace {

using nlohmann::json;

json Call(const std::string& id, const std::string& name, const std::string& args) {
  return {{"id", id}, {"type", "function"}, {"function", {{"name", name}, {"arguments", args}}}};
}

TEST(GenStatsTest, CountsOutcomesAndDescribesExamples) {
  GenStats s;
  s.AddTask("research", "wide", TaskOutcome::kKept, 1.0);
  s.AddTask("research", "wide", TaskOutcome::kRejected, 0.45);
  s.AddTask("research", "lookup", TaskOutcome::kDuplicate, 1.0);
  s.AddTask("api", "api-goal", TaskOutcome::kError, 0);
  s.AddError("DEADLINE_EXCEEDED: the run passed its deadline");
  s.AddDuplicateExample();

  // Example 1: 4 messages, two calls (search x2), one error observation.
  s.AddExample({{"role_in_swarm", "subagent"},
                {"messages", json::array({{{"role", "user"}, {"content", "abcd"}},                                  // 4
                                          {{"role", "assistant"}, {"content", ""},
                                           {"tool_calls", json::array({Call("a", "search", "{}"), Call("b", "search", "{\"q\":1}")})}},  // 2 + 7
                                          {{"role", "tool"}, {"tool_call_id", "a"}, {"content", "error: x"}},                            // 8
                                          {{"role", "assistant"}, {"content", "done"}}})}});                                            // 4
  // Example 2: 2 messages, no calls.
  s.AddExample({{"role_in_swarm", "coordinator"},
                {"messages", json::array({{{"role", "user"}, {"content", "hi"}}, {{"role", "assistant"}, {"content", "yo"}}})}});

  EXPECT_EQ(s.tasks(), 4);
  EXPECT_EQ(s.kept(), 1);
  EXPECT_EQ(s.duplicates(), 1);
  EXPECT_EQ(s.passed(), 2);
  EXPECT_EQ(s.errors(), 1);
  EXPECT_EQ(s.examples(), 2);

  const json j = s.ToJson(30.0);
  EXPECT_EQ(j["pass_rate"], 0.5);
  EXPECT_EQ(j["rejected"], 1);
  EXPECT_EQ(j["duplicate_examples"], 1);
  EXPECT_DOUBLE_EQ(j["mean_reward"].get<double>(), (1.0 + 0.45 + 1.0) / 3);
  EXPECT_EQ(j["per_min"], 2.0);  // one kept in 30 s
  EXPECT_EQ(j["reward_histogram"]["1.0"], 2);
  EXPECT_EQ(j["reward_histogram"]["[0.4,0.5)"], 1);
  EXPECT_EQ(j["tool_calls"]["search"], 2);
  EXPECT_EQ(j["tool_error_observations"], 1);
  EXPECT_EQ(j["examples_by_role"]["subagent"], 1);
  EXPECT_EQ(j["examples_by_role"]["coordinator"], 1);
  EXPECT_EQ(j["messages_per_example"]["min"], 2);
  EXPECT_EQ(j["messages_per_example"]["max"], 4);
  EXPECT_EQ(j["messages_per_example"]["mean"], 3);
  EXPECT_EQ(j["chars_per_example"]["max"], 25);
  EXPECT_EQ(j["chars_per_example"]["min"], 4);
  EXPECT_EQ(j["tool_calls_per_example"]["max"], 2);
  EXPECT_EQ(j["assistant_turns_per_example"]["mean"], 1.5);
  EXPECT_EQ(j["by_task"]["research/wide"]["tasks"], 2);
  EXPECT_EQ(j["by_task"]["research/wide"]["pass_rate"], 0.5);
  EXPECT_DOUBLE_EQ(j["by_task"]["research/wide"]["mean_reward"].get<double>(), 0.725);
  EXPECT_EQ(j["by_task"]["api/api-goal"]["errors"], 1);
  EXPECT_EQ(j["error_kinds"]["DEADLINE_EXCEEDED"], 1);
  ASSERT_EQ(j["error_samples"].size(), 1u);
}

TEST(GenStatsTest, DescribeQuantiles) {
  const json d = GenStats::Describe({5, 1, 3, 2, 4, 6, 7, 8, 9, 10});
  EXPECT_EQ(d["count"], 10);
  EXPECT_EQ(d["min"], 1);
  EXPECT_EQ(d["max"], 10);
  EXPECT_EQ(d["mean"], 5.5);
  EXPECT_EQ(d["p50"], 5);  // element floor(0.5 * 9) = 4 of the sorted values
  EXPECT_EQ(d["p90"], 9);  // element floor(0.9 * 9) = 8
  EXPECT_EQ(GenStats::Describe({})["count"], 0);
  EXPECT_EQ(GenStats().ToJson(0)["per_min"], 0.0);
}

}  // namespace
}  // namespace tide::rl
