// Turns a stored swarm run into training examples: one per agent (the coordinator and
// each sub-agent), in the OpenAI fine-tuning shape {"messages": [...], "tools": [...]}
// plus Tide's fields run_id, agent, role_in_swarm, reward, task_family. Each example is
// the agent's own context exactly as it was stored, so a sub-agent's example never holds
// the coordinator's context and the coordinator's holds only the sub-agents' reports.
// Pure function of its inputs; thread-safe.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/v1/orchestrator.pb.h"

namespace tide::rl {

// FAILED_PRECONDITION unless the run succeeded; DATA_LOSS for an event whose payload is
// not JSON.
Result<std::vector<nlohmann::json>> ExportTrajectories(const tide::v1::Run& run,
                                                       const std::vector<tide::v1::SwarmEvent>& events);

}  // namespace tide::rl
