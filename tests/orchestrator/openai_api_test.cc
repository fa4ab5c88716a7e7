// The OpenAI wire format apart from the network: parallel_tool_calls in the assembled
// reply (two <tool_call> blocks become two calls with distinct ids, or one when false),
// the router_choices extension object, and bad types for the new fields named as the
// param.
#include "tide/orchestrator/openai_api.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tide::orchestrator {
namespace {

using nlohmann::json;

constexpr char kTwoCalls[] =
    "Checking both.\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\": \"tide\"}}\n</tool_call>\n"
    "<tool_call>\n{\"name\": \"open\", \"arguments\": {\"id\": 7}}\n</tool_call>";

json ChatBody() {
  return {{"model", "m"},
          {"messages", {{{"role", "user"}, {"content", "hi"}}}},
          {"tools", {{{"type", "function"}, {"function", {{"name", "search"}}}},
                     {{"type", "function"}, {"function", {{"name", "open"}}}}}}};
}

TEST(OpenAiApiTest, ParallelToolCallsAssembleEveryCallWithDistinctIds) {
  const engine::Tokenizer tok = engine::ByteLevelTokenizer();
  auto req = ParseChatRequest(ChatBody(), "m");
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_TRUE(req->parallel_tool_calls) << "OpenAI's default";
  engine::GenerationResult r;
  r.text = kTwoCalls;
  r.finish_reason = engine::FinishReason::kStop;
  const json out = ChatResponse(*req, "chatcmpl-1", 0, r, tok);
  const json& choice = out["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  const json& calls = choice["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 2u) << out;
  EXPECT_EQ(calls[0]["function"]["name"], "search");
  EXPECT_EQ(json::parse(calls[0]["function"]["arguments"].get<std::string>()), json({{"q", "tide"}}));
  EXPECT_EQ(calls[1]["function"]["name"], "open");
  EXPECT_EQ(json::parse(calls[1]["function"]["arguments"].get<std::string>()), json({{"id", 7}}));
  EXPECT_NE(calls[0]["id"], calls[1]["id"]);
  EXPECT_EQ(choice["message"]["content"], "Checking both.");
  EXPECT_FALSE(choice.contains("router_choices"));
}

TEST(OpenAiApiTest, ParallelToolCallsFalseKeepsTheFirstCallOnly) {
  const engine::Tokenizer tok = engine::ByteLevelTokenizer();
  json body = ChatBody();
  body["parallel_tool_calls"] = false;
  auto req = ParseChatRequest(body, "m");
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_FALSE(req->parallel_tool_calls);
  engine::GenerationResult r;
  r.text = std::string(kTwoCalls) + "\nand some text after";
  r.finish_reason = engine::FinishReason::kStop;
  const json out = ChatResponse(*req, "chatcmpl-2", 0, r, tok);
  const json& calls = out["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 1u) << out;
  EXPECT_EQ(calls[0]["function"]["name"], "search");
  EXPECT_EQ(out["choices"][0]["message"]["content"], "Checking both.") << "text after the call is dropped";
  EXPECT_EQ(out["choices"][0]["finish_reason"], "tool_calls");
  // ParseTurn alone: a malformed first block is not a call, and nothing is cut before it.
  EXPECT_EQ(ParseTurn(*req, "no calls here").content, "no calls here");
  EXPECT_EQ(ParseTurn(*req, kTwoCalls).tool_calls.size(), 1u);
  req->parallel_tool_calls = true;
  EXPECT_EQ(ParseTurn(*req, kTwoCalls).tool_calls.size(), 2u);
}

TEST(OpenAiApiTest, RouterChoicesObject) {
  engine::GeneratedToken a{5, -0.1f, {}, {0, 1, 2, 3}}, b{9, -0.2f, {}, {1, 2, 3, 0}};
  const std::vector<int32_t> prompt = {1, 2, 3};
  const std::vector<std::vector<int32_t>> rows = {{0, 1, 0, 1}, {2, 3, 2, 3}};
  const json whole = RouterChoicesJson(prompt, rows, {a, b}, 11, {3, 2, 1, 0}, true);
  EXPECT_EQ(whole["prompt_token_ids"], json({1, 2, 3}));
  EXPECT_EQ(whole["prompt"], json(rows));
  EXPECT_EQ(whole["token_ids"], json({5, 9}));
  EXPECT_EQ(whole["tokens"], json({{0, 1, 2, 3}, {1, 2, 3, 0}}));
  EXPECT_EQ(whole["stop_token_id"], 11);
  EXPECT_EQ(whole["stop"], json({3, 2, 1, 0}));
  const json no_stop = RouterChoicesJson(prompt, rows, {a}, -1, {}, true);
  EXPECT_TRUE(no_stop["stop_token_id"].is_null());
  EXPECT_TRUE(no_stop["stop"].is_null());
  // A stream chunk: only what is new in it.
  const json chunk = RouterChoicesJson(prompt, {}, {b}, -1, {}, false);
  EXPECT_FALSE(chunk.contains("prompt"));
  EXPECT_FALSE(chunk.contains("stop"));
  EXPECT_EQ(chunk["token_ids"], json({9}));
}

TEST(OpenAiApiTest, NewFieldsOfTheWrongTypeNameTheParam) {
  json body = ChatBody();
  body["parallel_tool_calls"] = "yes";
  auto bad = ParseChatRequest(body, "m");
  ASSERT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorBody(bad.status())["error"]["param"], "parallel_tool_calls");
  body = ChatBody();
  body["return_router_choices"] = 1;
  bad = ParseChatRequest(body, "m");
  ASSERT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorBody(bad.status())["error"]["param"], "return_router_choices");
  bad = ParseCompletionRequest({{"model", "m"}, {"prompt", "x"}, {"return_router_choices", "true"}}, "m");
  EXPECT_EQ(ErrorBody(bad.status())["error"]["param"], "return_router_choices");
  auto good = ParseCompletionRequest({{"model", "m"}, {"prompt", "x"}, {"return_router_choices", true}}, "m");
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(good->return_router_choices);
  EXPECT_TRUE(good->params.return_router_choices);
}

}  // namespace
}  // namespace tide::orchestrator
