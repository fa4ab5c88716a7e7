// Helpers shared by the oracle's question and compute turns (oracle_families.h); private
// to env/src. Pure inline functions.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/env/oracle.h"
#include "tide/env/oracle_context.h"
#include "tide/env/scalar_answer.h"
#include "tide/workers/policy.h"
#include "tide/workers/swarm_protocol.h"

namespace tide::env::family_util {

inline bool Offers(const workers::PolicyRequest& request, const std::string& tool) {
  if (request.tools == nullptr) return false;
  for (const workers::ToolSpec& spec : *request.tools) {
    if (spec.name == tool) return true;
  }
  return false;
}

inline std::string StringArg(const nlohmann::json& args, const char* name) {
  auto it = args.find(name);
  return it != args.end() && it->is_string() ? it->get<std::string>() : "";
}

inline workers::ToolCall NewCall(int turn, int k, const std::string& tool, const nlohmann::json& args) {
  return {"call_" + std::to_string(turn) + "_" + std::to_string(k), tool, args.dump()};
}

// The first user message's content ("" when none).
inline std::string FirstUserText(const std::vector<workers::Message>& messages) {
  for (const workers::Message& m : messages) {
    if (m.role == "user") return m.content;
  }
  return "";
}

// The first "maxItems" integer in a schema (the sub-task cap of spawn_subagents), or 0.
inline int64_t FirstMaxItems(const nlohmann::json& schema) {
  if (schema.is_object()) {
    auto m = schema.find("maxItems");
    if (m != schema.end() && m->is_number_integer()) return m->get<int64_t>();
  }
  if (schema.is_object() || schema.is_array()) {
    for (const nlohmann::json& child : schema) {
      int64_t found = FirstMaxItems(child);
      if (found > 0) return found;
    }
  }
  return 0;
}

inline int64_t SpawnCap(const workers::PolicyRequest& request) {
  if (request.tools != nullptr) {
    for (const workers::ToolSpec& spec : *request.tools) {
      if (spec.name == workers::kSpawnSubagentsTool) {
        int64_t cap = FirstMaxItems(spec.parameters);
        if (cap > 0) return cap;
      }
    }
  }
  return 8;
}

// The reports of every answered spawn_subagents call, in order, and how many calls there were.
inline std::vector<workers::SubagentReport> SpawnReports(const std::vector<PastCall>& calls, int* spawn_calls) {
  std::vector<workers::SubagentReport> out;
  *spawn_calls = 0;
  for (const PastCall& c : calls) {
    if (c.call.name != workers::kSpawnSubagentsTool) continue;
    ++*spawn_calls;
    if (!c.answered) continue;
    Result<std::vector<workers::SubagentReport>> reports = workers::ParseSubagentReports(c.observation);
    if (reports.ok()) out.insert(out.end(), reports->begin(), reports->end());
  }
  return out;
}

// The coordinator's turn for a task it hands whole to one sub-agent: spawn it (once more
// when no report carried a value), then answer with the value its report gives.
inline workers::Message DelegateWholeTask(const std::string& task_text, const workers::PolicyRequest& request) {
  const std::vector<workers::Message>& messages = *request.messages;
  int spawns = 0;
  std::vector<workers::SubagentReport> reports = SpawnReports(PastCalls(messages), &spawns);
  for (const workers::SubagentReport& r : reports) {
    Result<nlohmann::json> v = ExtractAnswerValue(r.result);
    if (r.status == "finished" && v.ok() && !v->is_null()) return workers::Message::Assistant(FormatScalarAnswer(*v));
  }
  if (spawns >= kOracleSpawnRounds) return workers::Message::Assistant(FormatScalarAnswer(nullptr));
  const int turn = AssistantTurns(messages) + 1;
  std::vector<workers::SubagentTask> tasks = {{"worker-" + std::to_string(turn) + "-1", task_text, {}}};
  return workers::Message::Assistant("", {NewCall(turn, 1, workers::kSpawnSubagentsTool, workers::SpawnArguments(tasks))});
}

}  // namespace tide::env::family_util
