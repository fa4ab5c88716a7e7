// OpenAiServer over loopback with a real (tiny, random) model: every endpoint, streaming as
// SSE chunks ending [DONE], the OpenAI error shape for bad input, and other clients served
// while one sends garbage. A tool-call round trip with the official `openai` npm client is
// in tests/e2e.
#include "tide/orchestrator/openai_server.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace tide::orchestrator {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;


engine::ModelWeights Weights() {
  engine::ModelConfig c;
  c.vocab_size = 272;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.moe_intermediate_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.num_experts = 4;
  c.num_experts_per_tok = 2;
  c.max_position_embeddings = 2048;
  engine::ModelWeights w = engine::ModelWeights::Allocate(c);
  w.InitRandom(7);
  return w;
}

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
// the non-streaming and the streaming shape alike.
TEST_F(OpenAiServerTest, RequiredToolChoiceGivesAValidCall) {
  const json tools = json::parse(R"([{"type": "function", "function": {"name": "set_mode",
      "parameters": {"type": "object", "properties": {"mode": {"enum": ["fast", "slow"]},
      "level": {"type": "integer", "minimum": 0}}, "required": ["mode", "level"]}}}])");
  json body = {{"model", "tide-tiny"},
               {"messages", {{{"role", "user"}, {"content", "go"}}}},
               {"tools", tools},
               {"tool_choice", "required"},
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

}  // namespace
}  // namespace tide::orchestrator
