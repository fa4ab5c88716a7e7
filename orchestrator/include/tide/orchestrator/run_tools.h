// RunTools: the tools a run's spec adds beside the world's (SwarmSpec::builtin_tools and
// ::mcp_servers), built once per run and handed out per agent.
//  - MCP servers: Start launches each (initialize, then tools/list) and offers its tools as
//    "<server>__<tool>" with the server's JSON Schemas. Not "<server>.<tool>": OpenAI
//    function names allow only [A-Za-z0-9_-]{1,64}, so a dot would be refused by every
//    OpenAI-compatible backend. One server serves every agent of the run; Stop (and the
//    destructor) stops the servers.
//  - Built-ins: calculator (shared), notes (a NotesStore per agent: agents keep their own
//    notes, as they keep their own contexts), run_command (a SandboxTool per agent: its own
//    scratch directory, kept across that agent's calls, removed at Stop).
//  - With tool_timeout_ms set, MCP requests and sandboxed commands get that limit; every
//    MCP and run_command tool also stops waiting when the run's cancel flag rises.
//
// Failures: Start fails naming the server ("mcp server \"memory\": ...") when one cannot
// be started or listed, and INVALID_ARGUMENT when a tool name would be offered twice. A
// server that dies mid-run does not fail the run: its tools' calls fail with UNAVAILABLE
// naming it ("mcp server \"memory\" exited: ..."), which agents read as error observations.
//
// Thread safety: after Start, Names, ForAgent and Server may be called concurrently.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/orchestrator/swarm_spec.h"
#include "tide/workers/builtin_tools.h"
#include "tide/workers/mcp_client.h"
#include "tide/workers/sandbox_tool.h"
#include "tide/workers/tool.h"

namespace tide::orchestrator {

struct RunToolsOptions {
  workers::McpClientOptions mcp;       // request_timeout is replaced by tool_timeout_ms when set
  workers::SandboxLimits sandbox;      // wall_time is capped by tool_timeout_ms when set
  std::string scratch_parent;          // where run_command scratch directories go ("" = $TMPDIR)
  const std::atomic<bool>* cancelled = nullptr;  // the run's cancel flag; may be null
};

class RunTools {
 public:
  static Result<std::unique_ptr<RunTools>> Start(const SwarmSpec& spec, RunToolsOptions options = {});
  ~RunTools();  // Stop()
  RunTools(const RunTools&) = delete;
  RunTools& operator=(const RunTools&) = delete;

  // Every tool name the run adds, in the order offered: built-ins as listed, then each
  // server's tools.
  const std::vector<std::string>& Names() const { return names_; }
  bool empty() const { return names_.empty(); }

  // The tools of the agent `agent` (the same objects for the same name: its notes and
  // scratch directory persist). INTERNAL when a scratch directory cannot be made.
  Result<std::vector<std::shared_ptr<workers::Tool>>> ForAgent(const std::string& agent);

  // The client of the server `name`, or null.
  std::shared_ptr<workers::McpClient> Server(const std::string& name) const;

  // Stops every MCP server and removes every scratch directory. Idempotent.
  void Stop();

 private:
  RunTools(SwarmSpec spec, RunToolsOptions options) : spec_(std::move(spec)), options_(std::move(options)) {}
  std::shared_ptr<workers::Tool> Bounded(std::shared_ptr<workers::Tool> tool, std::chrono::milliseconds limit) const;

  SwarmSpec spec_;
  RunToolsOptions options_;
  std::vector<std::string> names_;
  std::vector<std::shared_ptr<workers::McpClient>> servers_;
  std::vector<std::shared_ptr<workers::Tool>> shared_;  // calculator, MCP tools (in names_ order)

  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::shared_ptr<workers::Tool>>> per_agent_;
};

}  // namespace tide::orchestrator
