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

namespace tide::workers {
namespace {

Status CheckTools(const std::string& who, const json& list, const std::vector<std::string>& available,
                  std::vector<std::string>* out) {
  if (!list.is_array()) return InvalidArgument(who + ": tools must be an array of tool names");
  for (const auto& tool : list) {
    if (!tool.is_string()) return InvalidArgument(who + ": tool names must be strings");
    const std::string name = tool.get<std::string>();
    if (std::find(available.begin(), available.end(), name) == available.end()) {
      std::string known;
      for (const auto& a : available) known += (known.empty() ? "" : ", ") + a;
      return InvalidArgument(who + ": unknown tool \"" + name + "\" (available: " + known + ")");
    }
    out->push_back(name);
  }
  return Status::Ok();
}

std::string NonEmptyString(const json& args, const char* key, Status* error, const std::string& tool) {
  if (error->ok()) {
    auto it = args.is_object() ? args.find(key) : args.end();
    if (!args.is_object() || it == args.end() || !it->is_string() || it->get<std::string>().empty()) {
      *error = InvalidArgument(tool + " needs a non-empty string \"" + key + "\"");
      return "";
    }
    return it->get<std::string>();
  }
  return "";
}

constexpr char kLimitPhrase[] = "at most ";

}  // namespace

ToolSpec CreateSubagentSpec(int max_subagents, const std::vector<std::string>& available_tools) {
  json tool_names = {{"type", "string"}};
  if (!available_tools.empty()) tool_names["enum"] = available_tools;
  ToolSpec spec;
  spec.name = kCreateSubagentTool;
  spec.description =
      "Create a named sub-agent: its system prompt and the tools it may use. It does nothing until you give it "
      "work with assign_task. This run may create " + std::string(kLimitPhrase) + std::to_string(max_subagents) +
      " sub-agents.";
  spec.parameters = {
      {"type", "object"},
      {"properties",
       {{"name", {{"type", "string"}, {"minLength", 1}, {"description", "unique name, e.g. researcher-1"}}},
        {"system_prompt", {{"type", "string"}, {"minLength", 1}, {"description", "who the sub-agent is and how it works"}}},
        {"tools", {{"type", "array"}, {"items", tool_names}, {"description", "tools it may call; all when left out"}}}}},
      {"required", {"name", "system_prompt"}}};
  return spec;
}

int SubagentLimit(const ToolSpec& spec) {
  const size_t at = spec.description.find(kLimitPhrase);
  if (at == std::string::npos) return 0;
  int n = 0;
  for (size_t i = at + sizeof(kLimitPhrase) - 1; i < spec.description.size(); ++i) {
    const char c = spec.description[i];
    if (c < '0' || c > '9' || n > 100000) break;
    n = n * 10 + (c - '0');
  }
  return n;
}

Result<SubagentDefinition> ParseCreateArguments(const json& arguments, const std::vector<std::string>& available_tools) {
  Status error;
  SubagentDefinition d;
  d.name = NonEmptyString(arguments, "name", &error, kCreateSubagentTool);
  d.system_prompt = NonEmptyString(arguments, "system_prompt", &error, kCreateSubagentTool);
  TIDE_RETURN_IF_ERROR(error);
  if (arguments.contains("tools")) {
    TIDE_RETURN_IF_ERROR(CheckTools("sub-agent " + d.name, arguments["tools"], available_tools, &d.tools));
  }
  return d;
}

json CreateArguments(const SubagentDefinition& d) {
  json j = {{"name", d.name}, {"system_prompt", d.system_prompt}};
  if (!d.tools.empty()) j["tools"] = d.tools;
  return j;
}

ToolSpec AssignTaskSpec() {
  ToolSpec spec;
  spec.name = kAssignTaskTool;
  spec.description =
      "Give a task to a sub-agent made with create_subagent. Each task starts a fresh context from the agent's system "
      "prompt, so state the objective and the output format; several assign_task calls in one turn run in parallel. "
      "Returns the sub-agent's final result only.";
  spec.parameters = {{"type", "object"},
                     {"properties",
                      {{"agent", {{"type", "string"}, {"minLength", 1}, {"description", "a name given to create_subagent"}}},
                       {"task", {{"type", "string"}, {"minLength", 1}}}}},
                     {"required", {"agent", "task"}}};
  return spec;
}

Result<TaskAssignment> ParseAssignArguments(const json& arguments) {
  Status error;
  TaskAssignment a;
  a.agent = NonEmptyString(arguments, "agent", &error, kAssignTaskTool);
  a.task = NonEmptyString(arguments, "task", &error, kAssignTaskTool);
  TIDE_RETURN_IF_ERROR(error);
  return a;
}

json AssignArguments(const TaskAssignment& a) { return {{"agent", a.agent}, {"task", a.task}}; }

}  // namespace tide::workers
