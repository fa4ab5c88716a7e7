#include "tide/env/oracle.h"

#include <atomic>

#include <gtest/gtest.h>

#include "tide/engine/pretokenizer.h"
#include "tide/env/wide_task.h"
#include "tide/workers/swarm_protocol.h"

namespace tide::env {
namespace {

using workers::Message;
using workers::ToolSpec;

std::vector<ToolSpec> ResearchSpecs() {
  return {{"search", "", {{"type", "object"}}}, {"open", "", {{"type", "object"}}}};
}

TEST(OraclePolicyTest, NameAndMissingMessages) {
  OraclePolicy oracle;
  EXPECT_EQ(oracle.name(), "oracle");
  workers::PolicyRequest request;
  EXPECT_EQ(oracle.Generate(request).status().code(), StatusCode::kInvalidArgument);
}

TEST(OraclePolicyTest, WithoutSpawnItResearchesWithParallelSearches) {
  OraclePolicy oracle;
  std::vector<Message> messages = {Message::User(FormatWideTask({"A Labs", "B Works"}, {"founder"}))};
  std::vector<ToolSpec> tools = ResearchSpecs();
  Result<workers::PolicyResponse> r = oracle.Generate({&messages, &tools, "solo", nullptr});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->message.tool_calls.size(), 2u);
  EXPECT_EQ(r->message.tool_calls[0].id, "call_1_1");
  EXPECT_EQ(r->message.tool_calls[1].id, "call_1_2");
  EXPECT_EQ(r->message.tool_calls[1].name, "search");
  EXPECT_EQ(nlohmann::json::parse(r->message.tool_calls[1].arguments)["query"], "B Works");
}

TEST(OraclePolicyTest, CapsToolCallsPerTurnAndCarriesTheRestOver) {
  OraclePolicy oracle(OraclePolicy::Options{2});
  std::vector<Message> messages = {Message::User(FormatWideTask({"A Labs", "B Works", "C Corp"}, {"founder"}))};
  std::vector<ToolSpec> tools = ResearchSpecs();
  Result<workers::PolicyResponse> r = oracle.Generate({&messages, &tools, "solo", nullptr});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->message.tool_calls.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(r->message.tool_calls[1].arguments)["query"], "B Works");
  // The third entity's search comes in a later turn, never more than two calls a turn.
  bool searched_c = false;
  for (int turn = 0; turn < 5 && !searched_c && !r->message.tool_calls.empty(); ++turn) {
    messages.push_back(r->message);
    for (const auto& call : r->message.tool_calls) messages.push_back(Message::Tool(call.id, "no results"));
    r = oracle.Generate({&messages, &tools, "solo", nullptr});
    ASSERT_TRUE(r.ok());
    EXPECT_LE(r->message.tool_calls.size(), 2u);
    for (const auto& call : r->message.tool_calls) {
      searched_c = searched_c || nlohmann::json::parse(call.arguments)["query"] == "C Corp";
    }
  }
  EXPECT_TRUE(searched_c);
}

TEST(OraclePolicyTest, WithSpawnItCoordinates) {
  OraclePolicy oracle;
  std::vector<Message> messages = {Message::User(FormatWideTask({"A Labs", "B Works", "C Co"}, {"founder"}))};
  std::vector<ToolSpec> tools = {workers::SpawnSubagentsSpec(2, {"search", "open"})};
  Result<workers::PolicyResponse> r = oracle.Generate({&messages, &tools, "coordinator", nullptr});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->message.tool_calls.size(), 1u);
  EXPECT_EQ(r->message.tool_calls[0].name, workers::kSpawnSubagentsTool);
  Result<std::vector<workers::SubagentTask>> tasks =
      workers::ParseSpawnArguments(nlohmann::json::parse(r->message.tool_calls[0].arguments), {"search", "open"});
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ(ParseWideTask((*tasks)[0].instructions)->entities, (std::vector<std::string>{"A Labs", "B Works"}));
  // The compact sub-task form: the lists and the answer line, nothing else.
  EXPECT_EQ((*tasks)[0].instructions, FormatWideSubtask({"A Labs", "B Works"}, {"founder"}));
}

TEST(OraclePolicyTest, UsageCountsPreTokens) {
  OraclePolicy oracle;
  std::vector<Message> messages = {Message::System("You research."),
                                   Message::User(FormatWideTask({"A Labs"}, {"founder"}))};
  std::vector<ToolSpec> tools = ResearchSpecs();
  Result<workers::PolicyResponse> r = oracle.Generate({&messages, &tools, "solo", nullptr});
  ASSERT_TRUE(r.ok());
  int64_t prompt = 0;
  for (const Message& m : messages) prompt += static_cast<int64_t>(engine::CountPreTokens(m.content));
  EXPECT_EQ(r->usage.prompt_tokens, prompt);
  EXPECT_EQ(r->usage.completion_tokens,
            static_cast<int64_t>(engine::CountPreTokens(r->message.tool_calls[0].arguments)));
}

TEST(OraclePolicyTest, UnreadableTaskGetsATextAnswer) {
  OraclePolicy oracle;
  std::vector<Message> messages = {Message::User("What is the weather?")};
  std::vector<ToolSpec> tools = ResearchSpecs();
  Result<workers::PolicyResponse> r = oracle.Generate({&messages, &tools, "solo", nullptr});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->message.tool_calls.empty());
  EXPECT_FALSE(r->message.content.empty());
}

TEST(OraclePolicyTest, CancelledRunFails) {
  OraclePolicy oracle;
  std::atomic<bool> cancelled{true};
  std::vector<Message> messages = {Message::User("x")};
  EXPECT_EQ(oracle.Generate({&messages, nullptr, "solo", &cancelled}).status().code(), StatusCode::kCancelled);
}

}  // namespace
}  // namespace tide::env
