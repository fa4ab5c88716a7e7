// The contract of the coordinator's swarm tool, shared by whoever calls it (a policy) and
// whoever runs it (the orchestrator): the tool's name and JSON Schema, the sub-task a
// coordinator hands out, and the report each sub-agent sends back. Only a sub-agent's
// report enters the coordinator's context; its own context never does.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/workers/message.h"

namespace tide::workers {

inline constexpr char kSpawnSubagentsTool[] = "spawn_subagents";

struct SubagentTask {
  std::string name;                // unique within the run, e.g. "researcher-1"
  std::string instructions;        // the sub-agent's task; it sees nothing else of the coordinator
  std::vector<std::string> tools;  // subset of the tools offered; empty means all of them
};

struct SubagentReport {
  std::string name;
  std::string status;  // "finished", "step_limit", "cancelled" or "failed"
  std::string result;  // the sub-agent's final answer (or the error)
  int steps = 0;
  int tool_calls = 0;
};

// The spec of spawn_subagents: at most `max_subagents` sub-tasks per call, each naming
// tools from `available_tools`.
ToolSpec SpawnSubagentsSpec(int max_subagents, const std::vector<std::string>& available_tools);

// Parses validated spawn_subagents arguments; INVALID_ARGUMENT for duplicate names or
// unknown tools.
Result<std::vector<SubagentTask>> ParseSpawnArguments(const nlohmann::json& arguments,
                                                      const std::vector<std::string>& available_tools);
nlohmann::json SpawnArguments(const std::vector<SubagentTask>& tasks);

// The observation the coordinator reads: {"results":[{name,status,result,steps,tool_calls}]}.
std::string FormatSubagentReports(const std::vector<SubagentReport>& reports);
Result<std::vector<SubagentReport>> ParseSubagentReports(const std::string& observation);

}  // namespace tide::workers
