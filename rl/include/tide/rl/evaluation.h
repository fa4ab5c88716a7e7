// Evaluation (`tide eval`): runs one world/family's tasks on a range of held-out seeds
// through the real orchestrator (orchestrator::Swarm: the world's tools, the swarm tools,
// the verifier) with a given policy, and aggregates success, item-F1, reward, how often
// the coordinator spawned sub-agents and the critical steps (the latency measure).
//
// Modes: "swarm" lets the coordinator start up to max_subagents sub-agents (default
// min(items, 100)). "single" is the same coordinator with max_subagents 1, as
// `tide bench swarm` does, so both modes see the same prompts and tools and only the
// width differs; the one sub-agent then does every item (single mode allows it 1000 steps
// unless max_subagent_steps says otherwise, as the benchmark does).
//
// Failure: an episode whose swarm ends in an error (a policy error, steps exhausted
// without an answer, a deadline) is counted in failed_runs with reward, item-F1 and
// success 0; it is not an error of Evaluate. Only bad options give an error Status
// (INVALID_ARGUMENT naming the field).
// Concurrency: `jobs` episodes run at once, each on its own thread; their sub-agents share
// one thread pool, and all of them decode through the one `policy` (on the engine they
// batch together). Results are reported in seed order whatever the timing.
// Thread safety: Evaluate may be called from any thread; `policy` must be thread-safe (as
// every workers::Policy is) and outlive the call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/workers/policy.h"

namespace tide::rl {

struct EvalOptions {
  std::string world = "research";
  std::string family = "wide";
  int items = 20;
  uint64_t seed_first = 9000;
  uint64_t seed_last = 9000;  // inclusive
  std::string mode = "swarm";  // "swarm" | "single"
  int max_subagents = 0;       // swarm mode; 0 = min(items, 100)
  int jobs = 1;                // episodes at once
  int max_coordinator_steps = 0;  // 0 = the swarm's default
  int max_subagent_steps = 0;     // 0 = the swarm's default (1000 in single mode)
  int tool_latency_ms = 0;
  int subagent_threads = 0;  // the sub-agents' pool; 0 = enough for every sub-agent at once (<= 256)
  std::string policy_name = "oracle";  // recorded in the swarm spec and the report
  bool keep_episodes = false;          // fill EvalReport::episodes
};

struct EvalEpisode {
  uint64_t seed = 0;
  bool success = false;
  double item_f1 = 0, reward = 0;
  int subagents = 0, critical_steps = 0, total_steps = 0, tool_calls = 0;
  int64_t tokens = 0;
  double wall_s = 0;
  std::string status = "ok";  // "ok", or the swarm's error
  std::string answer;         // the coordinator's final answer, cut at 2000 bytes (what a low score scored)
};

struct EvalReport {
  EvalOptions options;  // as run (max_subagents resolved)
  int episodes = 0, failed_runs = 0;
  double success = 0, item_f1 = 0, reward = 0;  // means over all episodes (failed ones count 0)
  double spawn_rate = 0;      // share of episodes whose coordinator started >= 1 sub-agent
  double mean_subagents = 0;  // sub-agents started, mean over episodes
  // Means over all episodes; a failed run has no result and counts 0 steps and calls.
  double critical_steps = 0, total_steps = 0, tool_calls = 0;
  int64_t tokens = 0;  // all episodes together
  double wall_s = 0;   // the whole evaluation
  std::vector<EvalEpisode> episodes_detail;  // in seed order, when keep_episodes
};

// INVALID_ARGUMENT naming the field: unknown world or family, items outside the world's
// range, seed_last < seed_first, mode not swarm|single, jobs < 1, max_subagents outside
// [0, 100], negative step limits or latency.
Status ValidateEvalOptions(const EvalOptions& options);

// Runs every seed of [seed_first, seed_last] once and aggregates.
Result<EvalReport> Evaluate(const EvalOptions& options, workers::Policy* policy);

// {"eval":"swarm","world","family","items","mode","seeds":"A-B","episodes","success",
//  "item_f1","reward","spawn_rate","mean_subagents","critical_steps","total_steps",
//  "tool_calls","wall_s","failed_runs","tokens","policy","max_subagents"}.
nlohmann::json EvalReportJson(const EvalReport& report);
// One JSONL row per episode: seed, success, item_f1, reward, subagents, critical_steps,
// total_steps, tool_calls, tokens, wall_s, status, answer.
nlohmann::json EvalEpisodeJson(const EvalEpisode& episode);

}  // namespace tide::rl
