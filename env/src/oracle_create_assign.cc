// The oracle's coordinators for api and the single-value families under create_subagent +
// assign_task (oracle_families.h, CreateAssignViaSpawn): those coordinators are written
// against spawn_subagents, and the two styles carry the same sub-tasks and reports, so the
// request is rewritten into the spawn style, the coordinator turn runs on it, and its
// spawn call is written back as creates and assigns.
#include <algorithm>
#include <map>
#include <set>

#include "tide/env/oracle_families.h"
#include "tide/env/oracle_context.h"
#include "tide/workers/swarm_protocol.h"

namespace tide::env {
namespace {

using nlohmann::json;

constexpr int kDefaultLimit = 8;
constexpr char kRetrySuffix[] = "-retry";

const workers::ToolSpec* FindSpec(const std::vector<workers::ToolSpec>& tools, const std::string& name) {
  for (const workers::ToolSpec& s : tools) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool IsSwarmTool(const std::string& name) {
  return name == workers::kSpawnSubagentsTool || name == workers::kCreateSubagentTool || name == workers::kAssignTaskTool;
}

// The request as a spawn_subagents coordinator would have seen it: every assistant turn's
// assigns become one spawn call whose sub-task names are the agents' (with "-retry" for an
// agent assigned again), answered by one tool message holding all their reports; creates
// and their answers are dropped.
struct SpawnView {
  std::vector<workers::Message> messages;
  std::vector<workers::ToolSpec> tools;
  std::set<std::string> created;  // agents create_subagent accepted
  std::vector<std::string> available;  // the tools a sub-task may name
};

// The tools a created agent may be given: the enum of create_subagent's "tools" items, or
// else the coordinator's own tools but the swarm's.
std::vector<std::string> SubagentTools(const std::vector<workers::ToolSpec>& tools, const workers::ToolSpec& create) {
  std::vector<std::string> names;
  const json e = create.parameters.value("properties", json::object()).value("tools", json::object()).value("items", json::object()).value("enum", json());
  if (e.is_array()) {
    for (const json& n : e) {
      if (n.is_string()) names.push_back(n.get<std::string>());
    }
    return names;
  }
  for (const workers::ToolSpec& t : tools) {
    if (!IsSwarmTool(t.name)) names.push_back(t.name);
  }
  return names;
}

SpawnView Rewrite(const std::vector<workers::Message>& messages, const std::vector<workers::ToolSpec>& tools,
                  const workers::ToolSpec& create) {
  SpawnView v;
  for (const workers::ToolSpec& t : tools) {
    if (!IsSwarmTool(t.name)) v.tools.push_back(t);
  }
  v.available = SubagentTools(tools, create);
  const int limit = workers::SubagentLimit(create);
  v.tools.push_back(workers::SpawnSubagentsSpec(limit > 0 ? limit : kDefaultLimit, v.available));

  std::map<std::string, std::string> answers;  // call id -> observation
  for (const workers::Message& m : messages) {
    if (m.role == "tool") answers[m.tool_call_id] = m.content;
  }
  std::set<std::string> dropped, assigned;
  for (const workers::Message& m : messages) {
    if (m.role == "tool") {
      if (!dropped.count(m.tool_call_id)) v.messages.push_back(m);
      continue;
    }
    if (m.role != "assistant" || m.tool_calls.empty()) {
      v.messages.push_back(m);
      continue;
    }
    workers::Message out = workers::Message::Assistant(m.content);
    std::vector<workers::SubagentTask> tasks;
    std::vector<workers::SubagentReport> reports;
    bool all_answered = true;
    std::string spawn_id;
    for (const workers::ToolCall& c : m.tool_calls) {
      const json args = json::parse(c.arguments, nullptr, /*allow_exceptions=*/false);
      if (c.name == workers::kCreateSubagentTool) {
        dropped.insert(c.id);
        const json obs = json::parse(answers.count(c.id) ? answers[c.id] : "", nullptr, false);
        if (obs.is_object() && obs.value("created", json()).is_string()) v.created.insert(obs["created"].get<std::string>());
        continue;
      }
      if (c.name != workers::kAssignTaskTool) {
        out.tool_calls.push_back(c);
        continue;
      }
      dropped.insert(c.id);
      if (spawn_id.empty()) spawn_id = c.id + "-spawn";
      Result<workers::TaskAssignment> a = workers::ParseAssignArguments(args.is_object() ? args : json::object());
      if (!a.ok()) continue;
      const std::string name = assigned.count(a->agent) ? a->agent + kRetrySuffix : a->agent;
      tasks.push_back({name, a->task, {}});
      if (!answers.count(c.id)) {
        all_answered = false;
        continue;
      }
      Result<std::vector<workers::SubagentReport>> got = workers::ParseSubagentReports(answers[c.id]);
      if (!got.ok() || got->empty()) {
        reports.push_back({name, "failed", answers[c.id], 0, 0});
        continue;
      }
      for (workers::SubagentReport r : *got) {
        r.name = name;
        reports.push_back(std::move(r));
      }
    }
    for (const workers::SubagentTask& t : tasks) assigned.insert(t.name.substr(0, t.name.find(kRetrySuffix)));
    if (!tasks.empty()) {
      out.tool_calls.insert(out.tool_calls.begin(), {spawn_id, workers::kSpawnSubagentsTool, workers::SpawnArguments(tasks).dump()});
    }
    v.messages.push_back(std::move(out));
    if (!tasks.empty() && all_answered) {
      v.messages.push_back(workers::Message::Tool(spawn_id, workers::FormatSubagentReports(reports)));
    }
  }
  return v;
}

// The spawn-style reply written back: each sub-task's agent (the name before "-retry") is
// created once, with the sub-task's tools, then assigned the sub-task.
Result<workers::Message> WriteBack(const workers::Message& reply, const SpawnView& view, int turn) {
  workers::Message out = workers::Message::Assistant(reply.content);
  std::set<std::string> created = view.created;
  auto next_id = [&] { return "call_" + std::to_string(turn) + "_" + std::to_string(out.tool_calls.size() + 1); };
  for (const workers::ToolCall& c : reply.tool_calls) {
    if (c.name != workers::kSpawnSubagentsTool) {
      out.tool_calls.push_back({next_id(), c.name, c.arguments});
      continue;
    }
    const json args = json::parse(c.arguments, nullptr, /*allow_exceptions=*/false);
    Result<std::vector<workers::SubagentTask>> tasks = workers::ParseSpawnArguments(args, view.available);
    if (!tasks.ok()) return Internal("oracle: its own spawn call does not parse: " + tasks.status().message());
    std::vector<workers::ToolCall> assigns;
    for (const workers::SubagentTask& t : *tasks) {
      const std::string agent = t.name.substr(0, t.name.find(kRetrySuffix));
      if (created.insert(agent).second) {
        workers::SubagentDefinition d{agent,
                                      "You are " + agent + ", a sub-agent of a coordinator. Do the task you are "
                                      "assigned with your tools; your final answer is all the coordinator sees.",
                                      t.tools};
        out.tool_calls.push_back({next_id(), workers::kCreateSubagentTool, workers::CreateArguments(d).dump()});
      }
      assigns.push_back({"", workers::kAssignTaskTool, workers::AssignArguments({agent, t.instructions}).dump()});
    }
    // Creates first: the calls of a turn run in order, so every agent exists when its task arrives.
    for (workers::ToolCall& a : assigns) {
      a.id = next_id();
      out.tool_calls.push_back(std::move(a));
    }
  }
  return out;
}

}  // namespace

std::optional<Result<workers::Message>> CreateAssignViaSpawn(const workers::PolicyRequest& request,
                                                             const SpawnTurn& spawn_turn) {
  if (request.messages == nullptr || request.tools == nullptr) return std::nullopt;
  const workers::ToolSpec* create = FindSpec(*request.tools, workers::kCreateSubagentTool);
  if (FindSpec(*request.tools, workers::kSpawnSubagentsTool) != nullptr || create == nullptr ||
      FindSpec(*request.tools, workers::kAssignTaskTool) == nullptr) {
    return std::nullopt;
  }
  const SpawnView view = Rewrite(*request.messages, *request.tools, *create);
  workers::PolicyRequest rewritten = request;
  rewritten.messages = &view.messages;
  rewritten.tools = &view.tools;
  std::optional<Result<workers::Message>> reply = spawn_turn(rewritten);
  if (!reply || !reply->ok()) return reply;
  return std::optional<Result<workers::Message>>(WriteBack(**reply, view, AssistantTurns(*request.messages) + 1));
}

}  // namespace tide::env
