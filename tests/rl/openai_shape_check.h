// A checker of the OpenAI fine-tuning chat shape, written from OpenAI's documented format
// (https://platform.openai.com/docs/guides/fine-tuning, "chat" with tools), plus Tide's
// fields. Shared by the rl tests and the `tide gen` end-to-end test. Returns every problem
// found, naming where ("messages[3].tool_calls[0].function.arguments: ..."); empty = valid.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tide::rl::testing {

inline std::vector<std::string> CheckOpenAiExample(const nlohmann::json& ex) {
  using nlohmann::json;
  std::vector<std::string> problems;
  auto bad = [&](const std::string& where, const std::string& what) { problems.push_back(where + ": " + what); };
  if (!ex.is_object()) return {"the example is not a JSON object"};

  std::set<std::string> tool_names;
  if (!ex.contains("tools") || !ex["tools"].is_array()) {
    bad("tools", "missing or not an array");
  } else {
    for (size_t i = 0; i < ex["tools"].size(); ++i) {
      const json& t = ex["tools"][i];
      const std::string at = "tools[" + std::to_string(i) + "]";
      if (!t.is_object() || t.value("type", "") != "function") {
        bad(at, "type must be \"function\"");
        continue;
      }
      const json fn = t.value("function", json());
      if (!fn.is_object() || !fn.contains("name") || !fn["name"].is_string() || fn["name"].get<std::string>().empty()) {
        bad(at + ".function.name", "missing");
        continue;
      }
      if (!fn.contains("parameters") || !fn["parameters"].is_object() || fn["parameters"].value("type", "") != "object") {
        bad(at + ".function.parameters", "must be a JSON Schema object with type \"object\"");
      }
      if (fn.contains("description") && !fn["description"].is_string()) bad(at + ".function.description", "not a string");
      if (!tool_names.insert(fn["name"].get<std::string>()).second) bad(at, "duplicate tool name");
    }
  }

  if (!ex.contains("messages") || !ex["messages"].is_array() || ex["messages"].empty()) {
    bad("messages", "missing, not an array or empty");
    return problems;
  }
  const json& ms = ex["messages"];
  std::set<std::string> open_calls, all_calls;
  bool has_assistant = false;
  for (size_t i = 0; i < ms.size(); ++i) {
    const json& m = ms[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) {
      bad(at, "not an object");
      continue;
    }
    const std::string role = m.value("role", "");
    if (role != "system" && role != "user" && role != "assistant" && role != "tool") {
      bad(at + ".role", "must be system, user, assistant or tool, got \"" + role + "\"");
      continue;
    }
    if (i == 0 && role != "system" && role != "user") bad(at, "the first message must be system or user");
    const bool has_content = m.contains("content") && m["content"].is_string();
    if (m.contains("content") && !m["content"].is_string() && !m["content"].is_null()) bad(at + ".content", "not a string");
    if (role == "assistant") {
      has_assistant = true;
      const bool has_calls = m.contains("tool_calls") && m["tool_calls"].is_array() && !m["tool_calls"].empty();
      if (!has_content && !has_calls) bad(at, "an assistant message needs content or tool_calls");
      if (has_calls) {
        if (!open_calls.empty()) bad(at, "a new assistant turn before every earlier tool call was answered");
        for (size_t k = 0; k < m["tool_calls"].size(); ++k) {
          const json& c = m["tool_calls"][k];
          const std::string cat = at + ".tool_calls[" + std::to_string(k) + "]";
          if (!c.is_object() || !c.contains("id") || !c["id"].is_string() || c["id"].get<std::string>().empty()) {
            bad(cat + ".id", "missing");
            continue;
          }
          if (c.value("type", "") != "function") bad(cat + ".type", "must be \"function\"");
          const json fn = c.value("function", json());
          if (!fn.is_object() || !fn.contains("name") || !fn["name"].is_string()) {
            bad(cat + ".function.name", "missing");
            continue;
          }
          if (!tool_names.count(fn["name"].get<std::string>())) {
            bad(cat + ".function.name", "\"" + fn["name"].get<std::string>() + "\" is not in tools");
          }
          if (!fn.contains("arguments") || !fn["arguments"].is_string()) {
            bad(cat + ".function.arguments", "must be a string");
          } else {
            const json args = json::parse(fn["arguments"].get<std::string>(), nullptr, false);
            if (!args.is_object()) bad(cat + ".function.arguments", "must be a JSON object serialized as a string");
          }
          const std::string id = c["id"].get<std::string>();
          if (!all_calls.insert(id).second) bad(cat + ".id", "\"" + id + "\" is used twice");
          open_calls.insert(id);
        }
      }
    } else if (role == "tool") {
      if (!has_content) bad(at + ".content", "a tool message needs string content");
      const std::string id = m.value("tool_call_id", "");
      if (id.empty()) {
        bad(at + ".tool_call_id", "missing");
      } else if (!open_calls.erase(id)) {
        bad(at + ".tool_call_id", "\"" + id + "\" answers no open call");
      }
    } else {
      if (!has_content) bad(at + ".content", "a " + role + " message needs string content");
      if (m.contains("tool_calls")) bad(at + ".tool_calls", "only assistant messages call tools");
    }
  }
  if (!open_calls.empty()) bad("messages", std::to_string(open_calls.size()) + " tool call(s) never answered");
  if (!has_assistant) bad("messages", "no assistant message to learn from");
  if (ms.back().value("role", "") != "assistant") bad("messages", "the last message must be the assistant's");

  // Tide's fields.
  for (const char* key : {"run_id", "agent", "role_in_swarm", "task_family"}) {
    if (!ex.contains(key) || !ex[key].is_string() || ex[key].get<std::string>().empty()) {
      bad(key, "missing or not a non-empty string");
    }
  }
  if (!ex.contains("reward") || !ex["reward"].is_number()) bad("reward", "missing or not a number");
  const std::string role = ex.value("role_in_swarm", "");
  if (role != "coordinator" && role != "subagent") bad("role_in_swarm", "must be coordinator or subagent, got \"" + role + "\"");
  return problems;
}

}  // namespace tide::rl::testing
