// Chat messages, tool calls, tool specs and token usage, in the shape of OpenAI Chat
// Completions (DESIGN.md "Agents, tools and messages"). Plain value types; the JSON
// helpers read and write exactly the OpenAI wire shape, so a conversation can be sent to
// any OpenAI-compatible server or written as fine-tuning JSONL unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"

namespace tide::workers {

struct ToolCall {
  std::string id;         // unique within a conversation, e.g. "call_3"
  std::string name;       // the tool's name
  std::string arguments;  // a JSON object as text; may be malformed (the model wrote it)
};

struct Message {
  std::string role;  // "system", "user", "assistant" or "tool"
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant only
  std::string tool_call_id;          // tool only: the call this message answers
  std::string name;                  // optional author name

  static Message System(std::string content);
  static Message User(std::string content);
  static Message Assistant(std::string content, std::vector<ToolCall> calls = {});
  static Message Tool(std::string tool_call_id, std::string content);
};

struct ToolSpec {
  std::string name;
  std::string description;
  nlohmann::json parameters = nlohmann::json::object();  // a JSON Schema object
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t total() const { return prompt_tokens + completion_tokens; }
  Usage& operator+=(const Usage& o) {
    prompt_tokens += o.prompt_tokens;
    completion_tokens += o.completion_tokens;
    return *this;
  }
};

// OpenAI shapes: {"role","content","tool_calls":[{"id","type":"function","function":{"name","arguments"}}],"tool_call_id"}.
nlohmann::json ToJson(const Message& m);
nlohmann::json ToJson(const ToolSpec& spec);  // {"type":"function","function":{name,description,parameters}}
nlohmann::json ToJson(const Usage& u);        // {"prompt_tokens","completion_tokens","total_tokens"}
nlohmann::json ToJson(const std::vector<Message>& messages);
nlohmann::json ToJson(const std::vector<ToolSpec>& specs);

// INVALID_ARGUMENT naming the field when the JSON is not of that shape.
Result<Message> MessageFromJson(const nlohmann::json& j);
Result<ToolSpec> ToolSpecFromJson(const nlohmann::json& j);  // accepts the wrapped and bare forms
Result<Usage> UsageFromJson(const nlohmann::json& j);

}  // namespace tide::workers
