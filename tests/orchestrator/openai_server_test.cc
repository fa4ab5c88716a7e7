// OpenAiServer over loopback with a real (tiny, random) model: every endpoint, streaming as
// SSE chunks ending [DONE], the OpenAI error shape for bad input, and other clients served
// while one sends garbage; router choices that replay the served forward, per-expert load
// counters, and parallel_tool_calls both ways. A tool-call round trip with the official
// `openai` npm client is in tests/e2e.
#include "../engine/model_test_util.h"
#include "tide/orchestrator/openai_server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace tide::orchestrator {
namespace {

engine::ModelWeights Weights() { return engine::testing::TinyServingWeights(7, 2048, false); }

namespace net = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;



struct Reply {
  int status = 0;
  std::string content_type;
  std::string body;
};

Reply Call(int port, http::verb verb, const std::string& target, const std::string& body = "") {
  net::io_context io;
  net::ip::tcp::socket socket(io);
  socket.connect({net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(socket, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  return {static_cast<int>(res.result_int()), std::string(res[http::field::content_type]), res.body()};
}

// The JSON payloads of an SSE body, [DONE] excluded (checked to be last).
std::vector<json> Events(const std::string& body) {
  std::vector<json> out;
  size_t pos = 0;
  std::string last;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    last = body.substr(pos + 6, end - pos - 6);
    if (last != "[DONE]") out.push_back(json::parse(last));
    pos = end;
  }
  EXPECT_EQ(last, "[DONE]");
  return out;
}

class OpenAiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = std::make_unique<engine::Model>(engine::Model::Create(Weights()).value());
    engine_ = engine::InferenceEngine::Create(model_.get(), &tokenizer_, {}).value();
    OpenAiServerOptions o;
    o.port = 0;
    o.model_name = "tide-tiny";
    server_ = OpenAiServer::Start(engine_.get(), o).value();
  }
  int port() const { return server_->port(); }

  engine::Tokenizer tokenizer_ = engine::ByteLevelTokenizer();
  std::unique_ptr<engine::Model> model_;
  std::unique_ptr<engine::InferenceEngine> engine_;
  std::unique_ptr<OpenAiServer> server_;
};

TEST_F(OpenAiServerTest, ModelsHealthAndMetrics) {
  const Reply models = Call(port(), http::verb::get, "/v1/models");
  EXPECT_EQ(models.status, 200);
  EXPECT_EQ(json::parse(models.body)["data"][0]["id"], "tide-tiny");
  EXPECT_EQ(Call(port(), http::verb::get, "/health").status, 200);
  const Reply metrics = Call(port(), http::verb::get, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("# TYPE tide_engine_generated_tokens_total counter"), std::string::npos);
  const Reply missing = Call(port(), http::verb::get, "/v1/nothing");
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(json::parse(missing.body)["error"].contains("message"));
}

TEST_F(OpenAiServerTest, ChatCompletionWithLogprobsAndUsage) {
  const json body = {{"model", "tide-tiny"},
                     {"messages", {{{"role", "user"}, {"content", "hello"}}}},
                     {"max_tokens", 12},
                     {"temperature", 0},
                     {"logprobs", true},
                     {"top_logprobs", 3}};
  const Reply r = Call(port(), http::verb::post, "/v1/chat/completions", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json out = json::parse(r.body);
  EXPECT_EQ(out["object"], "chat.completion");
  EXPECT_EQ(out["choices"][0]["message"]["role"], "assistant");
  const json& lp = out["choices"][0]["logprobs"]["content"];
  const int completion = out["usage"]["completion_tokens"].get<int>();
  // A stop token counts as generated but has no log-prob entry (it is not in the output).
  const int stop_token = out["choices"][0]["finish_reason"] == "stop" ? 1 : 0;
  EXPECT_EQ(static_cast<int>(lp.size()) + stop_token, completion);
  EXPECT_EQ(lp[0]["top_logprobs"].size(), 3u);
  EXPECT_GT(out["usage"]["prompt_tokens"].get<int>(), 5);
  EXPECT_EQ(out["usage"]["total_tokens"].get<int>(), out["usage"]["prompt_tokens"].get<int>() + completion);
  // Greedy decoding is reproducible; the same request streamed gives the same text.
  json streamed = body;
  streamed["stream"] = true;
  streamed["stream_options"] = {{"include_usage", true}};
  const Reply s = Call(port(), http::verb::post, "/v1/chat/completions", streamed.dump());
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(s.content_type, "text/event-stream");
  const std::vector<json> events = Events(s.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  std::string finish;
  for (const json& e : events) {
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    if (e["choices"].empty()) {
      EXPECT_EQ(e["usage"]["completion_tokens"], completion);  // the usage chunk
      continue;
    }
    const json& c = e["choices"][0];
    if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
    if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
  }
  const json& message = out["choices"][0]["message"];
  EXPECT_EQ(text, message["content"].is_null() ? "" : message["content"].get<std::string>());
  EXPECT_EQ(finish, out["choices"][0]["finish_reason"]);
}

TEST_F(OpenAiServerTest, CompletionsPlainAndStreamed) {
  const json body = {{"model", "tide-tiny"}, {"prompt", "The tide"}, {"max_tokens", 6}, {"seed", 3}, {"logprobs", 2}};
  const Reply r = Call(port(), http::verb::post, "/v1/completions", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json out = json::parse(r.body);
  EXPECT_EQ(out["object"], "text_completion");
  EXPECT_EQ(out["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(out["choices"][0]["logprobs"]["tokens"].size(), 6u);
  json streamed = body;
  streamed["stream"] = true;
  const Reply s = Call(port(), http::verb::post, "/v1/completions", streamed.dump());
  std::string text;
  for (const json& e : Events(s.body)) text += e["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(text, out["choices"][0]["text"]);
}

// tool_choice "required": even this random model replies with one schema-valid call, in
// the non-streaming and the streaming shape alike (parallel_tool_calls false: one call;
// ParallelToolCallsBothWays covers true).
TEST_F(OpenAiServerTest, RequiredToolChoiceGivesAValidCall) {
  const json tools = json::parse(R"([{"type": "function", "function": {"name": "set_mode",
      "parameters": {"type": "object", "properties": {"mode": {"enum": ["fast", "slow"]},
      "level": {"type": "integer", "minimum": 0}}, "required": ["mode", "level"]}}}])");
  json body = {{"model", "tide-tiny"},
               {"messages", {{{"role", "user"}, {"content", "go"}}}},
               {"tools", tools},
               {"tool_choice", "required"},
               {"parallel_tool_calls", false},
               {"max_tokens", 120},
               {"seed", 5}};
  const Reply r = Call(port(), http::verb::post, "/v1/chat/completions", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json out = json::parse(r.body);
  EXPECT_EQ(out["choices"][0]["finish_reason"], "tool_calls") << r.body;
  const json& call = out["choices"][0]["message"]["tool_calls"][0];
  EXPECT_EQ(call["function"]["name"], "set_mode");
  const json args = json::parse(call["function"]["arguments"].get<std::string>());
  EXPECT_TRUE(args["mode"] == "fast" || args["mode"] == "slow") << args;
  EXPECT_TRUE(args["level"].is_number_integer()) << args;
  body["stream"] = true;
  const Reply s = Call(port(), http::verb::post, "/v1/chat/completions", body.dump());
  std::string name, arguments;
  for (const json& e : Events(s.body)) {
    for (const json& tc : e["choices"][0]["delta"].value("tool_calls", json::array())) {
      name += tc["function"]["name"].get<std::string>();
      arguments += tc["function"]["arguments"].get<std::string>();
    }
  }
  EXPECT_EQ(name, "set_mode");
  EXPECT_EQ(json::parse(arguments), args) << "streamed and plain replies agree for one seed";
  // A named tool that is not offered, and a broken schema: 400s naming the field.
  body["stream"] = false;
  body["tool_choice"] = {{"type", "function"}, {"function", {{"name", "other"}}}};
  const Reply missing = Call(port(), http::verb::post, "/v1/chat/completions", body.dump());
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(json::parse(missing.body)["error"]["param"], "tool_choice");
  body["tool_choice"] = "auto";
  body["tools"][0]["function"]["parameters"]["properties"]["level"]["type"] = "integr";
  const Reply broken = Call(port(), http::verb::post, "/v1/chat/completions", body.dump());
  EXPECT_EQ(broken.status, 400);
  EXPECT_EQ(json::parse(broken.body)["error"]["param"], "tools[0].function.parameters") << broken.body;
}

TEST_F(OpenAiServerTest, BadInputGetsOpenAiErrorsAndOthersAreStillServed) {
  struct Case {
    std::string body;
    std::string param;
  };
  const std::string msgs = R"("messages": [{"role": "user", "content": "hi"}])";
  const std::vector<Case> cases = {
      {"{not json", "body"},
      {R"({"model": "gpt-9", )" + msgs + "}", "model"},
      {R"({"model": "tide-tiny"})", "messages"},
      {R"({"model": "tide-tiny", )" + msgs + R"(, "temperature": 7})", "temperature"},
      {R"({"model": "tide-tiny", )" + msgs + R"(, "top_p": 0})", "top_p"},
      {R"({"model": "tide-tiny", )" + msgs + R"(, "max_tokens": 0})", "max_tokens"},
      {R"({"model": "tide-tiny", )" + msgs + R"(, "n": 2})", "n"},
      {R"({"model": "tide-tiny", )" + msgs + R"(, "tools": [{"type": "function", "function": {"name": "f", "parameters": 3}}]})",
       "tools[0].function.parameters"},
      {R"({"model": "tide-tiny", "messages": [{"role": "wizard", "content": "x"}]})", "messages[0].role"},
      {R"({"model": "tide-tiny", )" + msgs + R"(, "parallel_tool_calls": "no"})", "parallel_tool_calls"},
      {R"({"model": "tide-tiny", )" + msgs + R"(, "return_router_choices": 1})", "return_router_choices"},
      {R"({"model": "tide-tiny", "messages": [{"role": "user", "content": ")" + std::string(2100, 'a') + R"("}]})",
       "prompt"},
  };
  for (const Case& c : cases) {
    const Reply r = Call(port(), http::verb::post, "/v1/chat/completions", c.body);
    EXPECT_EQ(r.status, 400) << c.body.substr(0, 80) << " -> " << r.body;
    const json e = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(e.is_discarded()) << r.body;
    EXPECT_EQ(e["error"]["type"], "invalid_request_error") << r.body;
    EXPECT_EQ(e["error"]["param"], c.param) << r.body;
    EXPECT_FALSE(e["error"]["message"].get<std::string>().empty());
  }
  // Garbage on one connection while another client is served.
  std::thread noisy([&] {
    net::io_context io;
    net::ip::tcp::socket socket(io);
    socket.connect({net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port())});
    net::write(socket, net::buffer(std::string("NOT HTTP AT ALL\r\n\r\n")));
  });
  const json ok = {{"model", "tide-tiny"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 3}};
  EXPECT_EQ(Call(port(), http::verb::post, "/v1/chat/completions", ok.dump()).status, 200);
  noisy.join();
}

// The router_choices extension: the served routing, forced on a plain Model::Forward over
// prompt + completion, reproduces the served log-probs; the stream carries the same rows.
TEST_F(OpenAiServerTest, RouterChoicesReplayTheServedForward) {
  const json body = {{"model", "tide-tiny"},     {"messages", {{{"role", "user"}, {"content", "route me"}}}},
                     {"max_tokens", 10},         {"temperature", 0},
                     {"logprobs", true},         {"return_router_choices", true}};
  const Reply r = Call(port(), http::verb::post, "/v1/chat/completions", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json out = json::parse(r.body);
  const json& rc = out["choices"][0]["router_choices"];
  const std::vector<int32_t> prompt = rc["prompt_token_ids"].get<std::vector<int32_t>>();
  ASSERT_EQ(static_cast<int>(prompt.size()), out["usage"]["prompt_tokens"].get<int>());
  ASSERT_EQ(rc["prompt"].size(), prompt.size() - 1);
  const json& lp = out["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(rc["token_ids"].size(), lp.size());
  ASSERT_EQ(rc["tokens"].size(), lp.size());
  engine::GenerationResult served;
  served.prompt_router_choices = rc["prompt"].get<std::vector<std::vector<int32_t>>>();
  for (size_t i = 0; i < lp.size(); ++i) {
    served.tokens.push_back({rc["token_ids"][i].get<int32_t>(), lp[i]["logprob"].get<float>(), {},
                             rc["tokens"][i].get<std::vector<int32_t>>()});
    ASSERT_EQ(served.tokens.back().router_choices.size(), 4u);  // 2 MoE layers x top-2
  }
  if (!rc["stop_token_id"].is_null()) {
    served.stop_token_id = rc["stop_token_id"].get<int32_t>();
    served.stop_router_choices = rc["stop"].get<std::vector<int32_t>>();
  }
  engine::testing::ExpectReplayReproducesServedLogprobs(*model_, prompt, served, tokenizer_.vocab_size(), 1.0);
  // Streamed: the chunks' rows concatenate to the same object.
  json streamed = body;
  streamed["stream"] = true;
  const Reply s = Call(port(), http::verb::post, "/v1/chat/completions", streamed.dump());
  ASSERT_EQ(s.status, 200);
  json joined = {{"token_ids", json::array()}, {"tokens", json::array()}, {"stop_token_id", nullptr}, {"stop", nullptr}};
  for (const json& e : Events(s.body)) {
    if (e["choices"].empty() || !e["choices"][0].contains("router_choices")) continue;
    const json& c = e["choices"][0]["router_choices"];
    if (c.contains("prompt")) {
      EXPECT_FALSE(joined.contains("prompt")) << "the prompt rows come once";
      joined["prompt_token_ids"] = c["prompt_token_ids"];
      joined["prompt"] = c["prompt"];
    }
    for (size_t i = 0; i < c["token_ids"].size(); ++i) {
      joined["token_ids"].push_back(c["token_ids"][i]);
      joined["tokens"].push_back(c["tokens"][i]);
    }
    if (c.contains("stop_token_id")) {
      joined["stop_token_id"] = c["stop_token_id"];
      joined["stop"] = c["stop"];
    }
  }
  EXPECT_EQ(joined, rc);
  // Completions take the field too.
  const json completion = {{"model", "tide-tiny"}, {"prompt", "The tide"}, {"max_tokens", 4}, {"return_router_choices", true}};
  const Reply c = Call(port(), http::verb::post, "/v1/completions", completion.dump());
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(json::parse(c.body)["choices"][0]["router_choices"]["tokens"].size(), 4u);
}

// /metrics: tokens per (layer, expert) add up to rows x top_k in each MoE layer.
TEST_F(OpenAiServerTest, MetricsCountTokensPerExpert) {
  const json body = {{"model", "tide-tiny"}, {"prompt", "count the experts"}, {"max_tokens", 7}};
  ASSERT_EQ(Call(port(), http::verb::post, "/v1/completions", body.dump()).status, 200);
  const std::string m = Call(port(), http::verb::get, "/metrics").body;
  EXPECT_NE(m.find("# TYPE tide_engine_expert_tokens_total counter"), std::string::npos);
  const std::string rows_key = "\ntide_engine_forward_rows_total ";
  const size_t at = m.find(rows_key);
  ASSERT_NE(at, std::string::npos) << m;
  const int64_t rows = std::stoll(m.substr(at + rows_key.size()));
  EXPECT_EQ(rows, engine_->stats().forward_rows);
  EXPECT_GT(rows, 7);
  std::vector<int64_t> per_layer(2, 0);
  int series = 0;
  for (size_t pos = 0; (pos = m.find("\ntide_engine_expert_tokens_total{layer=\"", pos)) != std::string::npos; ++pos) {
    const size_t q = m.find('"', pos) + 1;
    const int layer = std::stoi(m.substr(q));
    per_layer.at(layer) += std::stoll(m.substr(m.find("} ", q) + 2));
    ++series;
  }
  EXPECT_EQ(series, 8);  // 2 layers x 4 experts
  EXPECT_EQ(per_layer[0], rows * 2);
  EXPECT_EQ(per_layer[1], rows * 2);
}

// parallel_tool_calls with tool_choice "required": true lets the constrained decoder open
// further calls (some seed does, each one valid, ids distinct); false gives exactly one.
TEST_F(OpenAiServerTest, ParallelToolCallsBothWays) {
  const json tools = json::parse(R"([{"type": "function", "function": {"name": "set_mode",
      "parameters": {"type": "object", "properties": {"mode": {"enum": ["fast", "slow"]}}, "required": ["mode"]}}}])");
  json body = {{"model", "tide-tiny"}, {"messages", {{{"role", "user"}, {"content", "go"}}}},
               {"tools", tools},       {"tool_choice", "required"},
               {"max_tokens", 150}, {"temperature", 2}};
  int most = 0;
  for (int seed = 1; seed <= 10; ++seed) {
    body["seed"] = seed;
    body.erase("parallel_tool_calls");
    const Reply r = Call(port(), http::verb::post, "/v1/chat/completions", body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const json out = json::parse(r.body);
    if (out["choices"][0]["finish_reason"] == "length") continue;
    EXPECT_EQ(out["choices"][0]["finish_reason"], "tool_calls") << r.body;
    const json& calls = out["choices"][0]["message"]["tool_calls"];
    std::set<std::string> ids;
    for (const json& c : calls) {
      EXPECT_EQ(c["function"]["name"], "set_mode");
      const json args = json::parse(c["function"]["arguments"].get<std::string>());
      EXPECT_TRUE(args["mode"] == "fast" || args["mode"] == "slow") << args;
      ids.insert(c["id"].get<std::string>());
    }
    EXPECT_EQ(ids.size(), calls.size()) << "distinct ids";
    most = std::max(most, static_cast<int>(calls.size()));
    body["parallel_tool_calls"] = false;
    const Reply one = Call(port(), http::verb::post, "/v1/chat/completions", body.dump());
    ASSERT_EQ(one.status, 200) << one.body;
    const json single = json::parse(one.body);
    EXPECT_EQ(single["choices"][0]["finish_reason"], "tool_calls") << one.body;
    EXPECT_EQ(single["choices"][0]["message"]["tool_calls"].size(), 1u) << one.body;
  }
  EXPECT_GE(most, 2) << "with parallel calls allowed, some seed should make a second call";
}

// Without an engine the server still serves /health and /metrics (with the extra text
// appended, as `tide serve` appends the run metrics); generation is a 503 naming why.
TEST(OpenAiServerNoEngineTest, MetricsOnlyServer) {
  OpenAiServerOptions o;
  o.port = 0;
  o.extra_metrics = [] { return Result<std::string>(std::string("# TYPE tide_extra gauge\ntide_extra 7\n")); };
  auto server = OpenAiServer::Start(nullptr, o).value();
  const Reply metrics = Call(server->port(), http::verb::get, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("tide_http_chat_requests_total 0"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("\ntide_extra 7\n"), std::string::npos) << metrics.body;
  EXPECT_EQ(metrics.body.find("tide_engine_"), std::string::npos) << metrics.body;
  EXPECT_EQ(Call(server->port(), http::verb::get, "/health").status, 200);
  EXPECT_EQ(json::parse(Call(server->port(), http::verb::get, "/v1/models").body)["data"].size(), 0u);
  const Reply chat = Call(server->port(), http::verb::post, "/v1/chat/completions", R"({"messages":[]})");
  EXPECT_EQ(chat.status, 503);
  EXPECT_NE(json::parse(chat.body)["error"]["message"].get<std::string>().find("no model is served"), std::string::npos)
      << chat.body;
  EXPECT_EQ(Call(server->port(), http::verb::post, "/v1/completions", "{}").status, 503);

  o.extra_metrics = [] { return Result<std::string>(DataLoss("run x is corrupt")); };
  auto failing = OpenAiServer::Start(nullptr, o).value();
  const Reply failed = Call(failing->port(), http::verb::get, "/metrics");
  EXPECT_EQ(failed.status, 500);
  EXPECT_NE(failed.body.find("run x is corrupt"), std::string::npos) << failed.body;
}

}  // namespace
}  // namespace tide::orchestrator
