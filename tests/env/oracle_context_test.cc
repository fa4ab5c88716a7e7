#include "tide/env/oracle_context.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

using workers::Message;

TEST(OracleContextTest, FindsTheTaskInTheFirstUserMessageThatHasOne) {
  std::vector<Message> m = {Message::System("be brief"), Message::User("hi"),
                            Message::User(FormatWideTask({"A Labs"}, {"founder"}))};
  Result<WideTaskSpec> t = FindWideTask(m);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->entities[0], "A Labs");
  EXPECT_FALSE(FindWideTask({Message::User("hi")}).ok());
  EXPECT_FALSE(FindWideTask({}).ok());
}

TEST(OracleContextTest, PastCallsJoinObservationsById) {
  std::vector<Message> m = {
      Message::User("task"),
      Message::Assistant("", {{"a", "search", R"({"query":"x"})"}, {"b", "open", "not json"}}),
      Message::Tool("b", "doc b"),
      Message::Tool("a", "hits a"),
      Message::Assistant("", {{"c", "search", "{}"}}),
  };
  std::vector<PastCall> calls = PastCalls(m);
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].arguments["query"], "x");
  EXPECT_EQ(calls[0].observation, "hits a");
  EXPECT_TRUE(calls[1].answered);
  EXPECT_TRUE(calls[1].arguments.is_object());
  EXPECT_EQ(calls[1].observation, "doc b");
  EXPECT_FALSE(calls[2].answered);
  EXPECT_EQ(AssistantTurns(m), 2);
}

TEST(OracleContextTest, AnswerTableHasEveryEntityInTaskOrder) {
  WideTaskSpec task{{"B", "A"}, {"founder", "employees"}};
  std::map<std::string, nlohmann::json> rows = {{"A", {{"founder", "X"}, {"employees", 5}}}};
  std::string text = FormatAnswerTable(task, rows);
  ASSERT_EQ(text.substr(0, 8), "```json\n");
  nlohmann::json t = nlohmann::json::parse(text.substr(8, text.size() - 12));
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0], (nlohmann::json{{"entity", "B"}, {"founder", nullptr}, {"employees", nullptr}}));
  EXPECT_EQ(t[1], (nlohmann::json{{"entity", "A"}, {"founder", "X"}, {"employees", 5}}));
}

}  // namespace
}  // namespace tide::env
