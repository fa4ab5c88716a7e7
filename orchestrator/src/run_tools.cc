#include "tide/orchestrator/run_tools.h"

#include <algorithm>
#include <set>

#include "tide/workers/tool_timeout.h"

namespace tide::orchestrator {
namespace {

using nlohmann::json;

// How long a bounded tool may overrun its own limit before the caller stops waiting: the
// tool ends its call itself (a request deadline, a killed process); this only backs it up.
constexpr std::chrono::milliseconds kGrace{5000};

std::string SafeName(std::string name) {
  for (char& c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return name;
}

// An MCP tool whose failures say which server failed and, once the server is gone, that it
// exited: the agent should stop calling it, not retry.
class ServerTool : public workers::Tool {
 public:
  ServerTool(std::shared_ptr<workers::McpClient> client, workers::McpToolInfo info, std::string name)
      : client_(client), inner_(std::make_shared<workers::McpTool>(client, std::move(info), std::move(name))) {}
  const workers::ToolSpec& spec() const override { return inner_->spec(); }
  Result<std::string> Call(const json& arguments) override {
    Result<std::string> out = inner_->Call(arguments);
    if (out.ok() || client_->alive()) return out;
    return Unavailable("mcp server \"" + client_->name() + "\" exited; its tools cannot be called in this run (" +
                       out.status().message() + ")");
  }

 private:
  std::shared_ptr<workers::McpClient> client_;
  std::shared_ptr<workers::McpTool> inner_;
};

}  // namespace

Result<std::unique_ptr<RunTools>> RunTools::Start(const SwarmSpec& spec, RunToolsOptions options) {
  if (spec.tool_timeout_ms > 0) {
    const std::chrono::milliseconds limit(spec.tool_timeout_ms);
    options.mcp.request_timeout = limit;
    options.sandbox.wall_time = std::min(options.sandbox.wall_time, limit);
  }
  std::unique_ptr<RunTools> tools(new RunTools(spec, options));
  std::set<std::string> taken;
  for (const std::string& name : spec.builtin_tools) {
    if (!taken.insert(name).second) return InvalidArgument("the built-in tool \"" + name + "\" is listed twice");
    tools->names_.push_back(name);
  }
  for (const McpServerSpec& server : spec.mcp_servers) {
    const std::string what = "mcp server \"" + server.name + "\"";
    workers::McpServerConfig config;
    config.name = server.name;
    config.command = server.command;
    config.env = server.env;
    Result<std::shared_ptr<workers::McpClient>> client = workers::McpClient::Start(config, tools->options_.mcp);
    if (!client.ok()) return client.status().WithContext(what + " did not start");
    tools->servers_.push_back(*client);
    Result<std::vector<workers::McpToolInfo>> listed = (*client)->ListTools();
    if (!listed.ok()) return listed.status().WithContext(what + ": tools/list failed");
    for (workers::McpToolInfo& info : *listed) {
      const std::string name = SafeName(server.name + "__" + info.name);
      if (!taken.insert(name).second) {
        return InvalidArgument(what + ": its tool \"" + info.name + "\" would be offered as \"" + name +
                               "\", a name another tool of the run has");
      }
      tools->names_.push_back(name);
      tools->shared_.push_back(
          tools->Bounded(std::make_shared<ServerTool>(*client, std::move(info), name), tools->options_.mcp.request_timeout));
    }
  }
  return tools;
}

RunTools::~RunTools() { Stop(); }

std::shared_ptr<workers::Tool> RunTools::Bounded(std::shared_ptr<workers::Tool> tool,
                                                 std::chrono::milliseconds limit) const {
  return std::make_shared<workers::TimeoutTool>(std::move(tool), limit + kGrace, options_.cancelled);
}

Result<std::vector<std::shared_ptr<workers::Tool>>> RunTools::ForAgent(const std::string& agent) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = per_agent_.find(agent); it != per_agent_.end()) return it->second;
  std::vector<std::shared_ptr<workers::Tool>> tools;
  for (const std::string& name : spec_.builtin_tools) {
    if (name == workers::kCalculatorTool) {
      tools.push_back(workers::MakeCalculatorTool());
    } else if (name == workers::kNotesTool) {
      tools.push_back(workers::MakeNotesTool(std::make_shared<workers::NotesStore>()));
    } else if (name == workers::kRunCommandTool) {
      Result<std::shared_ptr<workers::SandboxTool>> sandbox =
          workers::SandboxTool::Create(options_.sandbox, options_.scratch_parent);
      if (!sandbox.ok()) return sandbox.status().WithContext("the run_command tool of agent " + agent);
      tools.push_back(Bounded(*sandbox, options_.sandbox.wall_time));
    } else {
      return InvalidArgument("unknown built-in tool \"" + name + "\"");
    }
  }
  tools.insert(tools.end(), shared_.begin(), shared_.end());
  per_agent_[agent] = tools;
  return tools;
}

std::shared_ptr<workers::McpClient> RunTools::Server(const std::string& name) const {
  for (const auto& s : servers_) {
    if (s->name() == name) return s;
  }
  return nullptr;
}

void RunTools::Stop() {
  for (const auto& s : servers_) s->Close();
  std::lock_guard<std::mutex> lock(mu_);
  // The sandbox tools (and their scratch directories) go with the last reference; a call
  // abandoned by its timeout holds one until the command is killed.
  per_agent_.clear();
}

}  // namespace tide::orchestrator
