// Turns a swarm run into training examples: one per agent (the coordinator and each
// sub-agent), in the OpenAI fine-tuning shape {"messages": [...], "tools": [...]} plus
// Tide's fields run_id, agent, role_in_swarm, reward, task_family (and world when known).
// Each example is the agent's own context exactly as it was recorded, so a sub-agent's
// example never holds the coordinator's context and the coordinator's holds only the
// sub-agents' reports. Two entry points: a stored run (proto events whose payloads are JSON
// text) and a run held in memory (events with parsed payloads, as `tide gen` records them).
// Pure functions of their inputs; thread-safe.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/v1/orchestrator.pb.h"

namespace tide::rl {

// One recorded event of a run with its payload already parsed.
struct AgentEvent {
  tide::v1::EventKind kind = tide::v1::EVENT_KIND_UNSPECIFIED;
  std::string agent;   // "" for run-level events
  std::string parent;  // "" for the coordinator
  nlohmann::json payload;
};

// The Tide fields every example of one run carries.
struct ExampleMeta {
  std::string run_id;
  double reward = 0;
  std::string task_family;
  std::string world;  // omitted from the examples when empty
};

// Examples in the order the agents started; agents without messages give none.
std::vector<nlohmann::json> ExamplesFromEvents(const std::vector<AgentEvent>& events, const ExampleMeta& meta);

// FAILED_PRECONDITION unless the run succeeded; DATA_LOSS for an event whose payload is
// not JSON.
Result<std::vector<nlohmann::json>> ExportTrajectories(const tide::v1::Run& run,
                                                       const std::vector<tide::v1::SwarmEvent>& events);

}  // namespace tide::rl
