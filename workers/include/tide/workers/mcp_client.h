// McpClient: a Model Context Protocol client over the stdio transport, so agents can use
// the tools of any MCP server (https://modelcontextprotocol.io). The server is a child
// process (Subprocess); messages are JSON-RPC 2.0, one JSON object per line on its stdin
// and stdout; its stderr is its log (the last 8 KB are kept; errors quote its end).
//
// Protocol:
//  - Start spawns the server, sends `initialize` (protocolVersion "2025-06-18", no client
//    capabilities, clientInfo "tide"), accepts a server answering 2025-06-18, 2025-03-26 or
//    2024-11-05 (anything else: FAILED_PRECONDITION, as the spec asks the client to
//    disconnect), keeps serverInfo/capabilities/instructions, then sends
//    `notifications/initialized`.
//  - ListTools follows `nextCursor` until the last page. CallTool sends `tools/call` and
//    joins the result's text blocks with "\n" (other blocks become "[image: image/png]",
//    "[resource: URI]", ...; no blocks but `structuredContent`: its JSON). A result with
//    `isError: true` is returned as McpCallResult::is_error, not as a failed Status.
//  - Requests get integer ids 1, 2, ...; responses are matched by id, so several calls can
//    be in flight at once. Server notifications are counted and otherwise ignored
//    (`notifications/tools/list_changed` sets tools_changed()). Server→client requests:
//    `ping` is answered with {}, anything else (sampling, roots, elicitation: capabilities
//    this client does not declare) with JSON-RPC error -32601.
//  - Every request has a timeout (DEADLINE_EXCEEDED; the server is sent
//    `notifications/cancelled` for it and stays usable).
//
// Failures never crash or hang the caller: a JSON-RPC error answer is INVALID_ARGUMENT
// (-32602 invalid params, -32601 unknown method) or INTERNAL, naming the server, method,
// code and message; a line that is not JSON-RPC fails every request then in flight with
// INTERNAL quoting the line (the connection stays open); a server that exits or closes
// stdout fails every pending and later request with UNAVAILABLE naming its exit status
// and the tail of its stderr. A dead server is not restarted: start a new client.
//
// Thread safety: every method may be called from any thread. A reader thread owns the
// server's stdout and stderr; writes to its stdin are serialized by a mutex; concurrent
// requests wait on their own ids, so a slow call does not hold up the others.
//
// Tools: McpTool adapts one MCP tool to Tide's Tool interface (its inputSchema is the
// spec's parameters, so ToolRegistry validates arguments before the server sees them);
// RegisterMcpTools adds all of a server's tools to a registry, named
// "<server>__<tool>" by default: OpenAI-compatible backends accept only [A-Za-z0-9_-] in
// function names, so a dot separator would be rejected there.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/workers/subprocess.h"
#include "tide/workers/tool.h"
#include "tide/workers/tool_registry.h"

namespace tide::workers {

struct McpServerConfig {
  std::string name;                        // e.g. "memory": errors and tool-name prefixes
  std::vector<std::string> command;        // argv, e.g. {"npx", "-y", "@mcp/server-memory"}
  std::map<std::string, std::string> env;  // added to this process's environment
  std::string working_dir;                 // empty: inherit
};

struct McpClientOptions {
  std::chrono::milliseconds initialize_timeout{30000};
  std::chrono::milliseconds request_timeout{30000};  // per request, unless overridden
  std::chrono::milliseconds shutdown_grace{2000};    // per stage of Close
  std::string protocol_version = "2025-06-18";
  size_t max_line_bytes = 16u << 20;  // a longer line fails the connection
};

struct McpServerInfo {
  std::string name;
  std::string version;
  std::string protocol_version;  // the one the server chose
  std::string instructions;
  nlohmann::json capabilities = nlohmann::json::object();
};

struct McpToolInfo {
  std::string name;
  std::string title;
  std::string description;
  nlohmann::json input_schema = nlohmann::json::object();
  nlohmann::json annotations;  // null when absent
};

struct McpCallResult {
  std::string text;  // the content blocks as text, joined with "\n"
  bool is_error = false;
  nlohmann::json structured_content;  // null when absent
  nlohmann::json raw;                 // the whole `result` object
};

class McpClient {
 public:
  // Spawns the server and runs the initialize handshake. Errors name the server.
  static Result<std::shared_ptr<McpClient>> Start(McpServerConfig config, McpClientOptions options = {});
  ~McpClient();  // Close()

  McpClient(const McpClient&) = delete;
  McpClient& operator=(const McpClient&) = delete;

  const std::string& name() const { return config_.name; }
  const McpServerInfo& server_info() const { return info_; }
  pid_t pid() const { return process_->pid(); }

  // All pages of `tools/list`. FAILED_PRECONDITION if the server has no tools capability.
  Result<std::vector<McpToolInfo>> ListTools();
  // `tools/call`; `timeout` overrides options.request_timeout.
  Result<McpCallResult> CallTool(const std::string& tool, const nlohmann::json& arguments,
                                 std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Any request; returns the response's `result`.
  Result<nlohmann::json> Request(const std::string& method, nlohmann::json params,
                                 std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  Status Notify(const std::string& method, nlohmann::json params);

  // Closes the server's stdin, waits shutdown_grace for it to exit, then SIGTERM, then
  // SIGKILL; joins the reader thread. Idempotent; later requests fail with UNAVAILABLE.
  void Close();

  bool alive() const;                        // running and not closed
  int64_t notifications_received() const { return notifications_.load(); }
  bool tools_changed() const { return tools_changed_.load(); }
  std::string stderr_tail() const;           // the last 8 KB the server logged

 private:
  McpClient(McpServerConfig config, McpClientOptions options, std::unique_ptr<Subprocess> process);
  Status Initialize();
  Status Send(const nlohmann::json& message, std::chrono::steady_clock::time_point deadline);
  void ReaderLoop();
  void HandleLine(std::string_view line);
  void HandleMessage(const nlohmann::json& message);
  void FailPending(const Status& status);  // every request now in flight
  void MarkDead(Status status);            // every request now and later
  std::string Describe() const;            // "MCP server \"memory\""

  McpServerConfig config_;
  McpClientOptions options_;
  McpServerInfo info_;
  std::unique_ptr<Subprocess> process_;
  int wake_fds_[2] = {-1, -1};  // the reader thread polls wake_fds_[0] to stop
  std::thread reader_;

  std::timed_mutex write_mu_;  // one writer on the server's stdin at a time
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t next_id_ = 1;
  std::map<int64_t, std::optional<Result<nlohmann::json>>> pending_;  // id -> answer
  bool dead_ = false;
  Status dead_status_;
  std::string stderr_tail_;
  bool closing_ = false;

  std::atomic<int64_t> notifications_{0};
  std::atomic<bool> tools_changed_{false};
};

// One MCP tool as a Tide Tool. Call returns the joined text; a result with isError (and
// any request failure) is a failed Status whose message is the server's text, which the
// ToolRegistry turns into an error observation.
class McpTool : public Tool {
 public:
  McpTool(std::shared_ptr<McpClient> client, McpToolInfo info, std::string registered_name);
  const ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const nlohmann::json& arguments) override;
  const McpToolInfo& info() const { return info_; }

 private:
  std::shared_ptr<McpClient> client_;
  McpToolInfo info_;
  ToolSpec spec_;
};

struct McpToolNaming {
  bool prefix_with_server = true;  // "<server><separator><tool>", else the bare tool name
  std::string separator = "__";
  std::vector<std::string> only;   // MCP tool names to register; empty: all
};

// Lists the server's tools and adds each to `registry` (characters outside
// [A-Za-z0-9_-] in the name become '_'). Returns the registered names; ALREADY_EXISTS if
// a name is taken (tools added before the clash stay registered).
Result<std::vector<std::string>> RegisterMcpTools(const std::shared_ptr<McpClient>& client, ToolRegistry& registry,
                                                  const McpToolNaming& naming = {});

}  // namespace tide::workers
