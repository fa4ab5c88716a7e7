// The contract of the coordinator's swarm tools, shared by whoever calls them (a policy)
// and whoever runs them (the orchestrator): the tools' names and JSON Schemas, the
// sub-tasks a coordinator hands out, and the report each sub-agent sends back. Only a
// sub-agent's report enters the coordinator's context; its own context never does.
//
// Two styles: spawn_subagents (a list of sub-tasks, all run at once, results together),
// and the Kimi K2.5 pair create_subagent (a named agent: system prompt and tools) +
// assign_task (one task to a created agent; each assignment starts a fresh context from
// the agent's system prompt, as Kimi CLI's Task tool does, so assignments are independent
// and several in one turn run in parallel). Both answer with {"results":[report...]}.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/workers/message.h"

namespace tide::workers {

inline constexpr char kSpawnSubagentsTool[] = "spawn_subagents";
inline constexpr char kCreateSubagentTool[] = "create_subagent";
inline constexpr char kAssignTaskTool[] = "assign_task";
// A sub-agent's final answer shorter than this is sent back once for its full result
// (Kimi CLI's threshold); see AgentOptions::min_result_chars.
inline constexpr int kMinSubagentResultChars = 200;

struct SubagentTask {
  std::string name;                // unique within the run, e.g. "researcher-1"
  std::string instructions;        // the sub-agent's task; it sees nothing else of the coordinator
  std::vector<std::string> tools;  // subset of the tools offered; empty means all of them
};

struct SubagentReport {
  std::string name;
  std::string status;  // "finished", "step_limit", "cancelled", "failed" or "budget_exhausted"
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

// create_subagent: {name, system_prompt, tools}. The description states the run's limit
// ("at most N sub-agents"), which SubagentLimit reads back (0 when absent).
struct SubagentDefinition {
  std::string name;
  std::string system_prompt;
  std::vector<std::string> tools;  // subset of the tools offered; empty means all of them
};
ToolSpec CreateSubagentSpec(int max_subagents, const std::vector<std::string>& available_tools);
int SubagentLimit(const ToolSpec& create_subagent_spec);
// INVALID_ARGUMENT for a missing or empty field or an unknown tool.
Result<SubagentDefinition> ParseCreateArguments(const nlohmann::json& arguments,
                                                const std::vector<std::string>& available_tools);
nlohmann::json CreateArguments(const SubagentDefinition& definition);

// assign_task: {agent, task}.
struct TaskAssignment {
  std::string agent;
  std::string task;
};
ToolSpec AssignTaskSpec();
Result<TaskAssignment> ParseAssignArguments(const nlohmann::json& arguments);
nlohmann::json AssignArguments(const TaskAssignment& assignment);

// The observation the coordinator reads: {"results":[{name,status,result,steps,tool_calls}]}.
std::string FormatSubagentReports(const std::vector<SubagentReport>& reports);
Result<std::vector<SubagentReport>> ParseSubagentReports(const std::string& observation);

}  // namespace tide::workers
