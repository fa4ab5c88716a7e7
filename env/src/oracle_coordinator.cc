// The oracle's coordinator role (see oracle.h): split, start researchers (spawn_subagents,
// or create_subagent + assign_task), merge, answer.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tide/env/answer_table.h"
#include "tide/env/cell_values.h"
#include "tide/env/oracle.h"
#include "tide/env/oracle_context.h"
#include "tide/env/research_tools.h"
#include "tide/workers/swarm_protocol.h"

namespace tide::env {

const char kOracleResearcherGuidance[] =
    "Search for each entity by its exact name, open the result whose title is exactly that name, and read "
    "the values from that profile; ignore look-alike names and news items.";

namespace {

constexpr int kDefaultMaxSubagents = 100;

const workers::ToolSpec* FindSpec(const workers::PolicyRequest& request, const char* name) {
  if (request.tools == nullptr) return nullptr;
  for (const workers::ToolSpec& spec : *request.tools) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

bool IsObjectSchema(const nlohmann::json& s) {
  return s.is_object() && (s.value("type", nlohmann::json()) == "object" || s.contains("properties"));
}

// maxItems of the first array-of-objects schema inside `schema` (the sub-task list); 0 if none.
int64_t MaxSubtasks(const nlohmann::json& schema) {
  if (schema.is_object()) {
    auto items = schema.find("items");
    auto max = schema.find("maxItems");
    if (items != schema.end() && IsObjectSchema(*items) && max != schema.end() && max->is_number_integer()) {
      return max->get<int64_t>();
    }
  }
  if (schema.is_object() || schema.is_array()) {
    for (const nlohmann::json& child : schema) {
      int64_t found = MaxSubtasks(child);
      if (found > 0) return found;
    }
  }
  return 0;
}

// The tool names the schema lets a sub-task name (an enum under a "tools" property), or empty.
std::vector<std::string> OfferedSubagentTools(const nlohmann::json& schema) {
  if (schema.is_object()) {
    auto props = schema.find("properties");
    if (props != schema.end() && props->is_object()) {
      auto tools = props->find("tools");
      if (tools != props->end() && tools->is_object()) {
        auto items = tools->find("items");
        if (items != tools->end() && items->is_object()) {
          auto e = items->find("enum");
          if (e != items->end() && e->is_array()) {
            std::vector<std::string> names;
            for (const nlohmann::json& n : *e) {
              if (n.is_string()) names.push_back(n.get<std::string>());
            }
            return names;
          }
        }
      }
    }
  }
  if (schema.is_object() || schema.is_array()) {
    for (const nlohmann::json& child : schema) {
      std::vector<std::string> found = OfferedSubagentTools(child);
      if (!found.empty()) return found;
    }
  }
  return {};
}

// Researcher tools: search and open, kept to those the schema offers when it lists them.
std::vector<std::string> ResearcherTools(const nlohmann::json& schema) {
  std::vector<std::string> wanted = {kSearchToolName, kOpenToolName};
  std::vector<std::string> offered = OfferedSubagentTools(schema);
  if (offered.empty()) return wanted;
  std::vector<std::string> out;
  for (const std::string& w : wanted) {
    if (std::find(offered.begin(), offered.end(), w) != offered.end()) out.push_back(w);
  }
  return out;
}

int Filled(const nlohmann::json& row, const std::vector<std::string>& columns) {
  int n = 0;
  for (const std::string& c : columns) {
    const nlohmann::json* v = FindField(row, c);
    n += v != nullptr && !v->is_null() ? 1 : 0;
  }
  return n;
}

// Rows of all reports so far, keyed by the task's spelling of each entity; for an entity
// reported twice, the row with more filled cells (the earlier on a tie).
std::map<std::string, nlohmann::json> MergeReports(const WideTaskSpec& task, const std::vector<PastCall>& spawns,
                                                   int* subagents_so_far) {
  std::map<std::string, std::string> by_key;  // normalised -> task spelling
  for (const std::string& e : task.entities) by_key.emplace(NormalizeText(e), e);
  std::map<std::string, nlohmann::json> rows;
  *subagents_so_far = 0;
  for (const PastCall& spawn : spawns) {
    for (const nlohmann::json& field : spawn.arguments) {  // the sub-task list, whatever its key
      if (field.is_array()) *subagents_so_far += static_cast<int>(field.size());
    }
    if (!spawn.answered) continue;
    Result<std::vector<workers::SubagentReport>> reports = workers::ParseSubagentReports(spawn.observation);
    if (!reports.ok()) continue;
    for (const workers::SubagentReport& report : *reports) {
      Result<nlohmann::json> table = ExtractJsonTable(report.result, kEntityKey);
      if (!table.ok()) continue;
      for (const nlohmann::json& row : *table) {
        const nlohmann::json* key = FindField(row, kEntityKey);
        if (key == nullptr || !key->is_string()) continue;
        auto known = by_key.find(NormalizeText(key->get<std::string>()));
        if (known == by_key.end()) continue;
        nlohmann::json cells = nlohmann::json::object();
        for (const std::string& c : task.columns) {
          const nlohmann::json* v = FindField(row, c);
          cells[c] = v != nullptr ? *v : nlohmann::json();
        }
        auto have = rows.find(known->second);
        if (have == rows.end() || Filled(cells, task.columns) > Filled(have->second, task.columns)) {
          rows[known->second] = std::move(cells);
        }
      }
    }
  }
  return rows;
}

// Contiguous, balanced groups: sizes differ by at most one, larger groups first.
std::vector<std::vector<std::string>> SplitGroups(const std::vector<std::string>& entities, size_t groups) {
  std::vector<std::vector<std::string>> out;
  size_t at = 0;
  for (size_t g = 0; g < groups; ++g) {
    size_t size = entities.size() / groups + (g < entities.size() % groups ? 1 : 0);
    out.emplace_back(entities.begin() + static_cast<std::ptrdiff_t>(at),
                     entities.begin() + static_cast<std::ptrdiff_t>(at + size));
    at += size;
  }
  return out;
}

workers::Message SpawnFor(const std::vector<std::string>& entities, const WideTaskSpec& task,
                          const workers::ToolSpec& spawn, int first_index, int turn) {
  int64_t max = MaxSubtasks(spawn.parameters);
  if (max <= 0) max = kDefaultMaxSubagents;
  size_t groups = std::min(static_cast<size_t>(max), entities.size());
  std::vector<std::string> tools = ResearcherTools(spawn.parameters);
  std::vector<workers::SubagentTask> tasks;
  for (const std::vector<std::string>& group : SplitGroups(entities, groups)) {
    workers::SubagentTask t;
    t.name = "researcher-" + std::to_string(first_index + static_cast<int>(tasks.size()));
    t.instructions = FormatWideSubtask(group, task.columns);
    t.tools = tools;
    tasks.push_back(std::move(t));
  }
  workers::ToolCall call{"call_" + std::to_string(turn) + "_1", workers::kSpawnSubagentsTool,
                         workers::SpawnArguments(tasks).dump()};
  return workers::Message::Assistant("", {call});
}

std::vector<std::string> MissingEntities(const WideTaskSpec& task, const std::map<std::string, nlohmann::json>& rows) {
  std::vector<std::string> missing;
  for (const std::string& e : task.entities) {
    auto it = rows.find(e);
    if (it == rows.end() || Filled(it->second, task.columns) == 0) missing.push_back(e);
  }
  return missing;
}

workers::ToolCall AssignCall(int turn, size_t k, const std::string& agent, const std::vector<std::string>& entities,
                             const WideTaskSpec& task) {
  return {"call_" + std::to_string(turn) + "_" + std::to_string(k), workers::kAssignTaskTool,
          workers::AssignArguments({agent, FormatWideSubtask(entities, task.columns)}).dump()};
}

// create_subagent + assign_task: the first turn creates one researcher per group and, in
// the same turn (calls run in order), assigns each its group; a later turn assigns the
// entities still missing to the researchers created (each task is a fresh context), once.
Result<workers::Message> CreateAssignTurn(const WideTaskSpec& task, const std::vector<workers::Message>& messages,
                                          const workers::ToolSpec& create, int turn) {
  std::vector<PastCall> creates, assigns;
  for (PastCall& c : PastCalls(messages)) {
    if (c.call.name == workers::kCreateSubagentTool) creates.push_back(c);
    if (c.call.name == workers::kAssignTaskTool) assigns.push_back(std::move(c));
  }
  std::vector<workers::ToolCall> calls;
  if (creates.empty()) {
    int limit = workers::SubagentLimit(create);
    if (limit <= 0) limit = kDefaultMaxSubagents;
    const std::vector<std::vector<std::string>> groups =
        SplitGroups(task.entities, std::min(static_cast<size_t>(limit), task.entities.size()));
    const std::vector<std::string> tools = ResearcherTools(create.parameters);
    for (size_t g = 0; g < groups.size(); ++g) {
      const std::string name = "researcher-" + std::to_string(g + 1);
      workers::SubagentDefinition d{name,
                                    "You are " + name + ", a research sub-agent. " + kOracleResearcherGuidance +
                                        " Answer with the table alone; it is all the coordinator will see.",
                                    tools};
      calls.push_back({"call_" + std::to_string(turn) + "_" + std::to_string(calls.size() + 1),
                       workers::kCreateSubagentTool, workers::CreateArguments(d).dump()});
    }
    for (size_t g = 0; g < groups.size(); ++g) {
      calls.push_back(AssignCall(turn, calls.size() + 1, "researcher-" + std::to_string(g + 1), groups[g], task));
    }
    return workers::Message::Assistant("", std::move(calls));
  }

  int ignored = 0;
  const std::map<std::string, nlohmann::json> rows = MergeReports(task, assigns, &ignored);
  const std::vector<std::string> missing = MissingEntities(task, rows);
  int assign_turns = 0;
  for (const workers::Message& m : messages) {
    bool any = false;
    for (const workers::ToolCall& c : m.tool_calls) any = any || c.name == workers::kAssignTaskTool;
    assign_turns += m.role == "assistant" && any ? 1 : 0;
  }
  std::vector<std::string> created;  // the researchers create_subagent accepted
  for (const PastCall& c : creates) {
    nlohmann::json obs = nlohmann::json::parse(c.observation, nullptr, /*allow_exceptions=*/false);
    if (c.answered && obs.is_object() && obs.contains("created") && obs["created"].is_string()) {
      created.push_back(obs["created"].get<std::string>());
    }
  }
  if (!missing.empty() && !created.empty() && assign_turns < kOracleSpawnRounds) {
    const std::vector<std::vector<std::string>> groups = SplitGroups(missing, std::min(created.size(), missing.size()));
    for (size_t g = 0; g < groups.size(); ++g) calls.push_back(AssignCall(turn, g + 1, created[g], groups[g], task));
    return workers::Message::Assistant("", std::move(calls));
  }
  return workers::Message::Assistant(FormatAnswerTable(task, rows));
}

}  // namespace

Result<workers::Message> OracleCoordinatorTurn(const workers::PolicyRequest& request) {
  if (request.messages == nullptr) return InvalidArgument("oracle: the request has no messages");
  const std::vector<workers::Message>& messages = *request.messages;
  Result<WideTaskSpec> task = FindWideTask(messages);
  if (!task.ok()) {
    return workers::Message::Assistant("I could not read a wide task in the request (" + task.status().message() +
                                       "), so I have no table to report.");
  }
  const workers::ToolSpec* spawn = FindSpec(request, workers::kSpawnSubagentsTool);
  const int turn = AssistantTurns(messages) + 1;
  if (spawn == nullptr) {
    const workers::ToolSpec* create = FindSpec(request, workers::kCreateSubagentTool);
    if (create == nullptr || FindSpec(request, workers::kAssignTaskTool) == nullptr) {
      return InvalidArgument("oracle coordinator: neither spawn_subagents nor create_subagent + assign_task is offered");
    }
    return CreateAssignTurn(*task, messages, *create, turn);
  }
  std::vector<PastCall> spawns;
  for (PastCall& c : PastCalls(messages)) {
    if (c.call.name == workers::kSpawnSubagentsTool) spawns.push_back(std::move(c));
  }
  if (spawns.empty()) return SpawnFor(task->entities, *task, *spawn, 1, turn);

  int spawned = 0;
  std::map<std::string, nlohmann::json> rows = MergeReports(*task, spawns, &spawned);
  std::vector<std::string> missing;
  for (const std::string& e : task->entities) {
    auto it = rows.find(e);
    if (it == rows.end() || Filled(it->second, task->columns) == 0) missing.push_back(e);
  }
  if (!missing.empty() && static_cast<int>(spawns.size()) < kOracleSpawnRounds) {
    return SpawnFor(missing, *task, *spawn, spawned + 1, turn);
  }
  return workers::Message::Assistant(FormatAnswerTable(*task, rows));
}

}  // namespace tide::env
