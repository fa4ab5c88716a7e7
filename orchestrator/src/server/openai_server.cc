#include "tide/orchestrator/openai_server.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <list>
#include <mutex>
#include <sstream>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "tide/core/log.h"
#include "tide/engine/json_constraint.h"
#include "tide/orchestrator/openai_api.h"

namespace tide::orchestrator {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using nlohmann::json;

constexpr std::string_view kToolCallTag = "<tool_call>";

// Content that can be streamed now: the text before the first <tool_call>, less a tail
// that may still become one.
size_t VisibleContent(const std::string& text) {
  const size_t tag = text.find(kToolCallTag);
  if (tag != std::string::npos) return tag;
  for (size_t len = std::min(text.size(), kToolCallTag.size() - 1); len > 0; --len) {
    if (text.compare(text.size() - len, len, kToolCallTag.substr(0, len)) == 0) return text.size() - len;
  }
  return text.size();
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

struct OpenAiServer::Impl {
  engine::InferenceEngine* engine = nullptr;
  OpenAiServerOptions options;
  net::io_context io;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread accept_thread;
  int port = 0;
  struct Connection {
    std::shared_ptr<tcp::socket> socket;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  std::mutex mu;
  std::list<Connection> connections;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> next_id{1};
  std::atomic<int64_t> chat_requests{0}, completion_requests{0}, errors{0};
  std::mutex trie_mu;
  std::shared_ptr<const engine::TokenTrie> trie;  // built on the first constrained request

  // The tools' schemas compiled (a broken one is a 400 naming it); for tool_choice
  // "required" or a function's name, the constraint that makes the reply one valid call.
  Status ToolConstraint(const ApiRequest& api, std::shared_ptr<engine::TokenConstraint>* out);

  void AcceptLoop();
  void Serve(std::shared_ptr<tcp::socket> socket);
  http::response<http::string_body> Json(const http::request<http::string_body>& req, http::status status,
                                         const json& body);
  http::response<http::string_body> Error(const http::request<http::string_body>& req, const Status& s);
  // Returns false when the connection must close.
  bool Handle(tcp::socket& socket, const http::request<http::string_body>& req);
  bool Generate(tcp::socket& socket, const http::request<http::string_body>& req, bool chat);
  bool Stream(tcp::socket& socket, const http::request<http::string_body>& req, const ApiRequest& api,
              engine::GenerateRequest gen, const std::string& id, const std::string& forced);
  // Sets the request's tool-call shape from tool_choice and parallel_tool_calls: the
  // schema constraint (and its repeat for parallel calls), or a stop after the first call.
  Status ToolCalls(const ApiRequest& api, engine::GenerateRequest* gen, std::string* forced);
  Result<std::string> Metrics() const;  // the HTTP counters, the engine's, then extra_metrics
  void EngineMetrics(std::ostringstream& out) const;
};

http::response<http::string_body> OpenAiServer::Impl::Json(const http::request<http::string_body>& req,
                                                           http::status status, const json& body) {
  http::response<http::string_body> res{status, req.version()};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(req.keep_alive());
  res.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

http::response<http::string_body> OpenAiServer::Impl::Error(const http::request<http::string_body>& req,
                                                            const Status& s) {
  ++errors;
  return Json(req, static_cast<http::status>(HttpStatusFor(s)), ErrorBody(s));
}

Result<std::string> OpenAiServer::Impl::Metrics() const {
  std::ostringstream out;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {  // integers print whole
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n' << name << ' ' << value << '\n';
  };
  metric("tide_http_chat_requests_total", "counter", "POST /v1/chat/completions requests", chat_requests.load());
  metric("tide_http_completion_requests_total", "counter", "POST /v1/completions requests", completion_requests.load());
  metric("tide_http_errors_total", "counter", "requests answered with an error", errors.load());
  if (engine != nullptr) EngineMetrics(out);
  if (options.extra_metrics) {
    TIDE_ASSIGN_OR_RETURN(std::string extra, options.extra_metrics());
    out << extra;
  }
  return out.str();
}

void OpenAiServer::Impl::EngineMetrics(std::ostringstream& out) const {
  const engine::InferenceEngine::Stats s = engine->stats();
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {  // integers print whole
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n' << name << ' ' << value << '\n';
  };
  metric("tide_engine_running", "gauge", "sequences decoding", s.running);
  metric("tide_engine_waiting", "gauge", "requests queued", s.waiting);
  metric("tide_engine_steps_total", "counter", "scheduler steps", s.steps);
  metric("tide_engine_preemptions_total", "counter", "sequences preempted for KV space", s.preemptions);
  metric("tide_engine_prompt_tokens_total", "counter", "prompt tokens admitted", s.prompt_tokens);
  metric("tide_engine_cached_prompt_tokens_total", "counter", "prompt tokens served from the prefix cache",
         s.cached_tokens);
  metric("tide_engine_generated_tokens_total", "counter", "tokens generated", s.generated_tokens);
  metric("tide_engine_kv_blocks_used", "gauge", "KV blocks referenced", s.kv.used);
  metric("tide_engine_kv_blocks_cached", "gauge", "KV blocks cached for prefix reuse", s.kv.cached);
  metric("tide_engine_kv_blocks_free", "gauge", "KV blocks free", s.kv.free);
  metric("tide_engine_forward_rows_total", "counter", "rows fed through the model (prefill and decode)",
         s.forward_rows);
  out << "# HELP tide_engine_expert_tokens_total tokens routed to each expert of each MoE layer\n"
      << "# TYPE tide_engine_expert_tokens_total counter\n";
  for (size_t l = 0; l < s.expert_tokens.tokens.size(); ++l) {
    for (size_t e = 0; e < s.expert_tokens.tokens[l].size(); ++e) {
      out << "tide_engine_expert_tokens_total{layer=\"" << l << "\",expert=\"" << e << "\"} "
          << s.expert_tokens.tokens[l][e] << '\n';
    }
  }
}

Status OpenAiServer::Impl::ToolConstraint(const ApiRequest& api, std::shared_ptr<engine::TokenConstraint>* out) {
  if (!api.chat || api.tools.is_null()) return Status::Ok();
  engine::JsonConstraintOptions options;
  options.ignore_unsupported_keywords = true;  // minimum, pattern, …: not enforced while decoding
  std::vector<std::pair<std::string, json>> offered;
  for (size_t i = 0; i < api.tools.size(); ++i) {
    const json& f = api.tools[i]["function"];
    const json params = f.contains("parameters") ? f["parameters"] : json();
    if (!params.is_null()) {
      Result<engine::JsonSchemaMatcher> m = engine::JsonSchemaMatcher::Create(params, options);
      if (!m.ok()) {
        return InvalidArgument("tools[" + std::to_string(i) + "].function.parameters: " + std::string(m.status().message()));
      }
    }
    const std::string name = f["name"].get<std::string>();
    if (api.tool_choice == "required" || api.tool_choice == name) offered.emplace_back(name, params);
  }
  if (api.tool_choice == "auto" || api.tool_choice == "none") return Status::Ok();
  if (offered.empty()) return InvalidArgument("tool_choice: no tool named `" + api.tool_choice + "`");
  const engine::Tokenizer& tok = engine->tokenizer();
  const auto end = tok.AddedTokenId("</tool_call>");
  if (!end) return InvalidArgument("tool_choice: the model's tokenizer has no </tool_call> token");
  TIDE_ASSIGN_OR_RETURN(engine::JsonSchemaMatcher matcher,
                        engine::JsonSchemaMatcher::Create(engine::ToolCallSchema(offered), options));
  {
    std::lock_guard lock(trie_mu);
    if (trie == nullptr) trie = engine::TokenTrie::FromTokenizer(tok);
  }
  TIDE_ASSIGN_OR_RETURN(engine::TokenConstraint c, engine::TokenConstraint::Create(std::move(matcher), trie, {*end}));
  *out = std::make_shared<engine::TokenConstraint>(std::move(c));
  return Status::Ok();
}

Status OpenAiServer::Impl::ToolCalls(const ApiRequest& api, engine::GenerateRequest* gen, std::string* forced) {
  TIDE_RETURN_IF_ERROR(ToolConstraint(api, &gen->constraint));
  const engine::Tokenizer& tok = engine->tokenizer();
  if (gen->constraint != nullptr) {
    // The reply opens a tool call and its body is decoded under the tools' JSON Schema, so
    // it is one valid call; with parallel calls the model may then open another one.
    *forced = "<tool_call>\n";
    tok.EncodeTo(*forced, true, &gen->prompt);
    if (api.parallel_tool_calls) tok.EncodeTo("\n<tool_call>\n", true, &gen->constraint_repeat);
  } else if (!api.parallel_tool_calls && !api.tools.is_null() && api.tool_choice != "none") {
    if (auto end = tok.AddedTokenId("</tool_call>")) gen->params.final_token_ids.push_back(*end);
  }
  return Status::Ok();
}

bool OpenAiServer::Impl::Stream(tcp::socket& socket, const http::request<http::string_body>& req,
                                const ApiRequest& api, engine::GenerateRequest gen, const std::string& id,
                                const std::string& forced) {
  const std::vector<int32_t> prompt_ids = gen.prompt;
  const engine::UpdateQueue queue;
  Result<uint64_t> rid = engine->Submit(std::move(gen), queue.Callback());
  if (!rid.ok()) {
    http::write(socket, Error(req, rid.status()));
    return req.keep_alive();
  }
  http::response<http::empty_body> head{http::status::ok, req.version()};
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-cache");
  head.keep_alive(req.keep_alive());
  head.chunked(true);
  http::response_serializer<http::empty_body> sr{head};
  boost::system::error_code ec;
  http::write_header(socket, sr, ec);
  const int64_t created = Now();
  const char* object = api.chat ? "chat.completion.chunk" : "text_completion";
  auto send = [&](const json& payload) {
    if (ec) return;
    const std::string event = "data: " + payload.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
    net::write(socket, http::make_chunk(net::buffer(event)), ec);
  };
  auto chunk = [&](json choice) {
    choice["index"] = 0;
    if (!choice.contains("finish_reason")) choice["finish_reason"] = nullptr;
    return json{{"id", id}, {"object", object}, {"created", created}, {"model", api.model}, {"choices", {choice}}};
  };
  const engine::Tokenizer& tok = engine->tokenizer();
  if (api.chat) send(chunk({{"delta", {{"role", "assistant"}, {"content", ""}}}}));
  std::string full = forced;
  size_t streamed = 0;
  engine::GenerationResult total;
  bool finished = false;
  while (!finished) {
    std::optional<engine::GenerationUpdate> next = queue.Pop(std::chrono::milliseconds(100));
    if (!next) continue;
    engine::GenerationUpdate& u = *next;
    full += u.text;
    engine::AppendUpdate(u, &total);
    finished = u.finished;
    const size_t visible = api.chat ? VisibleContent(full) : full.size();
    const bool routing = api.return_router_choices &&
                         (!u.tokens.empty() || !u.prompt_router_choices.empty() || u.stop_token_id >= 0);
    if (visible > streamed || (api.logprobs && !u.tokens.empty()) || routing) {
      json choice;
      const std::string delta = visible > streamed ? full.substr(streamed, visible - streamed) : std::string();
      if (api.chat) {
        choice["delta"] = {{"content", delta}};
        if (api.logprobs) choice["logprobs"] = ChatLogprobs(u.tokens, tok);
      } else {
        choice["text"] = delta;
        if (api.logprobs) choice["logprobs"] = CompletionLogprobs(u.tokens, tok);
      }
      if (routing) {
        choice["router_choices"] = RouterChoicesJson(prompt_ids, u.prompt_router_choices, u.tokens, u.stop_token_id,
                                                     u.stop_router_choices, false);
      }
      streamed = std::max(streamed, visible);
      send(chunk(choice));
    }
    if (ec && !finished) {  // the client went away: stop generating for it
      engine->Cancel(*rid);
    }
  }
  bool called_tools = false;
  if (api.chat) {
    const engine::ParsedAssistantOutput parsed = ParseTurn(api, full);
    const std::string sent = full.substr(0, streamed);
    if (parsed.content.size() > sent.size() && parsed.content.compare(0, sent.size(), sent) == 0) {
      send(chunk({{"delta", {{"content", parsed.content.substr(sent.size())}}}}));
    }
    const json message = engine::ToAssistantMessage(parsed, id + "_call_");
    if (message.contains("tool_calls")) {
      called_tools = true;
      for (size_t i = 0; i < message["tool_calls"].size(); ++i) {
        json call = message["tool_calls"][i];
        call["index"] = i;
        send(chunk({{"delta", {{"tool_calls", {call}}}}}));
      }
    }
  }
  json last = chunk({{"delta", json::object()}, {"finish_reason", FinishReasonFor(total.finish_reason, called_tools)}});
  if (!api.chat) last["choices"][0]["text"] = "";
  send(last);
  if (api.include_usage) {
    send({{"id", id}, {"object", object}, {"created", created}, {"model", api.model}, {"choices", json::array()},
          {"usage", UsageJson(total)}});
  }
  if (!ec) {
    const std::string done = "data: [DONE]\n\n";
    net::write(socket, http::make_chunk(net::buffer(done)), ec);
  }
  if (!ec) net::write(socket, http::make_chunk_last(), ec);
  return !ec && req.keep_alive();
}

bool OpenAiServer::Impl::Generate(tcp::socket& socket, const http::request<http::string_body>& req, bool chat) {
  (chat ? chat_requests : completion_requests)++;
  if (engine == nullptr) {
    http::write(socket, Error(req, Unavailable("no model is served here (start `tide serve` with --model DIR)")));
    return req.keep_alive();
  }
  const json body = json::parse(req.body(), nullptr, false);
  if (body.is_discarded()) {
    http::write(socket, Error(req, InvalidArgument("body: is not valid JSON")));
    return req.keep_alive();
  }
  Result<ApiRequest> api = chat ? ParseChatRequest(body, options.model_name)
                                : ParseCompletionRequest(body, options.model_name);
  Result<std::string> prompt = api.ok() ? PromptText(*api) : Result<std::string>(api.status());
  if (!prompt.ok()) {
    http::write(socket, Error(req, prompt.status()));
    return req.keep_alive();
  }
  const engine::Tokenizer& tok = engine->tokenizer();
  engine::GenerateRequest gen;
  gen.prompt = tok.Encode(*prompt, /*allow_special=*/chat);
  gen.params = api->params;
  if (chat) {
    for (const char* stop : {"<|im_end|>", "<|endoftext|>"}) {
      if (auto sid = tok.AddedTokenId(stop)) gen.params.stop_token_ids.push_back(*sid);
    }
  }
  std::string forced;
  if (Status s = ToolCalls(*api, &gen, &forced); !s.ok()) {
    http::write(socket, Error(req, s));
    return req.keep_alive();
  }
  const std::string id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id++);
  if (api->stream) return Stream(socket, req, *api, std::move(gen), id, forced);
  const std::vector<int32_t> prompt_ids = gen.prompt;
  Result<engine::GenerationResult> result = engine->Generate(std::move(gen));
  if (!result.ok()) {
    http::write(socket, Error(req, result.status()));
    return req.keep_alive();
  }
  result->text = forced + result->text;
  json out = chat ? ChatResponse(*api, id, Now(), *result, tok) : CompletionResponse(*api, id, Now(), *result, tok);
  if (api->return_router_choices) {
    out["choices"][0]["router_choices"] = RouterChoicesJson(prompt_ids, result->prompt_router_choices, result->tokens,
                                                            result->stop_token_id, result->stop_router_choices, true);
  }
  http::write(socket, Json(req, http::status::ok, out));
  return req.keep_alive();
}

bool OpenAiServer::Impl::Handle(tcp::socket& socket, const http::request<http::string_body>& req) {
  const std::string target(req.target().substr(0, req.target().find('?')));
  const bool post = req.method() == http::verb::post, get = req.method() == http::verb::get;
  if (post && target == "/v1/chat/completions") return Generate(socket, req, true);
  if (post && target == "/v1/completions") return Generate(socket, req, false);
  if (get && target == "/v1/models") {
    json models = {{"object", "list"}, {"data", json::array()}};
    if (engine != nullptr) {
      models["data"].push_back({{"id", options.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "tide"}});
    }
    http::write(socket, Json(req, http::status::ok, models));
  } else if (get && target == "/health") {
    http::write(socket, Json(req, http::status::ok, {{"status", "ok"}}));
  } else if (get && target == "/metrics") {
    Result<std::string> text = Metrics();
    http::response<http::string_body> res{text.ok() ? http::status::ok : http::status::internal_server_error,
                                          req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    res.keep_alive(req.keep_alive());
    res.body() = text.ok() ? *text : "metrics unavailable: " + text.status().ToString() + "\n";
    res.prepare_payload();
    http::write(socket, res);
  } else {
    ++errors;
    http::write(socket, Json(req, http::status::not_found,
                             ErrorBody(NotFound(std::string(req.method_string()) + " " + target + ": no such endpoint"))));
  }
  return req.keep_alive();
}

void OpenAiServer::Impl::Serve(std::shared_ptr<tcp::socket> socket) {
  boost::beast::flat_buffer buffer;
  boost::system::error_code ec;
  while (!stopping) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(*socket, buffer, parser, ec);
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset) break;
    if (ec) {  // malformed HTTP: answer once, then close
      const http::request<http::string_body> unparsed;  // the error reply needs a request to answer
      http::response<http::string_body> res =
          Error(unparsed, InvalidArgument("request: malformed HTTP (" + ec.message() + ")"));
      res.keep_alive(false);
      http::write(*socket, res, ec);
      break;
    }
    try {
      if (!Handle(*socket, parser.get())) break;
    } catch (const std::exception& e) {  // a write to a closed socket (Beast throws)
      TIDE_LOG(Info) << "http connection ended: " << e.what();
      break;
    }
  }
  socket->shutdown(tcp::socket::shutdown_both, ec);
  socket->close(ec);
}

void OpenAiServer::Impl::AcceptLoop() {
  while (!stopping) {
    auto socket = std::make_shared<tcp::socket>(io);
    boost::system::error_code ec;
    acceptor->accept(*socket, ec);
    if (ec || stopping) break;
    std::lock_guard lock(mu);
    // Join the connections that have ended.
    for (auto it = connections.begin(); it != connections.end();) {
      if (it->done) {
        it->thread.join();
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
    Connection& c = connections.emplace_back();
    c.socket = socket;
    c.thread = std::thread([this, &c] {
      Serve(c.socket);
      c.done = true;
    });
  }
}

OpenAiServer::OpenAiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

OpenAiServer::~OpenAiServer() { Shutdown(); }

Result<std::unique_ptr<OpenAiServer>> OpenAiServer::Start(engine::InferenceEngine* engine,
                                                          const OpenAiServerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->engine = engine;
  impl->options = options;
  boost::system::error_code ec;
  const auto address = net::ip::make_address(options.host, ec);
  if (ec) return InvalidArgument("host: " + options.host + " is not an IP address");
  impl->acceptor = std::make_unique<tcp::acceptor>(impl->io);
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
  impl->acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor->bind(endpoint, ec);
  if (!ec) impl->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " + ec.message());
  }
  impl->port = impl->acceptor->local_endpoint().port();
  Impl* raw = impl.get();
  impl->accept_thread = std::thread([raw] { raw->AcceptLoop(); });
  return std::unique_ptr<OpenAiServer>(new OpenAiServer(std::move(impl)));
}

int OpenAiServer::port() const { return impl_->port; }

void OpenAiServer::Shutdown() {
  if (impl_->stopping.exchange(true)) return;
  boost::system::error_code ec;
  // shutdown() wakes a thread blocked in accept() (close() alone may not).
  ::shutdown(impl_->acceptor->native_handle(), SHUT_RDWR);
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  impl_->acceptor->close(ec);
  std::lock_guard lock(impl_->mu);
  for (auto& c : impl_->connections) c.socket->shutdown(tcp::socket::shutdown_both, ec);  // wakes reads
  for (auto& c : impl_->connections) c.thread.join();
  impl_->connections.clear();
}

}  // namespace tide::orchestrator
