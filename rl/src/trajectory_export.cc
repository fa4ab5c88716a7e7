#include "tide/rl/trajectory_export.h"

#include <map>
#include <string>

namespace tide::rl {

using nlohmann::json;

std::vector<json> ExamplesFromEvents(const std::vector<AgentEvent>& events, const ExampleMeta& meta) {
  struct Agent {
    json messages = json::array();
    json tools = json::array();
    std::string role;
  };
  std::vector<std::string> order;
  std::map<std::string, Agent> agents;
  for (const auto& ev : events) {
    if (ev.agent.empty()) continue;
    auto [it, added] = agents.try_emplace(ev.agent);
    if (added) order.push_back(ev.agent);
    Agent& a = it->second;
    if (ev.kind == tide::v1::EVENT_KIND_AGENT_STARTED) {
      const std::string fallback = ev.parent.empty() ? "coordinator" : "subagent";
      a.role = ev.payload.is_object() ? ev.payload.value("role", fallback) : fallback;
      a.tools = ev.payload.is_object() ? ev.payload.value("tools", json::array()) : json::array();
    } else if (ev.kind == tide::v1::EVENT_KIND_MESSAGE) {
      a.messages.push_back(ev.payload);
    }
  }
  std::vector<json> out;
  out.reserve(order.size());
  for (const auto& name : order) {
    Agent& a = agents[name];
    if (a.messages.empty()) continue;
    json ex = {{"messages", std::move(a.messages)},
               {"tools", std::move(a.tools)},
               {"parallel_tool_calls", true},
               {"run_id", meta.run_id},
               {"agent", name},
               {"role_in_swarm", a.role},
               {"reward", meta.reward},
               {"task_family", meta.task_family}};
    if (!meta.world.empty()) ex["world"] = meta.world;
    out.push_back(std::move(ex));
  }
  return out;
}

Result<std::vector<json>> ExportTrajectories(const tide::v1::Run& run, const std::vector<tide::v1::SwarmEvent>& events) {
  if (run.state() != tide::v1::RUN_STATE_SUCCEEDED) {
    return FailedPrecondition("run " + run.run_id() + " did not succeed; only scored runs can be exported");
  }
  std::vector<AgentEvent> parsed;
  parsed.reserve(events.size());
  for (const auto& ev : events) {
    if (ev.agent().empty()) continue;
    AgentEvent a{ev.kind(), ev.agent(), ev.parent_agent(), json()};
    if (ev.kind() == tide::v1::EVENT_KIND_AGENT_STARTED || ev.kind() == tide::v1::EVENT_KIND_MESSAGE) {
      a.payload = json::parse(ev.payload_json(), nullptr, false);
      if (a.payload.is_discarded()) {
        return DataLoss("event " + std::to_string(ev.seq()) + " of run " + run.run_id() + " has a payload that is not JSON");
      }
    }
    parsed.push_back(std::move(a));
  }
  ExampleMeta meta{run.run_id(), run.result().reward(), run.request().task_family(), run.request().world()};
  return ExamplesFromEvents(parsed, meta);
}

}  // namespace tide::rl
