#include "tide/workers/swarm_protocol.h"

#include <algorithm>
#include <set>

namespace tide::workers {

using nlohmann::json;

ToolSpec SpawnSubagentsSpec(int max_subagents, const std::vector<std::string>& available_tools) {
  json tool_names = {{"type", "string"}};
  if (!available_tools.empty()) tool_names["enum"] = available_tools;
  ToolSpec spec;
  spec.name = kSpawnSubagentsTool;
  spec.description =
      "Start sub-agents that work in parallel, each in its own context, and wait for all of them. "
      "Each sub-agent sees only its instructions, so state the objective, the output format and "
      "the tools to use. Returns each sub-agent's final result. At most " +
      std::to_string(max_subagents) + " sub-agents per call.";
  spec.parameters = {
      {"type", "object"},
      {"properties",
       {{"subagents",
         {{"type", "array"},
          {"minItems", 1},
          {"maxItems", max_subagents},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"name", {{"type", "string"}, {"minLength", 1}, {"description", "unique name, e.g. researcher-1"}}},
              {"instructions", {{"type", "string"}, {"minLength", 1}}},
              {"tools", {{"type", "array"}, {"items", tool_names}}}}},
            {"required", {"name", "instructions"}}}}}}}},
      {"required", {"subagents"}}};
  return spec;
}

Result<std::vector<SubagentTask>> ParseSpawnArguments(const json& arguments,
                                                      const std::vector<std::string>& available_tools) {
  if (!arguments.is_object() || !arguments.contains("subagents") || !arguments["subagents"].is_array()) {
    return InvalidArgument("spawn_subagents needs {\"subagents\": [...]}");
  }
  std::vector<SubagentTask> tasks;
  std::set<std::string> names;
  for (const auto& item : arguments["subagents"]) {
    if (!item.is_object() || !item.contains("name") || !item["name"].is_string() ||
        !item.contains("instructions") || !item["instructions"].is_string()) {
      return InvalidArgument("each sub-agent needs a string name and instructions");
    }
    SubagentTask t;
    t.name = item["name"].get<std::string>();
    t.instructions = item["instructions"].get<std::string>();
    if (t.name.empty()) return InvalidArgument("a sub-agent name is empty");
    if (!names.insert(t.name).second) return InvalidArgument("sub-agent name \"" + t.name + "\" is used twice");
    if (item.contains("tools") && item["tools"].is_array()) {
      for (const auto& tool : item["tools"]) {
        if (!tool.is_string()) return InvalidArgument("sub-agent " + t.name + ": tool names must be strings");
        const std::string name = tool.get<std::string>();
        if (std::find(available_tools.begin(), available_tools.end(), name) == available_tools.end()) {
          return InvalidArgument("sub-agent " + t.name + ": unknown tool \"" + name + "\"");
        }
        t.tools.push_back(name);
      }
    }
    tasks.push_back(std::move(t));
  }
  return tasks;
}

json SpawnArguments(const std::vector<SubagentTask>& tasks) {
  json list = json::array();
  for (const auto& t : tasks) {
    json item = {{"name", t.name}, {"instructions", t.instructions}};
    if (!t.tools.empty()) item["tools"] = t.tools;
    list.push_back(std::move(item));
  }
  return {{"subagents", std::move(list)}};
}

std::string FormatSubagentReports(const std::vector<SubagentReport>& reports) {
  json results = json::array();
  for (const auto& r : reports) {
    results.push_back({{"name", r.name},
                       {"status", r.status},
                       {"result", r.result},
                       {"steps", r.steps},
                       {"tool_calls", r.tool_calls}});
  }
  return json{{"results", std::move(results)}}.dump();
}

Result<std::vector<SubagentReport>> ParseSubagentReports(const std::string& observation) {
  json j;
  try {
    j = json::parse(observation);
  } catch (const json::parse_error& e) {
    return InvalidArgument(std::string("sub-agent reports are not JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("results") || !j["results"].is_array()) {
    return InvalidArgument("sub-agent reports need {\"results\": [...]}");
  }
  std::vector<SubagentReport> out;
  for (const auto& r : j["results"]) {
    if (!r.is_object()) return InvalidArgument("a sub-agent report is not an object");
    for (const char* key : {"name", "status", "result"}) {
      if (r.contains(key) && !r[key].is_string()) {
        return InvalidArgument(std::string("sub-agent report field \"") + key + "\" must be a string");
      }
    }
    for (const char* key : {"steps", "tool_calls"}) {
      if (r.contains(key) && !r[key].is_number_integer()) {
        return InvalidArgument(std::string("sub-agent report field \"") + key + "\" must be an integer");
      }
    }
    SubagentReport rep;
    rep.name = r.value("name", "");
    rep.status = r.value("status", "");
    rep.result = r.value("result", "");
    rep.steps = r.value("steps", 0);
    rep.tool_calls = r.value("tool_calls", 0);
    out.push_back(std::move(rep));
  }
  return out;
}

}  // namespace tide::workers
