#include "tide/rl/data_gen.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <boost/asio/thread_pool.hpp>

#include "tide/core/split_mix.h"
#include "tide/env/world.h"
#include "tide/orchestrator/swarm.h"
#include "tide/rl/example_dedup.h"
#include "tide/rl/gen_stats.h"
#include "tide/rl/trajectory_export.h"

namespace tide::rl {
namespace {

using nlohmann::json;

int HardwareThreads() { return std::max(1u, std::thread::hardware_concurrency()); }

// Keeps a run's events in memory, payloads parsed, for the exporter.
class MemorySink : public orchestrator::EventSink {
 public:
  Status Emit(tide::v1::EventKind kind, const std::string& agent, const std::string& parent, const json& payload) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back({kind, agent, parent, payload});
    return Status::Ok();
  }
  std::vector<AgentEvent> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(events_);
  }

 private:
  std::mutex mu_;
  std::vector<AgentEvent> events_;
};

// What one task produced, computed on its worker thread so the ordered writer only
// compares fingerprints and copies bytes.
struct TaskResult {
  Status status;
  double reward = 0;
  bool passed = false;
  std::vector<std::string> lines;         // serialized examples
  std::vector<json> examples;             // for the statistics
  std::vector<Fingerprint> fingerprints;  // one per example
  Fingerprint run_fingerprint;
};

}  // namespace

Status ValidateGenOptions(const GenOptions& o) {
  if (o.worlds.empty()) return InvalidArgument("--worlds: name at least one world");
  std::set<std::string> seen;
  for (const auto& w : o.worlds) {
    TIDE_ASSIGN_OR_RETURN(const env::World* world, env::FindWorld(w));
    (void)world;
    if (!seen.insert(w).second) return InvalidArgument("--worlds: \"" + w + "\" is named twice");
  }
  if (o.tasks < 1) return InvalidArgument("--tasks must be >= 1, got " + std::to_string(o.tasks));
  if (o.items < 0 || o.items > 200) return InvalidArgument("--items must be in [1, 200], got " + std::to_string(o.items));
  if (o.items == 0 && (o.min_items < 1 || o.max_items > 200 || o.min_items > o.max_items)) {
    return InvalidArgument("the items range must satisfy 1 <= min <= max <= 200, got [" + std::to_string(o.min_items) +
                           ", " + std::to_string(o.max_items) + "]");
  }
  if (!(o.min_reward >= 0 && o.min_reward <= 1)) {
    return InvalidArgument("--min-reward must be in [0, 1], got " + std::to_string(o.min_reward));
  }
  if (o.max_subagents < 1 || o.max_subagents > orchestrator::kMaxSubagentsLimit) {
    return InvalidArgument("--subagents must be in [1, " + std::to_string(orchestrator::kMaxSubagentsLimit) + "], got " +
                           std::to_string(o.max_subagents));
  }
  if (o.swarm_tools != "spawn" && o.swarm_tools != "create_assign") {
    return InvalidArgument("--swarm-tools must be spawn or create_assign, got \"" + o.swarm_tools + "\"");
  }
  if (o.jobs < 0 || o.jobs > 4096) return InvalidArgument("--jobs must be in [0, 4096], got " + std::to_string(o.jobs));
  if (o.subagent_threads < 0 || o.subagent_threads > 4096) {
    return InvalidArgument("--subagent-threads must be in [0, 4096], got " + std::to_string(o.subagent_threads));
  }
  if (o.timeout_s < 0) return InvalidArgument("--timeout must be >= 0, got " + std::to_string(o.timeout_s));
  if (o.max_coordinator_steps < 0 || o.max_subagent_steps < 0) return InvalidArgument("step limits must be >= 0");
  return Status::Ok();
}

Result<std::vector<GenTask>> PlanTasks(const GenOptions& o) {
  TIDE_RETURN_IF_ERROR(ValidateGenOptions(o));
  // (world, family) pairs in the order the worlds were named.
  std::vector<std::pair<std::string, std::string>> pairs;
  std::set<std::string> used_filters;
  for (const auto& name : o.worlds) {
    const env::World* world = env::FindWorld(name).value();
    for (const auto& family : world->task_families()) {
      bool wanted = o.families.empty();
      for (const auto& f : o.families) {
        if (f == family || f == name + "/" + family) {
          wanted = true;
          used_filters.insert(f);
        }
      }
      if (wanted) pairs.emplace_back(name, family);
    }
  }
  for (const auto& f : o.families) {
    if (used_filters.count(f)) continue;
    std::string known;
    for (const auto& name : o.worlds) {
      for (const auto& family : env::FindWorld(name).value()->task_families()) {
        known += (known.empty() ? "" : ", ") + name + "/" + family;
      }
    }
    return InvalidArgument("--families: no world named in --worlds has a family \"" + f + "\" (known: " + known + ")");
  }
  std::vector<GenTask> tasks;
  tasks.reserve(static_cast<size_t>(o.tasks));
  for (int i = 0; i < o.tasks; ++i) {
    const auto& [world, family] = pairs[static_cast<size_t>(i) % pairs.size()];
    const uint64_t h = SplitMix64(o.seed * 0x100000001b3ull + static_cast<uint64_t>(i));
    GenTask t;
    t.world = world;
    t.family = family;
    t.seed = h >> 16;  // stays exact in JSON readers that use doubles
    t.items = o.items > 0 ? o.items
                          : o.min_items + static_cast<int>(SplitMix64(h) % static_cast<uint64_t>(o.max_items - o.min_items + 1));
    tasks.push_back(std::move(t));
  }
  return tasks;
}

namespace {

TaskResult RunTask(const GenTask& task, size_t index, const GenOptions& o, workers::Policy* policy,
                   boost::asio::thread_pool* pool) {
  TaskResult r;
  orchestrator::SwarmSpec spec;
  spec.world = task.world;
  spec.task_family = task.family;
  spec.seed = task.seed;
  spec.items = task.items;
  spec.max_subagents = o.max_subagents;
  spec.swarm_tools = o.swarm_tools;
  spec.policy = o.policy_name;
  if (o.max_coordinator_steps > 0) spec.max_coordinator_steps = o.max_coordinator_steps;
  if (o.max_subagent_steps > 0) spec.max_subagent_steps = o.max_subagent_steps;
  spec.timeout_s = o.timeout_s;
  MemorySink sink;
  std::atomic<bool> cancelled{false};
  orchestrator::Swarm swarm(spec, orchestrator::SwarmContext{policy, pool, &sink, &cancelled});
  Result<tide::v1::RunResult> run = swarm.Run();
  if (!run.ok()) {
    r.status = run.status();
    return r;
  }
  r.reward = run->reward();
  r.passed = r.reward >= o.min_reward;
  if (!r.passed) return r;  // rejected: not worth exporting
  ExampleMeta meta{"gen-" + std::to_string(o.seed) + "-" + std::to_string(index), r.reward, task.family, task.world};
  r.examples = ExamplesFromEvents(sink.Take(), meta);
  // Sub-agents finish in any order; the file must not depend on thread timing, so a run's
  // examples go coordinator first, then by agent name (the whole example breaks ties).
  // Each example is serialized once: the line written is also the tie-breaking part of the key.
  struct Keyed {
    std::string prefix;  // "0coordinator\n" or "1<agent>\n"
    std::string line;
    json example;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(r.examples.size());
  for (auto& ex : r.examples) {
    const std::string agent = ex.value("agent", "");
    std::string line = ex.dump();
    keyed.push_back({(agent == "coordinator" ? "0" : "1") + agent + "\n", std::move(line), std::move(ex)});
  }
  std::sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    const int c = a.prefix.compare(b.prefix);
    return c != 0 ? c < 0 : a.line < b.line;
  });
  r.examples.clear();
  for (Keyed& k : keyed) {
    r.fingerprints.push_back(MessagesFingerprint(k.example.at("messages")));
    r.run_fingerprint = Combine(r.run_fingerprint, r.fingerprints.back());
    r.lines.push_back(std::move(k.line));
    r.examples.push_back(std::move(k.example));
  }
  return r;
}

}  // namespace

Result<GenReport> GenerateData(const std::vector<GenTask>& tasks, const GenOptions& o, workers::Policy* policy,
                               std::ostream& jsonl, const std::function<void(const GenProgress&)>& on_progress) {
  if (policy == nullptr) return InvalidArgument("GenerateData needs a policy");
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  const int jobs = std::max(1, std::min<int>(o.jobs > 0 ? o.jobs : 2 * HardwareThreads(), static_cast<int>(tasks.size())));
  boost::asio::thread_pool pool(static_cast<size_t>(o.subagent_threads > 0 ? o.subagent_threads : HardwareThreads()));

  std::mutex mu;  // guards everything below
  std::vector<std::optional<TaskResult>> slots(tasks.size());
  size_t next_write = 0;
  GenStats stats;
  ExampleDeduper runs_seen, examples_seen;
  Status write_failure;
  std::atomic<bool> abort{false};
  std::atomic<size_t> next_task{0};

  // Writes every finished task that is next in task order.
  auto drain = [&] {
    while (next_write < slots.size() && slots[next_write].has_value()) {
      TaskResult r = std::move(*slots[next_write]);
      slots[next_write].reset();
      const GenTask& t = tasks[next_write];
      ++next_write;
      if (!r.status.ok()) {
        stats.AddTask(t.world, t.family, TaskOutcome::kError, 0);
        stats.AddError(r.status.ToString());
        continue;
      }
      if (!r.passed) {
        stats.AddTask(t.world, t.family, TaskOutcome::kRejected, r.reward);
        continue;
      }
      if (!runs_seen.Insert(r.run_fingerprint)) {
        stats.AddTask(t.world, t.family, TaskOutcome::kDuplicate, r.reward);
        continue;
      }
      stats.AddTask(t.world, t.family, TaskOutcome::kKept, r.reward);
      for (size_t k = 0; k < r.lines.size(); ++k) {
        if (!examples_seen.Insert(r.fingerprints[k])) {
          stats.AddDuplicateExample();
          continue;
        }
        jsonl << r.lines[k] << '\n';
        stats.AddExample(r.examples[k]);
      }
      if (!jsonl && write_failure.ok()) {
        write_failure = Internal("writing the examples failed (disk full?)");
        abort = true;
      }
    }
  };

  auto worker = [&] {
    while (!abort.load() && (o.stop == nullptr || !o.stop->load())) {
      const size_t i = next_task.fetch_add(1);
      if (i >= tasks.size()) return;
      TaskResult r = RunTask(tasks[i], i, o, policy, &pool);
      std::lock_guard<std::mutex> lock(mu);
      slots[i] = std::move(r);
      drain();
      if (on_progress) {
        on_progress(GenProgress{stats.tasks(), static_cast<int>(tasks.size()), stats.kept(), stats.errors(), elapsed()});
      }
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(jobs));
  for (int j = 0; j < jobs; ++j) threads.emplace_back(worker);
  for (auto& th : threads) th.join();
  pool.join();
  jsonl.flush();
  if (!jsonl && write_failure.ok()) write_failure = Internal("writing the examples failed (disk full?)");
  if (!write_failure.ok()) return write_failure;

  GenReport report;
  report.elapsed_s = elapsed();
  report.tasks = stats.tasks();
  report.errors = stats.errors();
  report.passed = stats.passed();
  report.kept = stats.kept();
  report.duplicates = stats.duplicates();
  report.examples = stats.examples();
  report.per_min = report.elapsed_s > 0 ? report.kept * 60.0 / report.elapsed_s : 0;
  report.stats = stats.ToJson(report.elapsed_s);
  report.stats["planned_tasks"] = tasks.size();
  report.stats["stopped_early"] = report.tasks < static_cast<int>(tasks.size());
  report.stats["jobs"] = jobs;
  return report;
}

Result<GenReport> GenerateToDir(const GenOptions& o, workers::Policy* policy, const std::string& out_dir,
                                const std::function<void(const GenProgress&)>& on_progress) {
  TIDE_ASSIGN_OR_RETURN(std::vector<GenTask> tasks, PlanTasks(o));
  namespace fs = std::filesystem;
  if (out_dir.empty()) return InvalidArgument("--out: name a folder to write to");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec || !fs::is_directory(out_dir)) {
    return InvalidArgument("--out " + out_dir + ": cannot create the folder (" + (ec ? ec.message() : "not a folder") + ")");
  }
  const fs::path examples_path = fs::path(out_dir) / kGenExamplesFile;
  const fs::path stats_path = fs::path(out_dir) / kGenStatsFile;
  std::ofstream jsonl(examples_path, std::ios::trunc);
  if (!jsonl) return InvalidArgument("--out " + out_dir + ": cannot write " + examples_path.string());
  TIDE_ASSIGN_OR_RETURN(GenReport report, GenerateData(tasks, o, policy, jsonl, on_progress));
  jsonl.close();
  if (!jsonl) return Internal("closing " + examples_path.string() + " failed");

  json options = {{"worlds", o.worlds},         {"families", o.families},     {"policy", o.policy_name},
                  {"seed", o.seed},             {"min_reward", o.min_reward}, {"max_subagents", o.max_subagents},
                  {"swarm_tools", o.swarm_tools}};
  if (o.items > 0) {
    options["items"] = o.items;
  } else {
    options["items_range"] = {o.min_items, o.max_items};
  }
  report.stats["options"] = std::move(options);
  report.stats["examples_file"] = examples_path.string();
  std::ofstream stats(stats_path, std::ios::trunc);
  stats << report.stats.dump(2) << '\n';
  stats.close();
  if (!stats) return Internal("writing " + stats_path.string() + " failed");
  return report;
}

}  // namespace tide::rl
