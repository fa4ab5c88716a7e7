#include "tide/orchestrator/swarm_spec.h"

#include <algorithm>

#include "tide/core/json_config.h"
#include "tide/env/world.h"
#include "tide/workers/http_client.h"

namespace tide::orchestrator {
namespace {

using nlohmann::json;

bool ValidServerName(const std::string& name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

Status ValidateRunTools(const SwarmSpec& spec, const std::string& source) {
  auto bad = [&](const std::string& field, const std::string& what) {
    return InvalidArgument(source + ": " + field + " " + what);
  };
  const std::vector<std::string>& known = KnownBuiltinTools();
  for (size_t i = 0; i < spec.builtin_tools.size(); ++i) {
    const std::string& name = spec.builtin_tools[i];
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return bad("builtin_tools", "has an unknown tool \"" + name + "\" (known: " + Join(known) + ")");
    }
    if (std::find(spec.builtin_tools.begin(), spec.builtin_tools.begin() + i, name) != spec.builtin_tools.begin() + i) {
      return bad("builtin_tools", "names \"" + name + "\" twice");
    }
  }
  if (spec.mcp_servers.size() > kMaxMcpServers) {
    return bad("mcp_servers", "may list at most " + std::to_string(kMaxMcpServers) + " servers, got " +
                                  std::to_string(spec.mcp_servers.size()));
  }
  for (size_t i = 0; i < spec.mcp_servers.size(); ++i) {
    const McpServerSpec& server = spec.mcp_servers[i];
    const std::string field = "mcp_servers[" + std::to_string(i) + "]";
    if (!ValidServerName(server.name)) {
      return bad(field + ".name", "must be 1..32 characters of [A-Za-z0-9_-] (it prefixes tool names), got \"" +
                                      server.name + "\"");
    }
    for (size_t j = 0; j < i; ++j) {
      if (spec.mcp_servers[j].name == server.name) return bad(field + ".name", "\"" + server.name + "\" is used twice");
    }
    if (server.command.empty() || server.command[0].empty()) {
      return bad(field + ".command", "must name the program to run (server \"" + server.name + "\")");
    }
    for (const auto& [key, value] : server.env) {
      if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos) {
        return bad(field + ".env", "has an invalid variable name \"" + key + "\" (server \"" + server.name + "\")");
      }
    }
  }
  return Status::Ok();
}

// Takes builtin_tools and mcp_servers out of `doc` (ConfigReader reads only scalars).
Status ReadRunTools(json& doc, const std::string& path, SwarmSpec* spec) {
  if (!doc.is_object()) return Status::Ok();  // the reader reports it
  auto error = [&](const std::string& field, const std::string& what) {
    return InvalidArgument(path + ": field \"" + field + "\": " + what);
  };
  if (auto it = doc.find("builtin_tools"); it != doc.end()) {
    if (!it->is_array()) return error("builtin_tools", "must be an array of tool names");
    spec->builtin_tools.clear();
    for (const json& name : *it) {
      if (!name.is_string()) return error("builtin_tools", "must be an array of strings, got " + name.dump());
      spec->builtin_tools.push_back(name.get<std::string>());
    }
    doc.erase(it);
  }
  if (auto it = doc.find("mcp_servers"); it != doc.end()) {
    if (!it->is_array()) return error("mcp_servers", "must be an array of {name, command, env} objects");
    spec->mcp_servers.clear();
    for (size_t i = 0; i < it->size(); ++i) {
      const json& s = (*it)[i];
      const std::string field = "mcp_servers[" + std::to_string(i) + "]";
      if (!s.is_object()) return error(field, "must be an object {name, command, env}");
      McpServerSpec server;
      for (const auto& [key, value] : s.items()) {
        if (key == "name") {
          if (!value.is_string()) return error(field + ".name", "must be a string");
          server.name = value.get<std::string>();
        } else if (key == "command") {
          if (!value.is_array()) return error(field + ".command", "must be an array of strings (argv)");
          for (const json& arg : value) {
            if (!arg.is_string()) return error(field + ".command", "must be an array of strings, got " + arg.dump());
            server.command.push_back(arg.get<std::string>());
          }
        } else if (key == "env") {
          if (!value.is_object()) return error(field + ".env", "must be an object of strings");
          for (const auto& [k, v] : value.items()) {
            if (!v.is_string()) return error(field + ".env." + k, "must be a string");
            server.env[k] = v.get<std::string>();
          }
        } else {
          return error(field + "." + key, "unknown field (known: name, command, env)");
        }
      }
      spec->mcp_servers.push_back(std::move(server));
    }
    doc.erase(it);
  }
  return Status::Ok();
}

}  // namespace

Status ValidateSwarmSpec(const SwarmSpec& spec, const std::string& source) {
  auto bad = [&](const std::string& field, const std::string& what) {
    return InvalidArgument(source + ": " + field + " " + what);
  };
  if (spec.world.empty()) return bad("world", "is required");
  if (Result<const env::World*> w = env::FindWorld(spec.world); !w.ok()) {
    return w.status().WithContext(source);
  } else if (!spec.task_family.empty()) {
    bool known = false;
    std::string families;
    for (const auto& f : (*w)->task_families()) {
      known = known || f == spec.task_family;
      families += (families.empty() ? "" : ", ") + f;
    }
    if (!known) {
      return bad("task_family", "\"" + spec.task_family + "\" is not a task family of world " + spec.world +
                                    " (known: " + families + ")");
    }
  }
  if (spec.items < 1 || spec.items > 200) return bad("items", "must be in [1, 200], got " + std::to_string(spec.items));
  if (spec.max_subagents < 1 || spec.max_subagents > kMaxSubagentsLimit) {
    return bad("max_subagents", "must be in [1, " + std::to_string(kMaxSubagentsLimit) + "], got " +
                                    std::to_string(spec.max_subagents));
  }
  if (spec.policy != "oracle" && spec.policy != "engine" && spec.policy != "openai") {
    return bad("policy", "must be \"oracle\", \"engine\" or \"openai\", got \"" + spec.policy + "\"");
  }
  if (spec.policy == "openai") {
    if (spec.base_url.empty()) return bad("base_url", "is required with policy \"openai\"");
    if (Result<workers::Url> url = workers::ParseUrl(spec.base_url); !url.ok()) {
      return bad("base_url", url.status().message());
    }
    if (spec.model.empty()) return bad("model", "is required with policy \"openai\"");
    if (spec.api_key_env.empty()) return bad("api_key_env", "must name an environment variable");
  }
  if (spec.max_coordinator_steps < 1 || spec.max_coordinator_steps > 1000) {
    return bad("max_coordinator_steps", "must be in [1, 1000], got " + std::to_string(spec.max_coordinator_steps));
  }
  if (spec.max_subagent_steps < 1 || spec.max_subagent_steps > 1000) {
    return bad("max_subagent_steps", "must be in [1, 1000], got " + std::to_string(spec.max_subagent_steps));
  }
  if (spec.tool_latency_ms < 0 || spec.tool_latency_ms > kMaxToolLatencyMs) {
    return bad("tool_latency_ms", "must be in [0, 60000], got " + std::to_string(spec.tool_latency_ms));
  }
  if (spec.swarm_tools != "spawn" && spec.swarm_tools != "create_assign") {
    return bad("swarm_tools", "must be \"spawn\" or \"create_assign\", got \"" + spec.swarm_tools + "\"");
  }
  if (spec.max_tokens < 0 || spec.max_tokens > kMaxTokensLimit) {
    return bad("max_tokens", "must be in [0, " + std::to_string(kMaxTokensLimit) + "] (0 = unlimited), got " +
                                 std::to_string(spec.max_tokens));
  }
  if (spec.max_tool_calls < 0 || spec.max_tool_calls > kMaxToolCallsLimit) {
    return bad("max_tool_calls", "must be in [0, " + std::to_string(kMaxToolCallsLimit) + "] (0 = unlimited), got " +
                                     std::to_string(spec.max_tool_calls));
  }
  if (spec.tool_timeout_ms < 0 || spec.tool_timeout_ms > kMaxToolTimeoutMs) {
    return bad("tool_timeout_ms", "must be in [0, " + std::to_string(kMaxToolTimeoutMs) + "] (0 = none), got " +
                                      std::to_string(spec.tool_timeout_ms));
  }
  if (!(spec.timeout_s >= 0) || spec.timeout_s > kMaxTimeoutS) {
    return bad("timeout_s", "must be in [0, 604800] seconds, got " + std::to_string(spec.timeout_s));
  }
  return ValidateRunTools(spec, source);
}

Result<SwarmSpec> LoadSwarmConfig(const std::string& path, const SwarmSpec& defaults) {
  TIDE_ASSIGN_OR_RETURN(nlohmann::json doc, LoadJsonFile(path));
  SwarmSpec spec = defaults;
  TIDE_RETURN_IF_ERROR(ReadRunTools(doc, path, &spec));
  ConfigReader r(doc, path);
  TIDE_RETURN_IF_ERROR(r.String("world", &spec.world, false));
  TIDE_RETURN_IF_ERROR(r.String("task_family", &spec.task_family, false));
  TIDE_RETURN_IF_ERROR(r.UInt64("seed", &spec.seed, false));
  TIDE_RETURN_IF_ERROR(r.Int("items", &spec.items, false, 1, 200));
  TIDE_RETURN_IF_ERROR(r.Int("max_subagents", &spec.max_subagents, false, 1, kMaxSubagentsLimit));
  TIDE_RETURN_IF_ERROR(r.String("policy", &spec.policy, false, {"oracle", "engine", "openai"}));
  TIDE_RETURN_IF_ERROR(r.String("base_url", &spec.base_url, false));
  TIDE_RETURN_IF_ERROR(r.String("model", &spec.model, false));
  TIDE_RETURN_IF_ERROR(r.String("api_key_env", &spec.api_key_env, false));
  TIDE_RETURN_IF_ERROR(r.Int("max_coordinator_steps", &spec.max_coordinator_steps, false, 1, 1000));
  TIDE_RETURN_IF_ERROR(r.Int("max_subagent_steps", &spec.max_subagent_steps, false, 1, 1000));
  TIDE_RETURN_IF_ERROR(r.Double("timeout_s", &spec.timeout_s, false, 0, kMaxTimeoutS));
  TIDE_RETURN_IF_ERROR(r.Int("tool_latency_ms", &spec.tool_latency_ms, false, 0, kMaxToolLatencyMs));
  TIDE_RETURN_IF_ERROR(r.String("swarm_tools", &spec.swarm_tools, false, {"spawn", "create_assign"}));
  TIDE_RETURN_IF_ERROR(r.Int("max_tokens", &spec.max_tokens, false, 0, kMaxTokensLimit));
  TIDE_RETURN_IF_ERROR(r.Int("max_tool_calls", &spec.max_tool_calls, false, 0, kMaxToolCallsLimit));
  TIDE_RETURN_IF_ERROR(r.Int("tool_timeout_ms", &spec.tool_timeout_ms, false, 0, kMaxToolTimeoutMs));
  TIDE_RETURN_IF_ERROR(r.Finish());
  TIDE_RETURN_IF_ERROR(ValidateSwarmSpec(spec, path));
  return spec;
}

SwarmSpec SpecFromProto(const tide::v1::SwarmRequest& request) {
  SwarmSpec spec;
  if (!request.world().empty()) spec.world = request.world();
  spec.task_family = request.task_family();
  spec.seed = request.seed();
  if (request.items() != 0) spec.items = request.items();
  if (request.max_subagents() != 0) spec.max_subagents = request.max_subagents();
  if (!request.policy().empty()) spec.policy = request.policy();
  spec.base_url = request.base_url();
  spec.model = request.model();
  if (!request.api_key_env().empty()) spec.api_key_env = request.api_key_env();
  if (request.max_coordinator_steps() != 0) spec.max_coordinator_steps = request.max_coordinator_steps();
  if (request.max_subagent_steps() != 0) spec.max_subagent_steps = request.max_subagent_steps();
  spec.timeout_s = request.timeout_s();
  spec.tool_latency_ms = request.tool_latency_ms();
  if (!request.swarm_tools().empty()) spec.swarm_tools = request.swarm_tools();
  spec.max_tokens = request.max_tokens();
  spec.max_tool_calls = request.max_tool_calls();
  spec.tool_timeout_ms = request.tool_timeout_ms();
  spec.builtin_tools.assign(request.builtin_tools().begin(), request.builtin_tools().end());
  for (const auto& s : request.mcp_servers()) {
    McpServerSpec server;
    server.name = s.name();
    server.command.assign(s.command().begin(), s.command().end());
    server.env.insert(s.env().begin(), s.env().end());
    spec.mcp_servers.push_back(std::move(server));
  }
  return spec;
}

tide::v1::SwarmRequest SpecToProto(const SwarmSpec& spec) {
  tide::v1::SwarmRequest r;
  r.set_world(spec.world);
  r.set_task_family(spec.task_family);
  r.set_seed(spec.seed);
  r.set_items(spec.items);
  r.set_max_subagents(spec.max_subagents);
  r.set_policy(spec.policy);
  r.set_base_url(spec.base_url);
  r.set_model(spec.model);
  r.set_api_key_env(spec.api_key_env);
  r.set_max_coordinator_steps(spec.max_coordinator_steps);
  r.set_max_subagent_steps(spec.max_subagent_steps);
  r.set_timeout_s(spec.timeout_s);
  r.set_tool_latency_ms(spec.tool_latency_ms);
  r.set_swarm_tools(spec.swarm_tools);
  r.set_max_tokens(spec.max_tokens);
  r.set_max_tool_calls(spec.max_tool_calls);
  r.set_tool_timeout_ms(spec.tool_timeout_ms);
  for (const auto& name : spec.builtin_tools) r.add_builtin_tools(name);
  for (const auto& server : spec.mcp_servers) {
    tide::v1::McpServer* s = r.add_mcp_servers();
    s->set_name(server.name);
    for (const auto& arg : server.command) s->add_command(arg);
    s->mutable_env()->insert(server.env.begin(), server.env.end());
  }
  return r;
}

}  // namespace tide::orchestrator
