#include "tide/workers/message.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tide::workers {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

void ExpectSameMessage(const Message& a, const Message& b) {
  EXPECT_EQ(a.role, b.role);
  EXPECT_EQ(a.content, b.content);
  EXPECT_EQ(a.tool_call_id, b.tool_call_id);
  EXPECT_EQ(a.name, b.name);
  ASSERT_EQ(a.tool_calls.size(), b.tool_calls.size());
  for (size_t i = 0; i < a.tool_calls.size(); ++i) {
    EXPECT_EQ(a.tool_calls[i].id, b.tool_calls[i].id);
    EXPECT_EQ(a.tool_calls[i].name, b.tool_calls[i].name);
    EXPECT_EQ(a.tool_calls[i].arguments, b.tool_calls[i].arguments);
  }
}

TEST(MessageTest, FactoriesSetRoles) {
  EXPECT_EQ(Message::System("s").role, "system");
  EXPECT_EQ(Message::System("s").content, "s");
  EXPECT_EQ(Message::User("u").role, "user");
  Message a = Message::Assistant("a", {{"call_1", "add", "{}"}});
  EXPECT_EQ(a.role, "assistant");
  ASSERT_EQ(a.tool_calls.size(), 1u);
  EXPECT_EQ(a.tool_calls[0].name, "add");
  Message t = Message::Tool("call_1", "3");
  EXPECT_EQ(t.role, "tool");
  EXPECT_EQ(t.tool_call_id, "call_1");
  EXPECT_EQ(t.content, "3");
}

TEST(MessageTest, SimpleMessagesToJson) {
  EXPECT_EQ(ToJson(Message::System("be brief")), json({{"role", "system"}, {"content", "be brief"}}));
  EXPECT_EQ(ToJson(Message::User("hi")), json({{"role", "user"}, {"content", "hi"}}));
  EXPECT_EQ(ToJson(Message::Tool("call_7", "42")),
            json({{"role", "tool"}, {"content", "42"}, {"tool_call_id", "call_7"}}));
  Message named = Message::User("x");
  named.name = "alice";
  EXPECT_EQ(ToJson(named)["name"], "alice");
  // Plain assistant text with no calls keeps string content and has no tool_calls key.
  json plain = ToJson(Message::Assistant(""));
  EXPECT_TRUE(plain["content"].is_string());
  EXPECT_FALSE(plain.contains("tool_calls"));
}

TEST(MessageTest, ToolCallOnlyAssistantHasNullContentAndOpenAiToolCalls) {
  Message m = Message::Assistant("", {{"call_1", "add", R"({"a":1,"b":2})"}, {"call_2", "search", "{}"}});
  json j = ToJson(m);
  EXPECT_EQ(j["role"], "assistant");
  ASSERT_TRUE(j.contains("content"));
  EXPECT_TRUE(j["content"].is_null());
  ASSERT_TRUE(j["tool_calls"].is_array());
  ASSERT_EQ(j["tool_calls"].size(), 2u);
  const json& c = j["tool_calls"][0];
  EXPECT_EQ(c["id"], "call_1");
  EXPECT_EQ(c["type"], "function");
  EXPECT_EQ(c["function"]["name"], "add");
  // Arguments travel as a string holding JSON, as OpenAI sends them.
  ASSERT_TRUE(c["function"]["arguments"].is_string());
  EXPECT_EQ(c["function"]["arguments"], R"({"a":1,"b":2})");
  EXPECT_FALSE(j.contains("tool_call_id"));
}

TEST(MessageTest, AssistantWithTextAndCallsKeepsText) {
  json j = ToJson(Message::Assistant("let me add", {{"call_1", "add", "{}"}}));
  EXPECT_EQ(j["content"], "let me add");
  EXPECT_EQ(j["tool_calls"].size(), 1u);
}

TEST(MessageTest, RoundTripsThroughJson) {
  Message named = Message::User("question");
  named.name = "bob";
  const std::vector<Message> conversation = {
      Message::System("you are a calculator"),
      named,
      Message::Assistant("", {{"call_1", "add", R"({"a": 1, "b": 2})"}, {"call_2", "add", "not json"}}),
      Message::Tool("call_1", "3"),
      Message::Tool("call_2", "error: arguments of add are not valid JSON"),
      Message::Assistant("the answer is 3"),
  };
  json j = ToJson(conversation);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), conversation.size());
  // Survive a trip through text as well.
  json reparsed = json::parse(j.dump());
  for (size_t i = 0; i < conversation.size(); ++i) {
    Result<Message> back = MessageFromJson(reparsed[i]);
    ASSERT_TRUE(back.ok()) << i << ": " << back.status().ToString();
    ExpectSameMessage(*back, conversation[i]);
  }
}

TEST(MessageTest, ReadsOpenAiWireMessage) {
  const json j = json::parse(R"({
    "role": "assistant",
    "content": null,
    "tool_calls": [
      {"id": "call_abc", "type": "function",
       "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
    ]
  })");
  Result<Message> m = MessageFromJson(j);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->role, "assistant");
  EXPECT_EQ(m->content, "");
  ASSERT_EQ(m->tool_calls.size(), 1u);
  EXPECT_EQ(m->tool_calls[0].id, "call_abc");
  EXPECT_EQ(m->tool_calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(m->tool_calls[0].arguments), json({{"city", "Paris"}}));
}

TEST(MessageTest, ObjectArgumentsAndMissingArgumentsAreAccepted) {
  const json j = {{"role", "assistant"},
                  {"tool_calls",
                   {{{"id", "c1"}, {"function", {{"name", "f"}, {"arguments", {{"x", 1}}}}}},
                    {{"id", "c2"}, {"function", {{"name", "g"}}}}}}};
  Result<Message> m = MessageFromJson(j);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->tool_calls.size(), 2u);
  EXPECT_EQ(json::parse(m->tool_calls[0].arguments), json({{"x", 1}}));
  EXPECT_EQ(json::parse(m->tool_calls[1].arguments), json::object());
}

TEST(MessageTest, ContentPartsKeepText) {
  const json j = {{"role", "user"},
                  {"content",
                   {{{"type", "text"}, {"text", "hello "}},
                    {{"type", "image_url"}, {"image_url", {{"url", "http://x"}}}},
                    {{"type", "text"}, {"text", "world"}}}}};
  Result<Message> m = MessageFromJson(j);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->content, "hello world");
}

TEST(MessageTest, FromJsonErrorsNameTheField) {
  struct Case {
    json input;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {json::array(), "JSON object"},
      {json{{"content", "x"}}, "field \"role\""},
      {json{{"role", 3}}, "field \"role\""},
      {json{{"role", "wizard"}}, "field \"role\""},
      {json{{"role", "user"}, {"content", 5}}, "field \"content\""},
      {json{{"role", "assistant"}, {"tool_calls", "nope"}}, "field \"tool_calls\""},
      {json{{"role", "assistant"}, {"tool_calls", {1}}}, "field \"tool_calls[0]\""},
      {json{{"role", "assistant"}, {"tool_calls", {{{"id", "c"}}}}}, "field \"tool_calls[0].function\""},
      {json{{"role", "assistant"},
            {"tool_calls", {{{"id", "c"}, {"function", {{"name", "ok"}}}}, {{"id", "d"}, {"function", {{"name", 7}}}}}}},
       "field \"tool_calls[1].function.name\""},
      {json{{"role", "tool"}, {"content", "3"}}, "field \"tool_call_id\""},
  };
  for (const Case& c : cases) {
    Result<Message> m = MessageFromJson(c.input);
    ASSERT_FALSE(m.ok()) << c.input.dump();
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << c.input.dump();
    EXPECT_THAT(m.status().message(), HasSubstr(c.expected)) << c.input.dump();
  }
}

TEST(MessageTest, ToolSpecToJsonIsWrapped) {
  ToolSpec spec;
  spec.name = "add";
  spec.description = "adds two numbers";
  spec.parameters = {{"type", "object"}, {"properties", {{"a", {{"type", "number"}}}}}};
  json j = ToJson(spec);
  EXPECT_EQ(j["type"], "function");
  EXPECT_EQ(j["function"]["name"], "add");
  EXPECT_EQ(j["function"]["description"], "adds two numbers");
  EXPECT_EQ(j["function"]["parameters"], spec.parameters);
  json list = ToJson(std::vector<ToolSpec>{spec, spec});
  ASSERT_TRUE(list.is_array());
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1], j);

  Result<ToolSpec> back = ToolSpecFromJson(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->name, "add");
  EXPECT_EQ(back->description, "adds two numbers");
  EXPECT_EQ(back->parameters, spec.parameters);
}

TEST(MessageTest, ToolSpecFromBareFormAndExtraKeys) {
  const json bare = json::parse(R"({
    "name": "lookup",
    "description": "find a page",
    "strict": true,
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                   "required": ["q"], "additionalProperties": false}
  })");
  Result<ToolSpec> s = ToolSpecFromJson(bare);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->name, "lookup");
  EXPECT_EQ(s->description, "find a page");
  EXPECT_EQ(s->parameters, bare["parameters"]);

  const json wrapped = {{"type", "function"}, {"function", bare}};
  Result<ToolSpec> w = ToolSpecFromJson(wrapped);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->name, "lookup");
  EXPECT_EQ(w->parameters, bare["parameters"]);
}

TEST(MessageTest, ToolSpecWithoutParametersGetsEmptyObjectSchema) {
  Result<ToolSpec> s = ToolSpecFromJson(json{{"type", "function"}, {"function", {{"name", "now"}}}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->name, "now");
  EXPECT_EQ(s->description, "");
  EXPECT_EQ(s->parameters["type"], "object");
}

TEST(MessageTest, ToolSpecErrorsNameTheField) {
  struct Case {
    json input;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {json("add"), "JSON object"},
      {json{{"type", "retrieval"}, {"function", {{"name", "x"}}}}, "field \"type\""},
      {json{{"type", "function"}, {"function", "x"}}, "field \"function\""},
      {json{{"type", "function"}, {"function", {{"description", "no name"}}}}, "field \"function.name\""},
      {json{{"name", ""}}, "field \"function.name\""},
      {json{{"name", "x"}, {"parameters", "object"}}, "field \"function.parameters\""},
  };
  for (const Case& c : cases) {
    Result<ToolSpec> s = ToolSpecFromJson(c.input);
    ASSERT_FALSE(s.ok()) << c.input.dump();
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(s.status().message(), HasSubstr(c.expected)) << c.input.dump();
  }
}

TEST(MessageTest, UsageJsonAndSum) {
  Usage u{10, 5};
  EXPECT_EQ(u.total(), 15);
  EXPECT_EQ(ToJson(u), json({{"prompt_tokens", 10}, {"completion_tokens", 5}, {"total_tokens", 15}}));
  u += Usage{1, 2};
  EXPECT_EQ(u.prompt_tokens, 11);
  EXPECT_EQ(u.completion_tokens, 7);

  Result<Usage> back = UsageFromJson(ToJson(u));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->prompt_tokens, 11);
  EXPECT_EQ(back->completion_tokens, 7);

  Result<Usage> empty = UsageFromJson(json::object());
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->total(), 0);

  Result<Usage> bad = UsageFromJson(json{{"prompt_tokens", "ten"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("field \"prompt_tokens\""));
  Result<Usage> bad2 = UsageFromJson(json{{"completion_tokens", 1.5}});
  ASSERT_FALSE(bad2.ok());
  EXPECT_THAT(bad2.status().message(), HasSubstr("field \"completion_tokens\""));
  EXPECT_FALSE(UsageFromJson(json::array()).ok());
}

TEST(MessageTest, WronglyTypedFieldsAreErrorsNotExceptions) {
  // A tool call id that is not a string (models and clients write these).
  const json bad_id = {{"role", "assistant"},
                                 {"tool_calls", {{{"id", 5}, {"function", {{"name", "f"}, {"arguments", "{}"}}}}}}};
  Result<Message> m = Result<Message>(InvalidArgument("not run"));
  ASSERT_NO_THROW(m = MessageFromJson(bad_id));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(), HasSubstr("field \"tool_calls[0].id\""));

  // A content part whose type is not a string is skipped, not thrown on.
  const json odd_part = {{"role", "user"},
                                   {"content", {{{"type", 3}, {"text", "x"}}, {{"type", "text"}, {"text", "ok"}}}}};
  Result<Message> p = Result<Message>(InvalidArgument("not run"));
  ASSERT_NO_THROW(p = MessageFromJson(odd_part));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->content, "ok");
}

}  // namespace
}  // namespace tide::workers
