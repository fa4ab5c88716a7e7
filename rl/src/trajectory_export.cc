#include "tide/rl/trajectory_export.h"

#include <map>
#include <string>

namespace tide::rl {

using nlohmann::json;

Result<std::vector<json>> ExportTrajectories(const tide::v1::Run& run, const std::vector<tide::v1::SwarmEvent>& events) {
  if (run.state() != tide::v1::RUN_STATE_SUCCEEDED) {
    return FailedPrecondition("run " + run.run_id() + " did not succeed; only scored runs can be exported");
  }
  struct Agent {
    json messages = json::array();
    json tools = json::array();
    std::string role;
  };
  std::vector<std::string> order;
  std::map<std::string, Agent> agents;
  for (const auto& ev : events) {
    if (ev.agent().empty()) continue;
    if (!agents.count(ev.agent())) order.push_back(ev.agent());
    Agent& a = agents[ev.agent()];
    if (ev.kind() != tide::v1::EVENT_KIND_AGENT_STARTED && ev.kind() != tide::v1::EVENT_KIND_MESSAGE) continue;
    json p = json::parse(ev.payload_json(), nullptr, false);
    if (p.is_discarded()) {
      return DataLoss("event " + std::to_string(ev.seq()) + " of run " + run.run_id() + " has a payload that is not JSON");
    }
    if (ev.kind() == tide::v1::EVENT_KIND_AGENT_STARTED) {
      a.role = p.value("role", ev.parent_agent().empty() ? "coordinator" : "subagent");
      a.tools = p.value("tools", json::array());
    } else {
      a.messages.push_back(std::move(p));
    }
  }
  std::vector<json> out;
  for (const auto& name : order) {
    Agent& a = agents[name];
    if (a.messages.empty()) continue;
    out.push_back({{"messages", a.messages},
                   {"tools", a.tools},
                   {"parallel_tool_calls", true},
                   {"run_id", run.run_id()},
                   {"agent", name},
                   {"role_in_swarm", a.role},
                   {"reward", run.result().reward()},
                   {"task_family", run.request().task_family()}});
  }
  return out;
}

}  // namespace tide::rl
