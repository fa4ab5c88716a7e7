#include "tide/workers/message.h"

namespace tide::workers {

using nlohmann::json;

Message Message::System(std::string content) { return Message{"system", std::move(content), {}, "", ""}; }
Message Message::User(std::string content) { return Message{"user", std::move(content), {}, "", ""}; }
Message Message::Assistant(std::string content, std::vector<ToolCall> calls) {
  return Message{"assistant", std::move(content), std::move(calls), "", ""};
}
Message Message::Tool(std::string tool_call_id, std::string content) {
  return Message{"tool", std::move(content), {}, std::move(tool_call_id), ""};
}

json ToJson(const Message& m) {
  json j = {{"role", m.role}};
  // OpenAI sends null content for an assistant message that only calls tools.
  if (m.role == "assistant" && m.content.empty() && !m.tool_calls.empty()) {
    j["content"] = nullptr;
  } else {
    j["content"] = m.content;
  }
  if (!m.tool_calls.empty()) {
    json calls = json::array();
    for (const auto& c : m.tool_calls) {
      calls.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
    }
    j["tool_calls"] = std::move(calls);
  }
  if (!m.tool_call_id.empty()) j["tool_call_id"] = m.tool_call_id;
  if (!m.name.empty()) j["name"] = m.name;
  return j;
}

json ToJson(const ToolSpec& spec) {
  return {{"type", "function"},
          {"function", {{"name", spec.name}, {"description", spec.description}, {"parameters", spec.parameters}}}};
}

json ToJson(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens}, {"completion_tokens", u.completion_tokens}, {"total_tokens", u.total()}};
}

json ToJson(const std::vector<Message>& messages) {
  json a = json::array();
  for (const auto& m : messages) a.push_back(ToJson(m));
  return a;
}

json ToJson(const std::vector<ToolSpec>& specs) {
  json a = json::array();
  for (const auto& s : specs) a.push_back(ToJson(s));
  return a;
}

namespace {

Status FieldError(const std::string& what, const std::string& field, const std::string& problem) {
  return InvalidArgument(what + " field \"" + field + "\": " + problem);
}

}  // namespace

Result<Message> MessageFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("message must be a JSON object, got " + std::string(j.type_name()));
  Message m;
  auto role = j.find("role");
  if (role == j.end() || !role->is_string()) return FieldError("message", "role", "is required (a string)");
  m.role = role->get<std::string>();
  if (m.role != "system" && m.role != "user" && m.role != "assistant" && m.role != "tool" && m.role != "developer") {
    return FieldError("message", "role", "must be system, user, assistant or tool, got \"" + m.role + "\"");
  }
  if (auto c = j.find("content"); c != j.end() && !c->is_null()) {
    if (c->is_string()) {
      m.content = c->get<std::string>();
    } else if (c->is_array()) {  // content parts: keep the text ones
      for (const auto& part : *c) {
        if (part.is_object() && part.contains("type") && part["type"] == "text" && part.contains("text") &&
            part["text"].is_string()) {
          m.content += part["text"].get<std::string>();
        }
      }
    } else {
      return FieldError("message", "content", "must be a string, an array of parts or null");
    }
  }
  if (auto calls = j.find("tool_calls"); calls != j.end() && !calls->is_null()) {
    if (!calls->is_array()) return FieldError("message", "tool_calls", "must be an array");
    for (size_t i = 0; i < calls->size(); ++i) {
      const json& c = (*calls)[i];
      const std::string at = "tool_calls[" + std::to_string(i) + "]";
      if (!c.is_object()) return FieldError("message", at, "must be an object");
      ToolCall call;
      if (auto id = c.find("id"); id != c.end() && !id->is_null()) {
        if (!id->is_string()) return FieldError("message", at + ".id", "must be a string");
        call.id = id->get<std::string>();
      }
      auto fn = c.find("function");
      if (fn == c.end() || !fn->is_object()) return FieldError("message", at + ".function", "is required (an object)");
      auto name = fn->find("name");
      if (name == fn->end() || !name->is_string()) return FieldError("message", at + ".function.name", "is required (a string)");
      call.name = name->get<std::string>();
      if (auto args = fn->find("arguments"); args != fn->end()) {
        call.arguments = args->is_string() ? args->get<std::string>() : args->dump();
      } else {
        call.arguments = "{}";
      }
      m.tool_calls.push_back(std::move(call));
    }
  }
  if (auto id = j.find("tool_call_id"); id != j.end() && id->is_string()) m.tool_call_id = id->get<std::string>();
  if (auto n = j.find("name"); n != j.end() && n->is_string()) m.name = n->get<std::string>();
  if (m.role == "tool" && m.tool_call_id.empty()) return FieldError("tool message", "tool_call_id", "is required");
  return m;
}

Result<ToolSpec> ToolSpecFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("tool must be a JSON object");
  const json* fn = &j;
  if (j.contains("function")) {
    if (j.contains("type") && j["type"] != "function") {
      return FieldError("tool", "type", "must be \"function\", got " + j["type"].dump());
    }
    fn = &j["function"];
    if (!fn->is_object()) return FieldError("tool", "function", "must be an object");
  }
  ToolSpec spec;
  auto name = fn->find("name");
  if (name == fn->end() || !name->is_string() || name->get<std::string>().empty()) {
    return FieldError("tool", "function.name", "is required (a non-empty string)");
  }
  spec.name = name->get<std::string>();
  if (auto d = fn->find("description"); d != fn->end() && d->is_string()) spec.description = d->get<std::string>();
  if (auto p = fn->find("parameters"); p != fn->end() && !p->is_null()) {
    if (!p->is_object()) return FieldError("tool", "function.parameters", "must be a JSON Schema object");
    spec.parameters = *p;
  } else {
    spec.parameters = {{"type", "object"}, {"properties", json::object()}};
  }
  return spec;
}

Result<Usage> UsageFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("usage must be a JSON object");
  Usage u;
  if (j.contains("prompt_tokens")) {
    if (!j["prompt_tokens"].is_number_integer()) return FieldError("usage", "prompt_tokens", "must be an integer");
    u.prompt_tokens = j["prompt_tokens"].get<int64_t>();
  }
  if (j.contains("completion_tokens")) {
    if (!j["completion_tokens"].is_number_integer()) return FieldError("usage", "completion_tokens", "must be an integer");
    u.completion_tokens = j["completion_tokens"].get<int64_t>();
  }
  return u;
}

}  // namespace tide::workers
