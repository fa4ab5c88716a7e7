#include "tide/env/oracle_context.h"

#include <unordered_map>

namespace tide::env {

Result<WideTaskSpec> FindWideTask(const std::vector<workers::Message>& messages) {
  Status first = InvalidArgument("no user message holds a task");
  bool any = false;
  for (const workers::Message& m : messages) {
    if (m.role != "user") continue;
    Result<WideTaskSpec> spec = ParseWideTask(m.content);
    if (spec.ok()) return spec;
    if (!any) first = spec.status();
    any = true;
  }
  return first;
}

std::vector<PastCall> PastCalls(const std::vector<workers::Message>& messages) {
  std::vector<PastCall> calls;
  std::unordered_map<std::string, size_t> by_id;
  for (const workers::Message& m : messages) {
    if (m.role == "assistant") {
      for (const workers::ToolCall& c : m.tool_calls) {
        PastCall p;
        p.call = c;
        p.arguments = nlohmann::json::parse(c.arguments, nullptr, /*allow_exceptions=*/false);
        if (!p.arguments.is_object()) p.arguments = nlohmann::json::object();
        by_id[c.id] = calls.size();
        calls.push_back(std::move(p));
      }
    } else if (m.role == "tool") {
      auto it = by_id.find(m.tool_call_id);
      if (it != by_id.end() && !calls[it->second].answered) {
        calls[it->second].answered = true;
        calls[it->second].observation = m.content;
      }
    }
  }
  return calls;
}

int AssistantTurns(const std::vector<workers::Message>& messages) {
  int n = 0;
  for (const workers::Message& m : messages) n += m.role == "assistant" ? 1 : 0;
  return n;
}

std::string FormatAnswerTable(const WideTaskSpec& task, const std::map<std::string, nlohmann::json>& rows) {
  nlohmann::json table = nlohmann::json::array();
  for (const std::string& entity : task.entities) {
    nlohmann::json row = {{kEntityKey, entity}};
    auto it = rows.find(entity);
    for (const std::string& column : task.columns) {
      nlohmann::json value;
      if (it != rows.end() && it->second.is_object()) {
        auto v = it->second.find(column);
        if (v != it->second.end()) value = *v;
      }
      row[column] = value;
    }
    table.push_back(std::move(row));
  }
  return "```json\n" + table.dump(1) + "\n```";
}

}  // namespace tide::env
