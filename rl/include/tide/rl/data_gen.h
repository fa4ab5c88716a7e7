// Data generation (`tide gen`): runs many swarms in this process, verifies each with its
// world's verifier, keeps only the trajectories whose reward reaches a threshold
// (rejection sampling), drops duplicates, and writes one OpenAI fine-tuning example per
// agent (coordinator and each sub-agent) as JSONL, with the statistics of the whole run.
//
// Tasks are planned up front from the options (worlds x families round-robin, a seed per
// task derived from the base seed), so a generation is reproducible: the same options and
// a deterministic policy (the oracle) give the same file byte for byte, whatever the number
// of threads, because results are written in task order through a reorder buffer.
//
// Duplicates: a trajectory whose normalized messages (all its agents, see example_dedup.h)
// equal an earlier kept one is dropped whole; within kept trajectories an example equal to
// one already written is dropped too. Both are counted in the statistics.
//
// Concurrency: `jobs` coordinators run at once on their own threads; their sub-agents share
// one Boost.Asio pool of `subagent_threads`. Sub-agents never wait on other work, so the
// coordinators (which block on them) cannot starve the pool.
// Failure: a swarm that fails (policy error, deadline) is counted as an error and the
// generation goes on; only bad options and write failures end it with an error Status.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/workers/policy.h"

namespace tide::rl {

struct GenTask {
  std::string world;
  std::string family;  // resolved: never empty
  uint64_t seed = 0;
  int items = 1;
};

struct GenOptions {
  std::vector<std::string> worlds = {"research"};
  // Families to use, each "family" (for every world that has it) or "world/family"; empty
  // means every family of every world.
  std::vector<std::string> families;
  int tasks = 100;
  uint64_t seed = 1;
  int items = 0;           // task size for every task; 0 = varied per task in [min_items, max_items]
  int min_items = 2;
  int max_items = 10;
  double min_reward = 1.0;  // keep trajectories whose reward >= this
  int max_subagents = 8;
  // The coordinator's swarm tools: "spawn" (spawn_subagents) or "create_assign"
  // (create_subagent + assign_task).
  std::string swarm_tools = "spawn";
  int max_coordinator_steps = 0;  // 0 = the swarm's default
  int max_subagent_steps = 0;
  double timeout_s = 0;     // per swarm; 0 = none
  int jobs = 0;             // swarms at once; 0 = 2 x hardware threads
  int subagent_threads = 0; // 0 = hardware threads
  std::string policy_name = "oracle";  // recorded in the statistics
  const std::atomic<bool>* stop = nullptr;  // set to stop starting tasks (Ctrl-C)
};

// INVALID_ARGUMENT naming the option; NOT_FOUND for an unknown world, listing the known ones.
Status ValidateGenOptions(const GenOptions& options);

// The tasks the options describe, in order; validates first.
Result<std::vector<GenTask>> PlanTasks(const GenOptions& options);

struct GenProgress {
  int done = 0, total = 0, kept = 0, errors = 0;
  double elapsed_s = 0;
};

struct GenReport {
  int tasks = 0, errors = 0, passed = 0, kept = 0, duplicates = 0, examples = 0;
  double elapsed_s = 0;
  double per_min = 0;  // kept (verified, distinct) trajectories a minute
  nlohmann::json stats;  // what stats.json holds
};

// Runs `tasks` through swarms on `policy`, writing examples to `jsonl` in task order.
// on_progress (optional) is called after each task, from worker threads, one at a time.
Result<GenReport> GenerateData(const std::vector<GenTask>& tasks, const GenOptions& options, workers::Policy* policy,
                               std::ostream& jsonl, const std::function<void(const GenProgress&)>& on_progress = nullptr);

// Plans the tasks and writes DIR/examples.jsonl and DIR/stats.json (DIR is created; files
// there are replaced). INVALID_ARGUMENT when DIR cannot be written.
Result<GenReport> GenerateToDir(const GenOptions& options, workers::Policy* policy, const std::string& out_dir,
                                const std::function<void(const GenProgress&)>& on_progress = nullptr);

inline constexpr char kGenExamplesFile[] = "examples.jsonl";
inline constexpr char kGenStatsFile[] = "stats.json";

}  // namespace tide::rl
