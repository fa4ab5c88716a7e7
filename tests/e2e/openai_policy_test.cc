// OpenAiPolicy (workers/openai_policy.h) against Tide's own OpenAI-compatible server over
// loopback: a tiny model trained to call `search` is served by `tide serve --model`, and
// agents decode through the HTTP policy, several at once under its in-flight cap.
#include "tide/workers/openai_policy.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve_process.h"
#include "tiny_tool_model.h"

namespace {

namespace fs = std::filesystem;
using tide::workers::Message;
using tide::workers::OpenAiPolicy;
using tide::workers::PolicyRequest;
using tide::workers::ToolSpec;

TEST(OpenAiPolicyE2eTest, AgentsDecodeThroughTidesOwnV1Server) {
  const fs::path dir = tide::e2e::FreshTempDir("tide-openai-policy-");
  std::string log;
  const std::string model_dir = tide::e2e::TrainTinyToolModel(dir, &log);
  ASSERT_FALSE(model_dir.empty()) << log;
  tide::e2e::ServeProcess server((dir / "db").string(), {"--model", model_dir, "--http-port", "0"});
  ASSERT_GT(server.http_port(), 0) << "the server did not report its HTTP port";

  OpenAiPolicy::Options o;
  o.base_url = "http://127.0.0.1:" + std::to_string(server.http_port()) + "/v1";
  o.model = "tiny-tools";
  o.temperature = 0.f;
  o.max_tokens = 48;
  o.max_concurrency = 3;
  auto policy = OpenAiPolicy::Create(o);
  ASSERT_TRUE(policy.ok()) << policy.status().ToString();

  std::vector<ToolSpec> tools;
  for (const auto& t : tide::e2e::TinyToolModelTools()) tools.push_back(*tide::workers::ToolSpecFromJson(t));
  const std::vector<Message> messages = {Message::User("Find tide.")};
  PolicyRequest request;
  request.messages = &messages;
  request.tools = &tools;
  request.agent = "coordinator";
  auto res = (*policy)->Generate(request);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  ASSERT_EQ(res->message.tool_calls.size(), 1u) << res->message.content;
  EXPECT_EQ(res->message.tool_calls[0].name, "search");
  EXPECT_GT(res->usage.prompt_tokens, 0);
  EXPECT_GT(res->usage.completion_tokens, 0);

  // Eight agents at once; the server batches them; the policy keeps three in flight.
  std::atomic<int> calls{0};
  std::vector<std::thread> agents;
  for (int i = 0; i < 8; ++i) {
    agents.emplace_back([&, i] {
      PolicyRequest r = request;
      r.agent = "sub-" + std::to_string(i);
      auto one = (*policy)->Generate(r);
      if (one.ok() && one->message.tool_calls.size() == 1 && one->message.tool_calls[0].name == "search") ++calls;
    });
  }
  for (auto& t : agents) t.join();
  EXPECT_EQ(calls.load(), 8);
  EXPECT_LE((*policy)->stats().max_in_flight, 3);

  // A model the server does not serve is the server's 4xx, named, and not retried.
  OpenAiPolicy::Options wrong = o;
  wrong.model = "no-such-model";
  auto bad = (*OpenAiPolicy::Create(wrong))->Generate(request);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("no-such-model"), std::string::npos) << bad.status().ToString();
  EXPECT_EQ(server.Stop(), 0);
  fs::remove_all(dir);
}

}  // namespace
