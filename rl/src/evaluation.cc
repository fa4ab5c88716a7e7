#include "tide/rl/evaluation.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include <boost/asio/thread_pool.hpp>

#include "tide/env/world.h"
#include "tide/orchestrator/swarm.h"

namespace tide::rl {
namespace {

using nlohmann::json;

// Evaluation reads only the run's result; the events are not kept (nothing is exported or
// resumed), so the sink accepts and drops them.
class DiscardSink : public orchestrator::EventSink {
 public:
  Status Emit(tide::v1::EventKind, const std::string&, const std::string&, const json&) override { return Status::Ok(); }
};

constexpr int kSingleModeSubagentSteps = 1000;  // one agent doing every item (bench.cc's value)
constexpr uint64_t kMaxEpisodes = 1000000;
constexpr size_t kMaxAnswerBytes = 2000;

int ResolvedSubagents(const EvalOptions& o) {
  if (o.mode == "single") return 1;
  return o.max_subagents > 0 ? o.max_subagents : std::min(o.items, orchestrator::kMaxSubagentsLimit);
}

EvalEpisode RunEpisode(const EvalOptions& o, uint64_t seed, workers::Policy* policy, boost::asio::thread_pool* pool) {
  orchestrator::SwarmSpec spec;
  spec.world = o.world;
  spec.task_family = o.family;
  spec.seed = seed;
  spec.items = o.items;
  spec.max_subagents = ResolvedSubagents(o);
  spec.policy = o.policy_name;
  spec.tool_latency_ms = o.tool_latency_ms;
  if (o.max_coordinator_steps > 0) spec.max_coordinator_steps = o.max_coordinator_steps;
  if (o.max_subagent_steps > 0) {
    spec.max_subagent_steps = o.max_subagent_steps;
  } else if (o.mode == "single") {
    spec.max_subagent_steps = kSingleModeSubagentSteps;
  }
  DiscardSink sink;
  std::atomic<bool> cancelled{false};
  orchestrator::Swarm swarm(spec, orchestrator::SwarmContext{policy, pool, &sink, &cancelled});
  const auto start = std::chrono::steady_clock::now();
  Result<tide::v1::RunResult> run = swarm.Run();
  EvalEpisode e;
  e.seed = seed;
  e.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!run.ok()) {
    e.status = run.status().ToString();
    e.subagents = swarm.counters().subagents;  // the coordinator may have spawned before failing
    return e;
  }
  e.success = run->success();
  e.item_f1 = run->item_f1();
  e.reward = run->reward();
  e.subagents = run->subagents();
  e.critical_steps = run->critical_steps();
  e.total_steps = run->total_steps();
  e.tool_calls = run->tool_calls();
  e.tokens = run->usage().total_tokens();
  e.answer = run->answer_json().substr(0, kMaxAnswerBytes);
  return e;
}

}  // namespace

Status ValidateEvalOptions(const EvalOptions& o) {
  Result<const env::World*> world = env::FindWorld(o.world);
  if (!world.ok()) return InvalidArgument("world: " + world.status().message());
  const std::vector<std::string> families = (*world)->task_families();
  if (std::find(families.begin(), families.end(), o.family) == families.end()) {
    std::string known;
    for (const auto& f : families) known += (known.empty() ? "" : ", ") + f;
    return InvalidArgument("family: world \"" + o.world + "\" has no family \"" + o.family + "\" (known: " + known + ")");
  }
  if (o.items < 1 || o.items > 200) return InvalidArgument("items must be in [1, 200], got " + std::to_string(o.items));
  if (o.seed_last < o.seed_first) {
    return InvalidArgument("seeds: the last seed " + std::to_string(o.seed_last) + " is below the first " +
                           std::to_string(o.seed_first));
  }
  if (o.seed_last - o.seed_first >= kMaxEpisodes) {
    return InvalidArgument("seeds: at most " + std::to_string(kMaxEpisodes) + " episodes in one evaluation");
  }
  if (o.mode != "swarm" && o.mode != "single") return InvalidArgument("mode must be swarm or single, got \"" + o.mode + "\"");
  if (o.jobs < 1 || o.jobs > 4096) return InvalidArgument("jobs must be in [1, 4096], got " + std::to_string(o.jobs));
  if (o.max_subagents < 0 || o.max_subagents > orchestrator::kMaxSubagentsLimit) {
    return InvalidArgument("max_subagents must be in [1, " + std::to_string(orchestrator::kMaxSubagentsLimit) +
                           "] (0 = min(items, 100)), got " + std::to_string(o.max_subagents));
  }
  if (o.max_coordinator_steps < 0) return InvalidArgument("max_coordinator_steps must be >= 0");
  if (o.max_subagent_steps < 0) return InvalidArgument("max_subagent_steps must be >= 0");
  if (o.tool_latency_ms < 0 || o.tool_latency_ms > orchestrator::kMaxToolLatencyMs) {
    return InvalidArgument("tool_latency_ms must be in [0, " + std::to_string(orchestrator::kMaxToolLatencyMs) + "], got " +
                           std::to_string(o.tool_latency_ms));
  }
  if (o.subagent_threads < 0 || o.subagent_threads > 4096) {
    return InvalidArgument("subagent_threads must be in [0, 4096], got " + std::to_string(o.subagent_threads));
  }
  // The world's own limits on a task (its items range for this family): building the first
  // episode checks them with the world's message.
  env::TaskParams params;
  params.family = o.family;
  params.seed = o.seed_first;
  params.items = o.items;
  if (Result<std::unique_ptr<env::Episode>> ep = (*world)->Reset(params); !ep.ok()) {
    return InvalidArgument("items: world \"" + o.world + "\" refuses the task: " + ep.status().message());
  }
  return Status::Ok();
}

Result<EvalReport> Evaluate(const EvalOptions& options, workers::Policy* policy) {
  TIDE_RETURN_IF_ERROR(ValidateEvalOptions(options));
  if (policy == nullptr) return InvalidArgument("policy: Evaluate needs a policy");
  EvalReport report;
  report.options = options;
  report.options.max_subagents = ResolvedSubagents(options);
  const size_t n = static_cast<size_t>(options.seed_last - options.seed_first + 1);
  const int jobs = static_cast<int>(std::min<size_t>(static_cast<size_t>(options.jobs), n));
  // Sub-agents block on the policy (a model batches them), not on cores: by default every
  // sub-agent of every running episode gets a thread.
  const int threads = options.subagent_threads > 0
                          ? options.subagent_threads
                          : std::clamp(jobs * report.options.max_subagents, 1, 256);
  const auto start = std::chrono::steady_clock::now();
  std::vector<EvalEpisode> episodes(n);
  {
    boost::asio::thread_pool pool(static_cast<size_t>(threads));
    std::atomic<size_t> next{0};
    std::vector<std::thread> workers;
    workers.reserve(static_cast<size_t>(jobs));
    for (int j = 0; j < jobs; ++j) {
      workers.emplace_back([&] {
        for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
          episodes[i] = RunEpisode(options, options.seed_first + i, policy, &pool);
        }
      });
    }
    for (auto& w : workers) w.join();
    pool.join();
  }
  report.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  report.episodes = static_cast<int>(n);
  int spawned = 0;
  for (const EvalEpisode& e : episodes) {
    report.failed_runs += e.status != "ok";
    report.success += e.success ? 1 : 0;
    report.item_f1 += e.item_f1;
    report.reward += e.reward;
    spawned += e.subagents >= 1;
    report.mean_subagents += e.subagents;
    report.critical_steps += e.critical_steps;
    report.total_steps += e.total_steps;
    report.tool_calls += e.tool_calls;
    report.tokens += e.tokens;
  }
  const double count = static_cast<double>(n);
  report.success /= count;
  report.item_f1 /= count;
  report.reward /= count;
  report.spawn_rate = spawned / count;
  report.mean_subagents /= count;
  report.critical_steps /= count;
  report.total_steps /= count;
  report.tool_calls /= count;
  if (options.keep_episodes) report.episodes_detail = std::move(episodes);
  return report;
}

json EvalReportJson(const EvalReport& r) {
  const EvalOptions& o = r.options;
  return json{{"eval", "swarm"},
              {"world", o.world},
              {"family", o.family},
              {"items", o.items},
              {"mode", o.mode},
              {"seeds", std::to_string(o.seed_first) + "-" + std::to_string(o.seed_last)},
              {"policy", o.policy_name},
              {"max_subagents", o.max_subagents},
              {"episodes", r.episodes},
              {"success", r.success},
              {"item_f1", r.item_f1},
              {"reward", r.reward},
              {"spawn_rate", r.spawn_rate},
              {"mean_subagents", r.mean_subagents},
              {"critical_steps", r.critical_steps},
              {"total_steps", r.total_steps},
              {"tool_calls", r.tool_calls},
              {"wall_s", r.wall_s},
              {"failed_runs", r.failed_runs},
              {"tokens", r.tokens}};
}

json EvalEpisodeJson(const EvalEpisode& e) {
  return json{{"seed", e.seed},
              {"success", e.success},
              {"item_f1", e.item_f1},
              {"reward", e.reward},
              {"subagents", e.subagents},
              {"critical_steps", e.critical_steps},
              {"total_steps", e.total_steps},
              {"tool_calls", e.tool_calls},
              {"tokens", e.tokens},
              {"wall_s", e.wall_s},
              {"status", e.status},
              {"answer", e.answer}};
}

}  // namespace tide::rl
