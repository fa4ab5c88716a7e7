// How the CLI shows runs: one line per notable event while a swarm runs, a summary with
// the verified score at the end, a table of runs, and a run's trajectory tree
// (coordinator → sub-agents, their steps, tool calls and results).
#pragma once

#include <ostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/v1/orchestrator.pb.h"

namespace tide::cli {

// Prints a line for run/agent starts and ends and for the coordinator's tool calls.
void PrintEventLine(std::ostream& out, const tide::v1::SwarmEvent& ev);
void PrintRunSummary(std::ostream& out, const tide::v1::Run& run);
void PrintRunTable(std::ostream& out, const std::vector<tide::v1::Run>& runs);
void PrintTrajectoryTree(std::ostream& out, const tide::v1::Run& run, const std::vector<tide::v1::SwarmEvent>& events);

// The `--json` object of a run: run_id, state, subagents, item_f1, success, wall_s, ...
nlohmann::json RunJson(const tide::v1::Run& run);
const char* RunStateName(tide::v1::RunState state);

}  // namespace tide::cli
