// SwarmSpec: what one swarm run is asked to do (world, task, limits, policy), with the
// validation every entry point shares (CLI flags, JSON config files, gRPC requests), so a
// bad value is rejected with the same message wherever it comes from.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/v1/orchestrator.pb.h"

namespace tide::orchestrator {

inline constexpr int kMaxSubagentsLimit = 100;
inline constexpr int kDefaultCoordinatorSteps = 15;
inline constexpr int kDefaultSubagentSteps = 100;
inline constexpr double kMaxTimeoutS = 7 * 24 * 3600.0;  // a week

// Built-in tools a run may add by name (workers/builtin_tools.h, workers/sandbox_tool.h).
inline const std::vector<std::string>& KnownBuiltinTools() {
  static const std::vector<std::string> names = {"calculator", "notes", "run_command"};
  return names;
}
inline constexpr int kMaxMcpServers = 16;

// An MCP server (stdio) a run starts once, lists the tools of, offers to every agent as
// "<name>__<tool>" and stops at its end.
struct McpServerSpec {
  std::string name;                        // [A-Za-z0-9_-], 1..32 characters, unique in the run
  std::vector<std::string> command;        // argv, e.g. {"npx", "-y", "@modelcontextprotocol/server-memory"}
  std::map<std::string, std::string> env;  // added to the server's environment
  bool operator==(const McpServerSpec&) const = default;
};

struct SwarmSpec {
  std::string world = "research";
  std::string task_family;  // "" = the world's default
  uint64_t seed = 7;
  int items = 20;
  int max_subagents = 8;
  // "oracle" (the env's teacher), "engine" (the model of the `tide serve --model` that runs
  // the swarm) or "openai" (any OpenAI-compatible server: base_url, model, and the API key
  // read from the environment variable api_key_env on the machine that runs the swarm).
  std::string policy = "oracle";
  std::string base_url;
  std::string model;
  std::string api_key_env = "OPENAI_API_KEY";
  int max_coordinator_steps = kDefaultCoordinatorSteps;
  int max_subagent_steps = kDefaultSubagentSteps;
  double timeout_s = 0;  // 0 = no deadline
  // Simulated latency of every world tool call (a web search takes ~100 ms), so that wall
  // time means something in benchmarks; 0 in tests. At most kMaxToolLatencyMs.
  int tool_latency_ms = 0;
  // The coordinator's swarm tools: "spawn" (spawn_subagents) or "create_assign"
  // (create_subagent + assign_task). max_subagents bounds the sub-agents spawned or created.
  std::string swarm_tools = "spawn";
  // Budgets of the whole run, all agents together (0 = unlimited); when one is spent the
  // agents end "budget_exhausted" and the run fails with RESOURCE_EXHAUSTED.
  int64_t max_tokens = 0;
  int max_tool_calls = 0;
  // A world tool call that has not answered after this long is abandoned and the agent
  // reads a timeout error (0 = no limit). At most kMaxToolTimeoutMs.
  int tool_timeout_ms = 0;
  // Tools offered to the coordinator and every sub-agent beside the world's (a sub-agent
  // given an explicit tool list gets only those): built-ins from KnownBuiltinTools() (notes
  // and run_command are per agent: own notes, own scratch directory), and the tools of
  // these MCP servers. tool_timeout_ms, when set, bounds their calls too.
  std::vector<std::string> builtin_tools;
  std::vector<McpServerSpec> mcp_servers;
};
inline constexpr int kMaxToolLatencyMs = 60000;
inline constexpr int kMaxToolTimeoutMs = 3600 * 1000;
inline constexpr int64_t kMaxTokensLimit = int64_t{1} << 40;
inline constexpr int kMaxToolCallsLimit = 1000000;

// INVALID_ARGUMENT naming the field (`max_subagents must be in [1, 100], got 0`), or
// NOT_FOUND for an unknown world. `source` prefixes the message ("request", a file path).
Status ValidateSwarmSpec(const SwarmSpec& spec, const std::string& source = "swarm");

// Reads a swarm config file: a JSON object whose fields are SwarmSpec's names. Fields not
// in the file keep the values of `defaults`; unknown fields are errors naming the file.
// {"builtin_tools": ["calculator"], "mcp_servers": [{"name": "memory", "command": [...],
// "env": {...}}]}.
Result<SwarmSpec> LoadSwarmConfig(const std::string& path, const SwarmSpec& defaults = {});

// Proto conversion; zeros in the request mean "default".
SwarmSpec SpecFromProto(const tide::v1::SwarmRequest& request);
tide::v1::SwarmRequest SpecToProto(const SwarmSpec& spec);

}  // namespace tide::orchestrator
