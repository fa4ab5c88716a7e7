// The chat template of Tide's built-in models: ChatML with Qwen3 / Hermes tool calling
// (DESIGN.md "Agents, tools and messages"), and the parser that maps model output back to
// OpenAI tool calls.
//
// RenderChat renders OpenAI Chat Completions messages the way Qwen3's chat template does:
//
//   <|im_start|>system\n{system content}\n\n# Tools\n\n...<tools>\n{tool json}\n...</tools>
//   ...<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n
//   <|im_start|>user\n{content}<|im_end|>\n
//   <|im_start|>assistant\n{content}\n<tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call><|im_end|>\n
//   <|im_start|>user\n<tool_response>\n{result}\n</tool_response>\n<tool_response>...<|im_end|>\n
//
// The system block (and the tool list in it) appears only when there is a leading system
// message or a non-empty tool list; consecutive tool results share one user turn.
// JSON inside the text (tool definitions, arguments given as objects) is written as
// Python's json.dumps does by default (", " and ": " separators, non-ASCII kept). A tool
// is written {"type": "function", "function": {"name", "description", "parameters", ...}}
// as in Qwen's examples; deeper keys come in nlohmann::json's (sorted) order. Arguments
// given as a string (the OpenAI shape) are written as they are. An assistant message's
// `reasoning_content` is rendered as "<think>\n...\n</think>\n\n" before its content
// when the message comes after the last user query (Qwen3 drops older reasoning;
// reasoning written into the content as "<think>...</think>" is split off the same way);
// unlike Qwen3, no empty think block is added when there is none. Message content may be
// a string, null, or an array of {"type": "text", "text": ...} parts (concatenated).
//
// ParseAssistantOutput is the inverse for one generated assistant turn: the text after
// "</think>" (if any) is the content; every well-formed "<tool_call>{json}</tool_call>"
// block becomes a tool call and leaves the content; a malformed block (no closing tag,
// invalid JSON, no "name") stays in the content verbatim and is reported in `errors`.
// Never throws, for any input bytes. For canonical output the two agree:
// RenderChat of the parsed message reproduces the assistant turn.
//
// Thread safety: free functions without shared state.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"

namespace tide::engine {

struct ChatTemplateOptions {
  bool add_generation_prompt = false;  // end with "<|im_start|>assistant\n"
  bool enable_thinking = true;         // false: the prompt also gets "<think>\n\n</think>\n\n"
};

// `messages`: array of {role: system|user|assistant|tool, content, tool_calls?,
// reasoning_content?}; `tools`: null or an array of {"type": "function", "function":
// {...}} (a bare {name, description, parameters} is wrapped). INVALID_ARGUMENT naming
// the field ("messages[3].tool_calls[0].function.name: ...") on any other shape.
Result<std::string> RenderChat(const nlohmann::json& messages, const nlohmann::json& tools,
                               const ChatTemplateOptions& options = {});

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // a JSON object as text, written as RenderChat writes it
  friend bool operator==(const ParsedToolCall&, const ParsedToolCall&) = default;
};

struct ParsedAssistantOutput {
  std::string content;            // text outside well-formed tool-call blocks
  std::string reasoning_content;  // text of the <think> block, empty if none
  std::vector<ParsedToolCall> tool_calls;
  std::vector<std::string> errors;  // one line per malformed block
};

// `text`: the generated tokens of one assistant turn, decoded (a trailing <|im_end|> or
// <|endoftext|> is dropped). Every string it returns is valid UTF-8 (core/utf8.h ValidUtf8).
ParsedAssistantOutput ParseAssistantOutput(std::string_view text);

// The OpenAI assistant message of a parsed turn: content (null when empty and there are
// tool calls), tool_calls with ids id_prefix + index, reasoning_content when non-empty.
nlohmann::json ToAssistantMessage(const ParsedAssistantOutput& parsed, std::string_view id_prefix = "call_");

// `value` as Python's json.dumps(value, ensure_ascii=False) writes it (what the template
// uses for tools and arguments). Invalid UTF-8 in strings becomes U+FFFD.
std::string TemplateJson(const nlohmann::json& value);

}  // namespace tide::engine
