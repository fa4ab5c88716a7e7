#include "tide/orchestrator/openai_api.h"

#include <algorithm>
#include <cmath>

namespace tide::orchestrator {
namespace {

using nlohmann::json;

Status Bad(const std::string& param, const std::string& what) { return InvalidArgument(param + ": " + what); }

// Reads an optional number field into *out, checking [lo, hi].
Status Number(const json& body, const char* key, double lo, double hi, float* out) {
  if (!body.contains(key) || body[key].is_null()) return Status::Ok();
  if (!body[key].is_number()) return Bad(key, "must be a number");
  const double v = body[key].get<double>();
  if (!(v >= lo && v <= hi)) return Bad(key, "must be in [" + json(lo).dump() + ", " + json(hi).dump() + "]");
  *out = static_cast<float>(v);
  return Status::Ok();
}

Status Integer(const json& body, const char* key, int64_t lo, int64_t hi, int64_t* out, bool* present = nullptr) {
  if (present != nullptr) *present = false;
  if (!body.contains(key) || body[key].is_null()) return Status::Ok();
  if (!body[key].is_number_integer()) return Bad(key, "must be an integer");
  const int64_t v = body[key].get<int64_t>();
  if (v < lo || v > hi) return Bad(key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  *out = v;
  if (present != nullptr) *present = true;
  return Status::Ok();
}

Status Boolean(const json& body, const char* key, bool* out) {
  if (!body.contains(key) || body[key].is_null()) return Status::Ok();
  if (!body[key].is_boolean()) return Bad(key, "must be a boolean");
  *out = body[key].get<bool>();
  return Status::Ok();
}

// The fields both endpoints share.
Status Common(const json& body, const std::string& model_name, ApiRequest* r) {
  if (!body.is_object()) return Bad("body", "must be a JSON object");
  if (!body.contains("model") || !body["model"].is_string()) return Bad("model", "is required (a string)");
  r->model = body["model"].get<std::string>();
  if (r->model != model_name) return Bad("model", "the model `" + r->model + "` does not exist (this server has `" + model_name + "`)");
  TIDE_RETURN_IF_ERROR(Number(body, "temperature", 0, 2, &r->params.sampling.temperature));
  TIDE_RETURN_IF_ERROR(Number(body, "top_p", 0, 1, &r->params.sampling.top_p));
  if (body.contains("top_p") && body["top_p"].is_number() && body["top_p"].get<double>() <= 0) {
    return Bad("top_p", "must be > 0");
  }
  int64_t v = 0;
  bool present = false;
  TIDE_RETURN_IF_ERROR(Integer(body, "top_k", 0, 1 << 20, &v, &present));
  if (present) r->params.sampling.top_k = static_cast<int>(v);
  TIDE_RETURN_IF_ERROR(Integer(body, "seed", INT64_MIN, INT64_MAX, &v, &present));
  if (present) r->params.seed = static_cast<uint64_t>(v);
  TIDE_RETURN_IF_ERROR(Integer(body, "n", 1, 1, &v));
  TIDE_RETURN_IF_ERROR(Boolean(body, "stream", &r->stream));
  TIDE_RETURN_IF_ERROR(Boolean(body, "return_router_choices", &r->return_router_choices));
  r->params.return_router_choices = r->return_router_choices;
  if (body.contains("stream_options") && body["stream_options"].is_object()) {
    TIDE_RETURN_IF_ERROR(Boolean(body["stream_options"], "include_usage", &r->include_usage));
  }
  if (body.contains("stop") && !body["stop"].is_null()) {
    const json& stop = body["stop"];
    if (stop.is_string()) {
      r->params.stop = {stop.get<std::string>()};
    } else if (stop.is_array() && stop.size() <= 4) {
      for (const json& s : stop) {
        if (!s.is_string()) return Bad("stop", "must be a string or up to 4 strings");
        r->params.stop.push_back(s.get<std::string>());
      }
    } else {
      return Bad("stop", "must be a string or up to 4 strings");
    }
  }
  return Status::Ok();
}

std::string TokenText(const engine::Tokenizer& tok, int32_t id) { return std::string(tok.TokenBytes(id)); }

json Bytes(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

}  // namespace

Result<ApiRequest> ParseChatRequest(const json& body, const std::string& model_name) {
  ApiRequest r;
  r.chat = true;
  TIDE_RETURN_IF_ERROR(Common(body, model_name, &r));
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
    return Bad("messages", "is required (a non-empty array)");
  }
  r.messages = body["messages"];
  if (body.contains("tools") && !body["tools"].is_null()) {
    if (!body["tools"].is_array()) return Bad("tools", "must be an array");
    for (size_t i = 0; i < body["tools"].size(); ++i) {
      const json& t = body["tools"][i];
      const std::string where = "tools[" + std::to_string(i) + "]";
      if (!t.is_object() || t.value("type", "function") != "function" || !t.contains("function") ||
          !t["function"].is_object() || !t["function"].contains("name") || !t["function"]["name"].is_string()) {
        return Bad(where, "must be {\"type\": \"function\", \"function\": {\"name\", ...}}");
      }
      if (t["function"].contains("parameters") && !t["function"]["parameters"].is_object()) {
        return Bad(where + ".function.parameters", "must be a JSON Schema object");
      }
    }
    r.tools = body["tools"];
  }
  TIDE_RETURN_IF_ERROR(Boolean(body, "parallel_tool_calls", &r.parallel_tool_calls));
  if (body.contains("tool_choice") && !body["tool_choice"].is_null()) {
    const json& tc = body["tool_choice"];
    if (tc.is_string() && (tc == "auto" || tc == "none" || tc == "required")) {
      r.tool_choice = tc.get<std::string>();
    } else if (tc.is_object() && tc.contains("function") && tc["function"].contains("name") &&
               tc["function"]["name"].is_string()) {
      r.tool_choice = tc["function"]["name"].get<std::string>();
    } else {
      return Bad("tool_choice", "must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\"}}");
    }
    if (r.tool_choice != "auto" && r.tool_choice != "none" && r.tools.is_null()) {
      return Bad("tool_choice", "requires tools");
    }
  }
  int64_t v = 0;
  bool present = false;
  TIDE_RETURN_IF_ERROR(Integer(body, "max_tokens", 1, 1 << 20, &v, &present));
  if (present) r.params.max_tokens = static_cast<int>(v);
  TIDE_RETURN_IF_ERROR(Integer(body, "max_completion_tokens", 1, 1 << 20, &v, &present));
  if (present) r.params.max_tokens = static_cast<int>(v);
  TIDE_RETURN_IF_ERROR(Boolean(body, "logprobs", &r.logprobs));
  TIDE_RETURN_IF_ERROR(Integer(body, "top_logprobs", 0, 20, &v, &present));
  if (present) {
    if (!r.logprobs) return Bad("top_logprobs", "requires logprobs: true");
    r.params.top_logprobs = static_cast<int>(v);
  }
  if (body.contains("chat_template_kwargs") && body["chat_template_kwargs"].is_object()) {
    TIDE_RETURN_IF_ERROR(Boolean(body["chat_template_kwargs"], "enable_thinking", &r.enable_thinking));
  }
  // Check the messages now (a 400 before any generation starts).
  TIDE_RETURN_IF_ERROR(PromptText(r).status());
  return r;
}

Result<ApiRequest> ParseCompletionRequest(const json& body, const std::string& model_name) {
  ApiRequest r;
  r.chat = false;
  r.params.max_tokens = 16;  // the OpenAI default for completions
  TIDE_RETURN_IF_ERROR(Common(body, model_name, &r));
  if (!body.contains("prompt")) return Bad("prompt", "is required");
  const json& p = body["prompt"];
  if (p.is_string()) {
    r.prompt = p.get<std::string>();
  } else if (p.is_array() && p.size() == 1 && p[0].is_string()) {
    r.prompt = p[0].get<std::string>();
  } else {
    return Bad("prompt", "must be a string (or an array of one string)");
  }
  int64_t v = 0;
  bool present = false;
  TIDE_RETURN_IF_ERROR(Integer(body, "max_tokens", 1, 1 << 20, &v, &present));
  if (present) r.params.max_tokens = static_cast<int>(v);
  TIDE_RETURN_IF_ERROR(Integer(body, "logprobs", 0, 5, &v, &present));
  if (present) {
    r.logprobs = true;
    r.params.top_logprobs = static_cast<int>(v);
  }
  bool echo = false;
  TIDE_RETURN_IF_ERROR(Boolean(body, "echo", &echo));
  if (echo) return Bad("echo", "is not supported");
  TIDE_RETURN_IF_ERROR(Integer(body, "best_of", 1, 1, &v));
  return r;
}

Result<std::string> PromptText(const ApiRequest& r) {
  if (!r.chat) return r.prompt;
  engine::ChatTemplateOptions o;
  o.add_generation_prompt = true;
  o.enable_thinking = r.enable_thinking;
  const json tools = r.tool_choice == "none" ? json() : r.tools;
  Result<std::string> text = engine::RenderChat(r.messages, tools, o);
  if (!text.ok()) return InvalidArgument(text.status().message());  // "messages[2].role: ..." names the param
  return text;
}

engine::ParsedAssistantOutput ParseTurn(const ApiRequest& r, std::string_view text) {
  if (!r.parallel_tool_calls) {
    constexpr std::string_view kOpen = "<tool_call>", kClose = "</tool_call>";
    if (const size_t open = text.find(kOpen); open != std::string_view::npos) {
      if (const size_t close = text.find(kClose, open + kOpen.size()); close != std::string_view::npos) {
        text = text.substr(0, close + kClose.size());
      }
    }
  }
  return engine::ParseAssistantOutput(text);
}

json RouterChoicesJson(std::span<const int32_t> prompt_ids, const std::vector<std::vector<int32_t>>& prompt_rows,
                       const std::vector<engine::GeneratedToken>& tokens, int32_t stop_token_id,
                       const std::vector<int32_t>& stop_row, bool whole) {
  json out = json::object();
  if (whole || !prompt_rows.empty()) {
    out["prompt_token_ids"] = std::vector<int32_t>(prompt_ids.begin(), prompt_ids.end());
    out["prompt"] = prompt_rows;
  }
  json ids = json::array(), rows = json::array();
  for (const auto& t : tokens) {
    ids.push_back(t.id);
    rows.push_back(t.router_choices);
  }
  out["token_ids"] = std::move(ids);
  out["tokens"] = std::move(rows);
  if (whole || stop_token_id >= 0) {
    out["stop_token_id"] = stop_token_id >= 0 ? json(stop_token_id) : json();
    out["stop"] = stop_token_id >= 0 ? json(stop_row) : json();
  }
  return out;
}

std::string FinishReasonFor(engine::FinishReason reason, bool called_tools) {
  if (called_tools && reason == engine::FinishReason::kStop) return "tool_calls";
  if (reason == engine::FinishReason::kLength) return "length";
  if (reason == engine::FinishReason::kCancelled) return "cancelled";
  return "stop";
}

json ChatLogprobs(const std::vector<engine::GeneratedToken>& tokens, const engine::Tokenizer& tok) {
  json content = json::array();
  for (const auto& t : tokens) {
    const std::string text = TokenText(tok, t.id);
    json top = json::array();
    for (const auto& [id, lp] : t.top) {
      const std::string alt = TokenText(tok, id);
      top.push_back({{"token", alt}, {"logprob", lp}, {"bytes", Bytes(alt)}});
    }
    content.push_back({{"token", text}, {"logprob", t.logprob}, {"bytes", Bytes(text)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

json CompletionLogprobs(const std::vector<engine::GeneratedToken>& tokens, const engine::Tokenizer& tok) {
  json out = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
  size_t offset = 0;
  for (const auto& t : tokens) {
    const std::string text = TokenText(tok, t.id);
    out["tokens"].push_back(text);
    out["token_logprobs"].push_back(t.logprob);
    json top = json::object();
    for (const auto& [id, lp] : t.top) top[TokenText(tok, id)] = lp;
    out["top_logprobs"].push_back(top);
    out["text_offset"].push_back(offset);
    offset += text.size();
  }
  return out;
}

json UsageJson(const engine::GenerationResult& r) {
  return {{"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"total_tokens", r.prompt_tokens + r.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", r.cached_tokens}}}};
}

json ChatResponse(const ApiRequest& req, const std::string& id, int64_t created, const engine::GenerationResult& r,
                  const engine::Tokenizer& tok) {
  const engine::ParsedAssistantOutput parsed = ParseTurn(req, r.text);
  json message = engine::ToAssistantMessage(parsed, id + "_call_");
  json choice = {{"index", 0},
                 {"message", message},
                 {"finish_reason", FinishReasonFor(r.finish_reason, !parsed.tool_calls.empty())},
                 {"logprobs", req.logprobs ? ChatLogprobs(r.tokens, tok) : json()}};
  return {{"id", id},           {"object", "chat.completion"}, {"created", created},
          {"model", req.model}, {"choices", {choice}},         {"usage", UsageJson(r)}};
}

json CompletionResponse(const ApiRequest& req, const std::string& id, int64_t created,
                        const engine::GenerationResult& r, const engine::Tokenizer& tok) {
  json choice = {{"index", 0},
                 {"text", r.text},
                 {"finish_reason", FinishReasonFor(r.finish_reason, false)},
                 {"logprobs", req.logprobs ? CompletionLogprobs(r.tokens, tok) : json()}};
  return {{"id", id},           {"object", "text_completion"}, {"created", created},
          {"model", req.model}, {"choices", {choice}},         {"usage", UsageJson(r)}};
}

json ErrorBody(const Status& status) {
  std::string message(status.message()), param;
  const size_t colon = message.find(": ");
  if (status.code() == StatusCode::kInvalidArgument && colon != std::string::npos &&
      message.find(' ') >= colon) {  // "param: what" with a param of one word
    param = message.substr(0, colon);
  }
  std::string type = "invalid_request_error";
  if (status.code() == StatusCode::kResourceExhausted) type = "rate_limit_error";
  if (status.code() == StatusCode::kInternal || status.code() == StatusCode::kUnavailable) type = "server_error";
  json code = param == "model" ? json("model_not_found") : json();
  return {{"error", {{"message", message}, {"type", type}, {"param", param.empty() ? json() : json(param)}, {"code", code}}}};
}

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

}  // namespace tide::orchestrator
