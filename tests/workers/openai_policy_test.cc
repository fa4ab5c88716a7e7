#include "tide/workers/openai_policy.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "scripted_http_server.h"

namespace tide::workers {
namespace {

using nlohmann::json;
using testing::ScriptedHttpServer;
using testing::ScriptedRequest;
using testing::ScriptedResponse;

// What an OpenAI-compatible server answers when the model calls `search`.
std::string ToolCallCompletion() {
  return json{{"id", "chatcmpl-1"},
              {"object", "chat.completion"},
              {"choices",
               {{{"index", 0},
                 {"finish_reason", "tool_calls"},
                 {"message",
                  {{"role", "assistant"},
                   {"content", nullptr},
                   {"tool_calls",
                    {{{"id", "call_9"},
                      {"type", "function"},
                      {"function", {{"name", "search"}, {"arguments", "{\"query\":\"tide\"}"}}}}}}}}}}},
              {"usage", {{"prompt_tokens", 31}, {"completion_tokens", 9}, {"total_tokens", 40}}}}
      .dump();
}

OpenAiPolicy::Options FastOptions(const std::string& url) {
  OpenAiPolicy::Options o;
  o.base_url = url;
  o.model = "m";
  o.initial_backoff = std::chrono::milliseconds(5);
  o.max_backoff = std::chrono::milliseconds(20);
  o.request_timeout = std::chrono::seconds(5);
  return o;
}

struct Context {
  std::vector<Message> messages = {Message::System("You search."), Message::User("Find tide.")};
  std::vector<ToolSpec> tools = {ToolSpec{"search", "search the corpus",
                                          json::parse(R"({"type":"object","properties":{"query":{"type":"string"}}})")}};
  PolicyRequest request() const {
    PolicyRequest r;
    r.messages = &messages;
    r.tools = &tools;
    r.agent = "sub-3";
    return r;
  }
};

TEST(OpenAiPolicyTest, SendsTheContextAndReadsToolCallsAndUsage) {
  json seen;
  std::string auth;
  ScriptedHttpServer server([&](const ScriptedRequest& req, int) {
    seen = json::parse(req.body);
    auth = req.authorization;
    return ScriptedResponse{200, ToolCallCompletion()};
  });
  auto o = FastOptions(server.url());
  o.api_key = "sk-test";
  o.seed = 42;
  o.max_tokens = 77;
  auto policy = OpenAiPolicy::Create(o);
  ASSERT_TRUE(policy.ok()) << policy.status().ToString();
  Context c;
  auto res = (*policy)->Generate(c.request());
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->message.role, "assistant");
  ASSERT_EQ(res->message.tool_calls.size(), 1u);
  EXPECT_EQ(res->message.tool_calls[0].id, "call_9");
  EXPECT_EQ(res->message.tool_calls[0].name, "search");
  EXPECT_EQ(json::parse(res->message.tool_calls[0].arguments)["query"], "tide");
  EXPECT_EQ(res->usage.prompt_tokens, 31);
  EXPECT_EQ(res->usage.completion_tokens, 9);
  EXPECT_EQ(auth, "Bearer sk-test");
  EXPECT_EQ(seen["model"], "m");
  EXPECT_EQ(seen["seed"], 42);
  EXPECT_EQ(seen["max_tokens"], 77);
  EXPECT_EQ(seen["user"], "sub-3");
  ASSERT_EQ(seen["messages"].size(), 2u);
  EXPECT_EQ(seen["messages"][1]["content"], "Find tide.");
  EXPECT_EQ(seen["tools"][0]["function"]["name"], "search");
}

TEST(OpenAiPolicyTest, RetriesRateLimitsAndServerErrorsThenSucceeds) {
  ScriptedHttpServer server([](const ScriptedRequest&, int index) {
    if (index == 0) return ScriptedResponse{429, R"({"error":{"message":"slow down"}})", {{"Retry-After", "0"}}};
    if (index == 1) return ScriptedResponse{503, "overloaded"};
    return ScriptedResponse{200, ToolCallCompletion()};
  });
  auto policy = OpenAiPolicy::Create(FastOptions(server.url()));
  Context c;
  auto res = (*policy)->Generate(c.request());
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ((*policy)->stats().attempts, 3);
  EXPECT_EQ((*policy)->stats().retries, 2);
}

TEST(OpenAiPolicyTest, ClientErrorsFailAtOnceWithTheServersMessage) {
  ScriptedHttpServer server([](const ScriptedRequest&, int) {
    return ScriptedResponse{400, R"({"error":{"message":"max_tokens is too large","type":"invalid_request_error"}})"};
  });
  auto policy = OpenAiPolicy::Create(FastOptions(server.url()));
  Context c;
  auto res = (*policy)->Generate(c.request());
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(res.status().message().find("max_tokens is too large"), std::string::npos) << res.status().ToString();
  EXPECT_EQ(server.requests(), 1);
}

TEST(OpenAiPolicyTest, GivesUpAfterMaxRetriesAndTimesOutSlowAttempts) {
  ScriptedHttpServer failing([](const ScriptedRequest&, int) { return ScriptedResponse{502, "bad gateway"}; });
  auto o = FastOptions(failing.url());
  o.max_retries = 3;
  auto policy = OpenAiPolicy::Create(o);
  Context c;
  auto res = (*policy)->Generate(c.request());
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(res.status().message().find("after 4 attempts"), std::string::npos) << res.status().ToString();
  EXPECT_EQ(failing.requests(), 4);

  ScriptedHttpServer slow([](const ScriptedRequest&, int) {
    return ScriptedResponse{200, ToolCallCompletion(), {}, std::chrono::milliseconds(600)};
  });
  auto o2 = FastOptions(slow.url());
  o2.max_retries = 1;
  o2.request_timeout = std::chrono::milliseconds(100);
  auto slow_policy = OpenAiPolicy::Create(o2);
  auto r2 = (*slow_policy)->Generate(c.request());
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), StatusCode::kDeadlineExceeded) << r2.status().ToString();
  EXPECT_EQ((*slow_policy)->stats().attempts, 2);
}

TEST(OpenAiPolicyTest, CapsRequestsInFlightAcrossAgents) {
  ScriptedHttpServer server([](const ScriptedRequest&, int) {
    return ScriptedResponse{200, ToolCallCompletion(), {}, std::chrono::milliseconds(40)};
  });
  auto o = FastOptions(server.url());
  o.max_concurrency = 2;
  auto policy = OpenAiPolicy::Create(o);
  Context c;
  std::vector<std::thread> agents;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    agents.emplace_back([&] {
      if ((*policy)->Generate(c.request()).ok()) ++ok;
    });
  }
  for (auto& t : agents) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(server.requests(), 8);
  EXPECT_LE(server.max_concurrent(), 2);
  EXPECT_EQ((*policy)->stats().max_in_flight, 2);
}

TEST(OpenAiPolicyTest, CancellationStopsTheBackoff) {
  ScriptedHttpServer server([](const ScriptedRequest&, int) { return ScriptedResponse{503, "down"}; });
  auto o = FastOptions(server.url());
  o.initial_backoff = std::chrono::seconds(10);
  o.max_backoff = std::chrono::seconds(10);
  auto policy = OpenAiPolicy::Create(o);
  Context c;
  std::atomic<bool> cancelled{false};
  PolicyRequest r = c.request();
  r.cancelled = &cancelled;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    cancelled = true;
  });
  const auto start = std::chrono::steady_clock::now();
  auto res = (*policy)->Generate(r);
  canceller.join();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), StatusCode::kCancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST(OpenAiPolicyTest, BadOptionsNameTheFieldAndKeysComeFromTheEnvironment) {
  OpenAiPolicy::Options o;
  o.base_url = "localhost:8000";
  o.model = "m";
  auto bad = OpenAiPolicy::Create(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("base_url"), std::string::npos);
  o.base_url = "http://127.0.0.1:1/v1";
  o.model = "";
  EXPECT_NE(OpenAiPolicy::Create(o).status().message().find("model"), std::string::npos);
  o.model = "m";
  o.max_concurrency = 0;
  EXPECT_NE(OpenAiPolicy::Create(o).status().message().find("max_concurrency"), std::string::npos);
  setenv("TIDE_TEST_OPENAI_KEY", "sk-env", 1);
  EXPECT_EQ(OpenAiPolicy::WithApiKeyFromEnvironment(o, "TIDE_TEST_OPENAI_KEY").api_key, "sk-env");
  unsetenv("TIDE_TEST_OPENAI_KEY");
  EXPECT_EQ(OpenAiPolicy::WithApiKeyFromEnvironment(o, "TIDE_TEST_OPENAI_KEY").api_key, "");
}

}  // namespace
}  // namespace tide::workers
