#include "tide/engine/chat_template.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace tide::engine {
namespace {

using nlohmann::json;

json SearchTool() {
  return json::parse(R"({"type": "function", "function": {"name": "search", "description": "Search the web.",
      "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}})");
}

json Conversation() {
  return json::parse(R"([
    {"role": "system", "content": "You are a research agent."},
    {"role": "user", "content": "Find the population of Oslo and Bergen."},
    {"role": "assistant", "content": "Let me look both up.", "tool_calls": [
      {"id": "call_0", "type": "function",
       "function": {"name": "search", "arguments": "{\"query\": \"Oslo population\"}"}},
      {"id": "call_1", "type": "function",
       "function": {"name": "search", "arguments": "{\"query\": \"Bergen population\"}"}}]},
    {"role": "tool", "tool_call_id": "call_0", "content": "Oslo: 717,710"},
    {"role": "tool", "tool_call_id": "call_1", "content": "Bergen: 291,940"},
    {"role": "assistant", "content": "Oslo has 717,710 people and Bergen 291,940."},
    {"role": "user", "content": "Thanks!"}
  ])");
}

// What Qwen3's Jinja template renders for Conversation() with tools [SearchTool()] and
// add_generation_prompt (tool JSON keys as Tide orders them).
const char* kExpected =
    "<|im_start|>system\n"
    "You are a research agent.\n"
    "\n"
    "# Tools\n"
    "\n"
    "You may call one or more functions to assist with the user query.\n"
    "\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n"
    "<tools>\n"
    "{\"type\": \"function\", \"function\": {\"name\": \"search\", \"description\": \"Search the web.\", "
    "\"parameters\": {\"properties\": {\"query\": {\"type\": \"string\"}}, \"required\": [\"query\"], \"type\": "
    "\"object\"}}}\n"
    "</tools>\n"
    "\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n"
    "<tool_call>\n"
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "Find the population of Oslo and Bergen.<|im_end|>\n"
    "<|im_start|>assistant\n"
    "Let me look both up.\n"
    "<tool_call>\n"
    "{\"name\": \"search\", \"arguments\": {\"query\": \"Oslo population\"}}\n"
    "</tool_call>\n"
    "<tool_call>\n"
    "{\"name\": \"search\", \"arguments\": {\"query\": \"Bergen population\"}}\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "<tool_response>\n"
    "Oslo: 717,710\n"
    "</tool_response>\n"
    "<tool_response>\n"
    "Bergen: 291,940\n"
    "</tool_response><|im_end|>\n"
    "<|im_start|>user\n"
    "Thanks!<|im_end|>\n"
    "<|im_start|>assistant\n";

TEST(ChatTemplateTest, RendersConversationWithTools) {
  ChatTemplateOptions options;
  options.add_generation_prompt = true;
  Result<std::string> text = RenderChat(Conversation(), json::array({SearchTool()}), options);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  std::string expected = kExpected;
  // The final assistant answer sits between the tool responses and "Thanks!".
  const std::string answer = "<|im_start|>assistant\nOslo has 717,710 people and Bergen 291,940.<|im_end|>\n";
  expected.insert(expected.find("<|im_start|>user\nThanks!"), answer);
  EXPECT_EQ(*text, expected);
}

TEST(ChatTemplateTest, PlainConversations) {
  EXPECT_EQ(*RenderChat(json::parse(R"([{"role": "user", "content": "hi"}])"), nullptr),
            "<|im_start|>user\nhi<|im_end|>\n");
  EXPECT_EQ(*RenderChat(json::parse(R"([{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}])"),
                        json::array()),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n");
  // Content parts, a later system message, the no-thinking prompt.
  ChatTemplateOptions no_think{true, false};
  EXPECT_EQ(*RenderChat(json::parse(R"([{"role": "user", "content": [{"type": "text", "text": "a"},
                                        {"type": "text", "text": "b"}]}, {"role": "system", "content": "late"}])"),
                        nullptr, no_think),
            "<|im_start|>user\nab<|im_end|>\n<|im_start|>system\nlate<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST(ChatTemplateTest, ToolCallShapes) {
  // Null content, arguments as an object (written Python-style, non-ASCII kept), a bare
  // {name, arguments} call, and a tool list given in the bare form.
  const json messages = json::parse(R"([{"role": "user", "content": "q"},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "a", "type": "function", "function": {"name": "f", "arguments": {"city": "東京", "n": [1, 2]}}},
      {"name": "g"}]}])");
  const json tools = json::parse(R"([{"name": "f", "parameters": {}}])");
  Result<std::string> text = RenderChat(messages, tools);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_NE(
      text->find("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {}}}\n</tools>"),
      std::string::npos)
      << *text;
  EXPECT_NE(text->find("<|im_start|>assistant\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"city\": \"東京\", "
                       "\"n\": [1, 2]}}\n</tool_call>\n<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n"
                       "</tool_call><|im_end|>\n"),
            std::string::npos)
      << *text;
}

TEST(ChatTemplateTest, ReasoningOnlyAfterTheLastQuery) {
  const json messages = json::parse(R"([
    {"role": "user", "content": "one"},
    {"role": "assistant", "content": "A1", "reasoning_content": "old thought"},
    {"role": "user", "content": "two"},
    {"role": "assistant", "content": "", "reasoning_content": "\nnew thought\n", "tool_calls": [{"name": "f"}]},
    {"role": "tool", "content": "r"},
    {"role": "assistant", "content": "<think>\ninline</think>\n\nA2"}])");
  Result<std::string> text = RenderChat(messages, nullptr);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text,
            "<|im_start|>user\none<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
            "<|im_start|>user\ntwo<|im_end|>\n"
            "<|im_start|>assistant\n<think>\nnew thought\n</think>\n\n<tool_call>\n{\"name\": \"f\", \"arguments\": "
            "{}}\n</tool_call><|im_end|>\n"
            "<|im_start|>user\n<tool_response>\nr\n</tool_response><|im_end|>\n"
            "<|im_start|>assistant\n<think>\ninline\n</think>\n\nA2<|im_end|>\n");
}

TEST(ChatTemplateTest, RejectsMalformedMessages) {
  struct Case {
    const char* messages;
    const char* field;
  };
  const std::vector<Case> cases = {
      {R"({"role": "user"})", "messages"},
      {R"([{"content": "x"}])", "messages[0].role"},
      {R"([{"role": "robot", "content": "x"}])", "messages[0].role"},
      {R"([{"role": "user", "content": 5}])", "messages[0].content"},
      {R"([{"role": "user", "content": [{"type": "image_url"}]}])", "messages[0].content[0]"},
      {R"([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": {}}])", "messages[1].tool_calls"},
      {R"([{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}])",
       "messages[0].tool_calls[0].function.name"},
  };
  for (const Case& c : cases) {
    Result<std::string> r = RenderChat(json::parse(c.messages), nullptr);
    ASSERT_FALSE(r.ok()) << c.messages;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.field), std::string::npos) << r.status().message();
  }
  Result<std::string> bad_tools = RenderChat(json::array(), json::parse(R"([{"type": "function", "function": {}}])"));
  ASSERT_FALSE(bad_tools.ok());
  EXPECT_NE(bad_tools.status().message().find("tools[0].function.name"), std::string::npos);
}

TEST(ChatTemplateTest, ParsesOneToolCall) {
  ParsedAssistantOutput p =
      ParseAssistantOutput("<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": \"Oslo\"}}\n</tool_call>");
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.tool_calls[0], (ParsedToolCall{"search", "{\"query\": \"Oslo\"}"}));
  EXPECT_TRUE(p.errors.empty());
}

TEST(ChatTemplateTest, ParsedOutputIsValidUtf8WhateverBytesTheModelWrote) {
  // A byte-level model wrote a lone lead byte into its text and its call's arguments.
  const ParsedAssistantOutput p = ParseAssistantOutput(
      "seen \xC3<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": \"Os\xE2lo\"}}\n</tool_call>");
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.content, "seen \xEF\xBF\xBD");
  EXPECT_NO_THROW(json(p.content).dump());
  EXPECT_NO_THROW(json(p.tool_calls[0].arguments).dump());
  EXPECT_NE(p.tool_calls[0].arguments.find("Os\xEF\xBF\xBDlo"), std::string::npos) << p.tool_calls[0].arguments;
}

TEST(ChatTemplateTest, ParsesSeveralToolCallsAndContent) {
  const std::string text =
      "Let me look.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"z\": 1, \"b\": [true, null]}}\n</tool_call>\n"
      "<tool_call>{\"name\":\"b\"}</tool_call>\n<tool_call>\n{\"name\": \"c\", \"arguments\": \"{\\\"k\\\": 2}\"}\n"
      "</tool_call><|im_end|>";
  ParsedAssistantOutput p = ParseAssistantOutput(text);
  EXPECT_EQ(p.content, "Let me look.");
  ASSERT_EQ(p.tool_calls.size(), 3u);
  EXPECT_EQ(p.tool_calls[0], (ParsedToolCall{"a", "{\"z\": 1, \"b\": [true, null]}"}));  // the model's key order
  EXPECT_EQ(p.tool_calls[1], (ParsedToolCall{"b", "{}"}));
  EXPECT_EQ(p.tool_calls[2], (ParsedToolCall{"c", "{\"k\": 2}"}));
  EXPECT_TRUE(p.errors.empty());

  const json m = ToAssistantMessage(p, "call_7_");
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_EQ(m["content"], "Let me look.");
  EXPECT_EQ(m["tool_calls"][2]["id"], "call_7_2");
  EXPECT_EQ(m["tool_calls"][2]["type"], "function");
  EXPECT_EQ(m["tool_calls"][0]["function"]["arguments"], "{\"z\": 1, \"b\": [true, null]}");
}

TEST(ChatTemplateTest, MalformedBlocksStayInContent) {
  const std::string bad_json = "<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": }\n</tool_call>";
  ParsedAssistantOutput p = ParseAssistantOutput("Trying.\n" + bad_json);
  EXPECT_TRUE(p.tool_calls.empty());
  EXPECT_EQ(p.content, "Trying.\n" + bad_json);
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_NE(p.errors[0].find("invalid JSON"), std::string::npos) << p.errors[0];

  const std::string good = "<tool_call>\n{\"name\": \"ok\", \"arguments\": {}}\n</tool_call>";
  const std::string no_name = "<tool_call>\n{\"arguments\": {}}\n</tool_call>";
  const std::string bad_args = "<tool_call>{\"name\": \"x\", \"arguments\": [1]}</tool_call>";
  p = ParseAssistantOutput(good + "\n" + bad_json + "\n" + no_name + bad_args + "\n" + good + "\n<tool_call>{\"name\"");
  ASSERT_EQ(p.tool_calls.size(), 2u);
  EXPECT_EQ(p.tool_calls[1].name, "ok");
  EXPECT_EQ(p.content, bad_json + "\n" + no_name + bad_args + "\n<tool_call>{\"name\"");
  ASSERT_EQ(p.errors.size(), 4u);
  EXPECT_NE(p.errors[1].find("\"name\""), std::string::npos) << p.errors[1];
  EXPECT_NE(p.errors[2].find("arguments"), std::string::npos) << p.errors[2];
  EXPECT_NE(p.errors[3].find("no </tool_call>"), std::string::npos) << p.errors[3];
}

TEST(ChatTemplateTest, ParsesThinking) {
  ParsedAssistantOutput p = ParseAssistantOutput("<think>\nplan it\n</think>\n\nAnswer.");
  EXPECT_EQ(p.reasoning_content, "plan it");
  EXPECT_EQ(p.content, "Answer.");
  // The prompt may already hold "<think>": the output starts inside the block.
  p = ParseAssistantOutput("plan\n</think>\n\n<tool_call>{\"name\": \"f\"}</tool_call>");
  EXPECT_EQ(p.reasoning_content, "plan");
  EXPECT_EQ(p.content, "");
  EXPECT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(ToAssistantMessage(p)["content"], nullptr);
}

TEST(ChatTemplateTest, RenderOfParsedOutputReproducesIt) {
  const std::vector<std::string> outputs = {
      "Plain answer.",
      "Let me check.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n</tool_call>",
      "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"g\", "
      "\"arguments\": {\"q\": \"東京\"}}\n</tool_call>",
      "<think>\nreasoning\n</think>\n\nDone.",
  };
  for (const std::string& out : outputs) {
    json messages = json::array({{{"role", "user"}, {"content", "q"}}});
    messages.push_back(ToAssistantMessage(ParseAssistantOutput(out)));
    Result<std::string> text = RenderChat(messages, nullptr);
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    EXPECT_EQ(*text, "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n" + out + "<|im_end|>\n");
  }
}

TEST(ChatTemplateTest, ParserSurvivesArbitraryBytes) {
  const std::vector<std::string> fragments = {"<tool_call>",
                                              "</tool_call>",
                                              "<think>",
                                              "</think>",
                                              "{",
                                              "}",
                                              "[",
                                              "]",
                                              "\"",
                                              "\\",
                                              ":",
                                              ",",
                                              "\"name\"",
                                              "\"arguments\"",
                                              "\"f\"",
                                              "null",
                                              "1e999",
                                              "\n",
                                              "\xff",
                                              "\xc3",
                                              "<|im_end|>",
                                              std::string(1, '\0'),
                                              std::string(300, '['),
                                              "<tool_call>{\"name\": \"f\"}</tool_call>"};
  std::mt19937 rng(42);
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    const int n = static_cast<int>(rng() % 30);
    for (int k = 0; k < n; ++k) {
      s += rng() % 4 == 0 ? std::string(1, static_cast<char>(rng() % 256)) : fragments[rng() % fragments.size()];
    }
    ParsedAssistantOutput p = ParseAssistantOutput(s);
    size_t opens = 0;
    for (size_t at = s.find("<tool_call>"); at != std::string::npos; at = s.find("<tool_call>", at + 1)) ++opens;
    EXPECT_LE(p.tool_calls.size() + p.errors.size(), opens);
    (void)ToAssistantMessage(p).dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

TEST(ChatTemplateTest, TemplateJsonIsPythonStyle) {
  EXPECT_EQ(TemplateJson(json::parse(R"({"b": [1, 2.5, "x\n"], "a": {"é": null}})")),
            "{\"a\": {\"é\": null}, \"b\": [1, 2.5, \"x\\n\"]}");
  EXPECT_EQ(TemplateJson(json("\xff")), "\"\xef\xbf\xbd\"");  // invalid UTF-8 -> U+FFFD
  EXPECT_EQ(TemplateJson(json::array()), "[]");
  EXPECT_EQ(TemplateJson(json::object()), "{}");
}

}  // namespace
}  // namespace tide::engine
