#include "tide/engine/chat_template.h"

#include "tide/core/utf8.h"
#include "tide/engine/tokenizer.h"

namespace tide::engine {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr std::string_view kToolsPreamble =
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
constexpr std::string_view kToolsPostamble =
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}\n</tool_call>";
// Tool-call JSON nested deeper than this is refused before parsing.
constexpr int kMaxToolCallDepth = 256;

template <typename J>
void DumpPython(const J& v, std::string* out) {
  if (v.is_object()) {
    out->push_back('{');
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!first) out->append(", ");
      first = false;
      out->append(J(it.key()).dump(-1, ' ', false, J::error_handler_t::replace));
      out->append(": ");
      DumpPython(it.value(), out);
    }
    out->push_back('}');
  } else if (v.is_array()) {
    out->push_back('[');
    for (size_t i = 0; i < v.size(); ++i) {
      if (i > 0) out->append(", ");
      DumpPython(v[i], out);
    }
    out->push_back(']');
  } else {
    out->append(v.dump(-1, ' ', false, J::error_handler_t::replace));
  }
}

std::string_view StripNewlines(std::string_view s, bool left, bool right) {
  while (left && !s.empty() && s.front() == '\n') s.remove_prefix(1);
  while (right && !s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

std::string_view TrimSpace(std::string_view s, bool left, bool right) {
  while (left && !s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (right && !s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// A message's content as text: a string, null, or an array of text parts.
Result<std::string> ContentText(const json& message, const std::string& field) {
  auto it = message.find("content");
  if (it == message.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) return InvalidArgument(field + ".content: must be a string, null or an array of parts");
  std::string text;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& part = (*it)[i];
    const std::string where = field + ".content[" + std::to_string(i) + "]";
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string()) {
      return InvalidArgument(where + ": only {\"type\": \"text\", \"text\": ...} parts are supported");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

Result<std::string> RenderToolCall(const json& call, const std::string& field) {
  if (!call.is_object()) return InvalidArgument(field + ": must be an object");
  const json* fn = &call;
  std::string fn_field = field;
  if (auto it = call.find("function"); it != call.end()) {
    if (!it->is_object()) return InvalidArgument(field + ".function: must be an object");
    fn = &*it;
    fn_field += ".function";
  }
  auto name = fn->find("name");
  if (name == fn->end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return InvalidArgument(fn_field + ".name: missing, empty or not a string");
  }
  std::string args = "{}";
  if (auto a = fn->find("arguments"); a != fn->end() && !a->is_null()) {
    args = a->is_string() ? a->get<std::string>() : TemplateJson(*a);
  }
  return std::string(kToolCallStart) + "\n{\"name\": " + TemplateJson(*name) + ", \"arguments\": " + args + "}\n" +
         std::string(kToolCallEnd);
}

// A tool definition as Qwen's template prints it: {"type": "function", "function": {"name",
// "description", "parameters", then any other keys}}; deeper keys in sorted order.
std::string RenderTool(const json& wrapper, const json& fn) {
  std::string out = "{\"type\": \"function\", \"function\": {";
  bool first = true;
  auto add = [&](const std::string& key, const json& value) {
    if (!first) out += ", ";
    first = false;
    out += TemplateJson(key) + ": " + TemplateJson(value);
  };
  for (const char* key : {"name", "description", "parameters"}) {
    if (auto it = fn.find(key); it != fn.end()) add(key, *it);
  }
  for (auto it = fn.begin(); it != fn.end(); ++it) {
    if (it.key() != "name" && it.key() != "description" && it.key() != "parameters") add(it.key(), it.value());
  }
  out += "}";
  if (&wrapper != &fn) {
    for (auto it = wrapper.begin(); it != wrapper.end(); ++it) {
      if (it.key() != "type" && it.key() != "function")
        out += ", " + TemplateJson(it.key()) + ": " + TemplateJson(it.value());
    }
  }
  return out + "}";
}

Result<std::string> RenderTools(const json& tools) {
  std::string out;
  if (tools.is_null()) return out;
  if (!tools.is_array()) return InvalidArgument("tools: must be an array or null");
  for (size_t i = 0; i < tools.size(); ++i) {
    const json& t = tools[i];
    const std::string field = "tools[" + std::to_string(i) + "]";
    if (!t.is_object()) return InvalidArgument(field + ": must be an object");
    const bool wrapped = t.contains("function");
    const json& fn = wrapped ? t["function"] : t;
    if (!fn.is_object() || !fn.contains("name") || !fn["name"].is_string()) {
      return InvalidArgument(field + (wrapped ? ".function" : "") + ".name: missing or not a string");
    }
    if (wrapped && t.contains("type") && t["type"] != "function") {
      return InvalidArgument(field + ".type: only \"function\" tools are supported");
    }
    out += "\n";
    out += RenderTool(t, fn);
  }
  return out;
}

bool IsToolResponseText(std::string_view s) {
  return s.starts_with(kToolResponseStart) && s.ends_with(kToolResponseEnd);
}

// Deepest nesting of [ and { outside strings (the JSON parser is not asked to go deeper).
int NestingDepth(std::string_view s) {
  int depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

Result<ParsedToolCall> ParseToolCallBody(std::string_view body) {
  body = TrimSpace(body, true, true);
  if (NestingDepth(body) > kMaxToolCallDepth) return InvalidArgument("JSON nested too deeply");
  ordered_json j;
  try {
    j = ordered_json::parse(body);
  } catch (const ordered_json::exception& e) {
    return InvalidArgument(std::string("invalid JSON: ") + e.what());
  }
  if (!j.is_object()) return InvalidArgument("not a JSON object");
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return InvalidArgument("\"name\" missing, empty or not a string");
  }
  ParsedToolCall call{name->get<std::string>(), "{}"};
  if (auto a = j.find("arguments"); a != j.end() && !a->is_null()) {
    if (a->is_object()) {
      call.arguments.clear();
      DumpPython(*a, &call.arguments);
    } else if (a->is_string()) {
      call.arguments = a->get<std::string>();
    } else {
      return InvalidArgument("\"arguments\" is neither an object nor a string");
    }
  }
  return call;
}

}  // namespace

std::string TemplateJson(const json& value) {
  std::string out;
  DumpPython(value, &out);
  return out;
}

Result<std::string> RenderChat(const json& messages, const json& tools, const ChatTemplateOptions& options) {
  if (!messages.is_array()) return InvalidArgument("messages: must be an array");
  const size_t n = messages.size();
  std::vector<std::string> roles(n);
  std::vector<std::string> contents(n);
  size_t last_query = n == 0 ? 0 : n - 1;
  for (size_t i = 0; i < n; ++i) {
    const std::string field = "messages[" + std::to_string(i) + "]";
    const json& m = messages[i];
    if (!m.is_object()) return InvalidArgument(field + ": must be an object");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return InvalidArgument(field + ".role: missing or not a string");
    roles[i] = role->get<std::string>();
    if (roles[i] == "developer") roles[i] = "system";
    if (roles[i] != "system" && roles[i] != "user" && roles[i] != "assistant" && roles[i] != "tool") {
      return InvalidArgument(field + ".role: \"" + roles[i] + "\" is not system, user, assistant or tool");
    }
    TIDE_ASSIGN_OR_RETURN(contents[i], ContentText(m, field));
  }
  for (size_t i = n; i-- > 0;) {
    if (roles[i] == "user" && !IsToolResponseText(contents[i])) {
      last_query = i;
      break;
    }
  }

  std::string out;
  TIDE_ASSIGN_OR_RETURN(std::string tool_list, RenderTools(tools));
  const bool leading_system = n > 0 && roles[0] == "system";
  if (!tool_list.empty()) {
    out += std::string(kImStart) + "system\n";
    if (leading_system) out += contents[0] + "\n\n";
    out += kToolsPreamble;
    out += tool_list;
    out += kToolsPostamble;
    out += std::string(kImEnd) + "\n";
  } else if (leading_system) {
    out += std::string(kImStart) + "system\n" + contents[0] + std::string(kImEnd) + "\n";
  }

  for (size_t i = leading_system ? 1 : 0; i < n; ++i) {
    const std::string field = "messages[" + std::to_string(i) + "]";
    const json& m = messages[i];
    const std::string& role = roles[i];
    if (role == "user" || role == "system") {
      out += std::string(kImStart) + role + "\n" + contents[i] + std::string(kImEnd) + "\n";
    } else if (role == "assistant") {
      std::string content = contents[i];
      std::string reasoning;
      if (auto r = m.find("reasoning_content"); r != m.end() && !r->is_null()) {
        if (!r->is_string()) return InvalidArgument(field + ".reasoning_content: must be a string");
        reasoning = r->get<std::string>();
      } else if (const size_t end = content.find(kThinkEnd); end != std::string::npos) {
        std::string_view before = StripNewlines(std::string_view(content).substr(0, end), false, true);
        if (const size_t start = before.rfind(kThinkStart); start != std::string_view::npos) {
          before.remove_prefix(start + kThinkStart.size());
        }
        reasoning = std::string(StripNewlines(before, true, false));
        content = std::string(StripNewlines(std::string_view(content).substr(end + kThinkEnd.size()), true, false));
      }
      out += std::string(kImStart) + "assistant\n";
      if (i > last_query && !reasoning.empty()) {
        out += std::string(kThinkStart) + "\n" + std::string(StripNewlines(reasoning, true, true)) + "\n" +
               std::string(kThinkEnd) + "\n\n" + std::string(StripNewlines(content, true, false));
      } else {
        out += content;
      }
      if (auto calls = m.find("tool_calls"); calls != m.end() && !calls->is_null()) {
        if (!calls->is_array()) return InvalidArgument(field + ".tool_calls: must be an array");
        for (size_t k = 0; k < calls->size(); ++k) {
          TIDE_ASSIGN_OR_RETURN(std::string call,
                                RenderToolCall((*calls)[k], field + ".tool_calls[" + std::to_string(k) + "]"));
          if (k > 0 || !content.empty()) out += "\n";
          out += call;
        }
      }
      out += std::string(kImEnd) + "\n";
    } else {  // tool
      if (i == 0 || roles[i - 1] != "tool") out += std::string(kImStart) + "user";
      out += "\n" + std::string(kToolResponseStart) + "\n" + contents[i] + "\n" + std::string(kToolResponseEnd);
      if (i + 1 == n || roles[i + 1] != "tool") out += std::string(kImEnd) + "\n";
    }
  }
  if (options.add_generation_prompt) {
    out += std::string(kImStart) + "assistant\n";
    if (!options.enable_thinking) out += std::string(kThinkStart) + "\n\n" + std::string(kThinkEnd) + "\n\n";
  }
  return out;
}

ParsedAssistantOutput ParseAssistantOutput(std::string_view raw) {
  // A byte-level model can write bytes that are not UTF-8; what comes out becomes messages
  // that are stored and serialised as JSON, which requires UTF-8.
  const std::string valid = ValidUtf8(raw);
  std::string_view text = valid;
  ParsedAssistantOutput result;
  if (text.ends_with(kImEnd)) text.remove_suffix(kImEnd.size());
  if (text.ends_with(kEndOfText)) text.remove_suffix(kEndOfText.size());

  std::string_view body = text;
  if (const size_t end = text.find(kThinkEnd); end != std::string_view::npos) {
    std::string_view before = StripNewlines(text.substr(0, end), false, true);
    if (const size_t start = before.rfind(kThinkStart); start != std::string_view::npos) {
      before.remove_prefix(start + kThinkStart.size());
    }
    result.reasoning_content = std::string(StripNewlines(before, true, false));
    body = StripNewlines(text.substr(end + kThinkEnd.size()), true, false);
  }

  // Text between well-formed blocks; whitespace next to a block is the template's
  // separator, not content.
  std::vector<std::string> segments(1);
  std::vector<bool> trim_left(1, false);
  size_t pos = 0;
  int index = 0;
  while (true) {
    const size_t open = body.find(kToolCallStart, pos);
    if (open == std::string_view::npos) {
      segments.back() += body.substr(pos);
      break;
    }
    const size_t inner = open + kToolCallStart.size();
    const size_t close = body.find(kToolCallEnd, inner);
    const size_t next_open = body.find(kToolCallStart, inner);
    const std::string where = "tool call " + std::to_string(index++) + " (byte " + std::to_string(open) + "): ";
    if (close == std::string_view::npos || (next_open != std::string_view::npos && next_open < close)) {
      result.errors.push_back(where + "no " + std::string(kToolCallEnd));
      const size_t stop = next_open == std::string_view::npos ? body.size() : next_open;
      segments.back() += body.substr(pos, stop - pos);
      pos = stop;
      continue;
    }
    const size_t after = close + kToolCallEnd.size();
    Result<ParsedToolCall> call = ParseToolCallBody(body.substr(inner, close - inner));
    if (!call.ok()) {
      result.errors.push_back(where + call.status().message());
      segments.back() += body.substr(pos, after - pos);
    } else {
      segments.back() += body.substr(pos, open - pos);
      result.tool_calls.push_back(std::move(call).value());
      segments.emplace_back();
      trim_left.push_back(true);
    }
    pos = after;
  }
  if (result.tool_calls.empty()) {
    result.content = std::move(segments[0]);
    return result;
  }
  for (size_t s = 0; s < segments.size(); ++s) {
    const bool block_after = s + 1 < segments.size();
    std::string_view piece = TrimSpace(segments[s], trim_left[s], block_after);
    if (piece.empty()) continue;
    if (!result.content.empty()) result.content += "\n";
    result.content += piece;
  }
  return result;
}

json ToAssistantMessage(const ParsedAssistantOutput& parsed, std::string_view id_prefix) {
  json m{{"role", "assistant"}};
  m["content"] = parsed.content.empty() && !parsed.tool_calls.empty() ? json(nullptr) : json(parsed.content);
  if (!parsed.reasoning_content.empty()) m["reasoning_content"] = parsed.reasoning_content;
  if (!parsed.tool_calls.empty()) {
    json calls = json::array();
    for (size_t i = 0; i < parsed.tool_calls.size(); ++i) {
      calls.push_back(
          {{"id", std::string(id_prefix) + std::to_string(i)},
           {"type", "function"},
           {"function", {{"name", parsed.tool_calls[i].name}, {"arguments", parsed.tool_calls[i].arguments}}}});
    }
    m["tool_calls"] = std::move(calls);
  }
  return m;
}

}  // namespace tide::engine
