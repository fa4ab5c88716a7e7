#include "tide/orchestrator/swarm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio/post.hpp>

#include "tide/core/log.h"
#include "tide/orchestrator/call_journal.h"
#include "tide/workers/agent.h"
#include "tide/workers/swarm_protocol.h"
#include "tide/workers/tool_registry.h"

namespace tide::orchestrator {
namespace {

using nlohmann::json;
using tide::v1::EventKind;

// Reports an agent's context to the sink. The first failure to store an event cancels
// the run: nothing may happen that the store does not know about.
class SinkObserver : public workers::AgentObserver {
 public:
  SinkObserver(EventSink* sink, std::string agent, std::string parent, std::atomic<bool>* cancelled,
               std::function<void(Status)> on_failure)
      : sink_(sink), agent_(std::move(agent)), parent_(std::move(parent)), cancelled_(cancelled),
        on_failure_(std::move(on_failure)) {}

  void OnMessage(const workers::Message& m) override {
    Check(sink_->Emit(EventKind::EVENT_KIND_MESSAGE, agent_, parent_, workers::ToJson(m)));
  }
  void OnToolResult(const workers::ToolCall& call, const workers::ToolObservation& obs, double ms) override {
    Check(sink_->Emit(EventKind::EVENT_KIND_TOOL_RESULT, agent_, parent_,
                      {{"tool_call_id", call.id}, {"name", call.name}, {"is_error", obs.is_error}, {"ms", ms}}));
  }

 private:
  void Check(Status s) {
    if (s.ok()) return;
    on_failure_(s);
    cancelled_->store(true);
  }

  EventSink* sink_;
  std::string agent_, parent_;
  std::atomic<bool>* cancelled_;
  std::function<void(Status)> on_failure_;
};

json OutcomePayload(const workers::AgentOutcome& o) {
  json j = {{"status", workers::AgentEndName(o.end)},
            {"steps", o.steps},
            {"tool_calls", o.tool_calls},
            {"result", o.result},
            {"usage", workers::ToJson(o.usage)}};
  if (!o.error.ok()) j["error"] = o.error.ToString();
  return j;
}

}  // namespace

// Shared accounting of one run, filled by the coordinator and all sub-agents.
struct RunTally {
  std::mutex mu;
  Status store_failure;
  int subagents = 0;
  int finished_subagents = 0;
  int subagent_steps = 0;
  int subagent_tool_calls = 0;
  int spawn_critical_steps = 0;  // Σ over spawn calls of the slowest sub-agent's steps
  workers::Usage usage;
  std::set<std::string> names;
};

// A world tool that answers after `latency`, as a remote one would (a web search takes
// ~100 ms); the wait ends early when the run is cancelled.
class LatencyTool : public workers::Tool {
 public:
  LatencyTool(std::shared_ptr<workers::Tool> inner, std::chrono::milliseconds latency, const std::atomic<bool>* cancelled)
      : inner_(std::move(inner)), latency_(latency), cancelled_(cancelled) {}
  const workers::ToolSpec& spec() const override { return inner_->spec(); }
  Result<std::string> Call(const nlohmann::json& arguments) override {
    const auto until = std::chrono::steady_clock::now() + latency_;
    while (std::chrono::steady_clock::now() < until) {
      if (cancelled_ != nullptr && cancelled_->load()) return Cancelled("the run was cancelled");
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(10), until - std::chrono::steady_clock::now()));
    }
    return inner_->Call(arguments);
  }

 private:
  std::shared_ptr<workers::Tool> inner_;
  std::chrono::milliseconds latency_;
  const std::atomic<bool>* cancelled_;
};

class Swarm::SpawnTool : public workers::Tool {
 public:
  SpawnTool(Swarm* swarm, RunTally* tally, std::vector<std::shared_ptr<workers::Tool>> world_tools)
      : swarm_(swarm), tally_(tally), world_tools_(std::move(world_tools)) {
    for (const auto& t : world_tools_) names_.push_back(t->spec().name);
    spec_ = workers::SpawnSubagentsSpec(swarm_->spec_.max_subagents, names_);
  }

  const workers::ToolSpec& spec() const override { return spec_; }

  Result<std::string> Call(const json& arguments) override {
    TIDE_ASSIGN_OR_RETURN(std::vector<workers::SubagentTask> tasks, workers::ParseSpawnArguments(arguments, names_));
    {
      std::lock_guard<std::mutex> lock(tally_->mu);
      for (const auto& t : tasks) {
        if (tally_->names.count(t.name)) return InvalidArgument("sub-agent name \"" + t.name + "\" is already used in this run");
      }
      if (tally_->subagents + static_cast<int>(tasks.size()) > swarm_->spec_.max_subagents) {
        return ResourceExhausted("this run may start at most " + std::to_string(swarm_->spec_.max_subagents) +
                                 " sub-agents; " + std::to_string(tally_->subagents) + " already started");
      }
      for (const auto& t : tasks) tally_->names.insert(t.name);
      tally_->subagents += static_cast<int>(tasks.size());
    }

    std::vector<std::promise<workers::SubagentReport>> promises(tasks.size());
    std::vector<std::future<workers::SubagentReport>> futures;
    for (auto& p : promises) futures.push_back(p.get_future());
    for (size_t i = 0; i < tasks.size(); ++i) {
      boost::asio::post(*swarm_->ctx_.pool, [this, task = tasks[i], &promise = promises[i]] {
        promise.set_value(RunSubagent(task));
      });
    }
    std::vector<workers::SubagentReport> reports;
    int slowest = 0;
    for (auto& f : futures) {
      reports.push_back(f.get());
      slowest = std::max(slowest, reports.back().steps);
    }
    {
      std::lock_guard<std::mutex> lock(tally_->mu);
      tally_->spawn_critical_steps += slowest;
    }
    return workers::FormatSubagentReports(reports);
  }

 private:
  workers::SubagentReport RunSubagent(const workers::SubagentTask& task) {
    const SwarmSpec& spec = swarm_->spec_;
    EventSink* sink = swarm_->ctx_.sink;
    workers::ToolRegistry registry;
    JournalScope journal(swarm_->ctx_.journal, task.name, swarm_->ctx_.policy);
    for (const auto& t : world_tools_) {
      if (task.tools.empty() || std::find(task.tools.begin(), task.tools.end(), t->spec().name) != task.tools.end()) {
        (void)registry.Add(journal.Wrap(t));  // names are unique: they come from one world
      }
    }
    workers::SubagentReport report;
    report.name = task.name;
    Status started = sink->Emit(EventKind::EVENT_KIND_AGENT_STARTED, task.name, kCoordinatorName,
                                {{"role", "subagent"}, {"instructions", task.instructions}, {"tools", workers::ToJson(registry.Specs())}});
    if (!started.ok()) {
      RecordFailure(started);
      report.status = "failed";
      report.result = started.ToString();
      return report;
    }
    SinkObserver observer(sink, task.name, kCoordinatorName, swarm_->ctx_.cancelled,
                          [this](Status s) { RecordFailure(s); });
    workers::Agent agent({task.name, spec.max_subagent_steps, swarm_->ctx_.cancelled}, journal.policy(),
                         &registry, &observer);
    const std::string system =
        "You are " + task.name + ", a research sub-agent in a swarm. Work only through your tools. "
        "When you are done, answer with your final result alone; it is all the coordinator will see.";
    workers::AgentOutcome outcome = agent.Run({workers::Message::System(system), workers::Message::User(task.instructions)});
    // An unrecorded end fails the run like any other event: its report must not reach the
    // coordinator as if it had been stored.
    if (Status finished = sink->Emit(EventKind::EVENT_KIND_AGENT_FINISHED, task.name, kCoordinatorName,
                                     OutcomePayload(outcome));
        !finished.ok()) {
      RecordFailure(finished);
    }

    report.status = workers::AgentEndName(outcome.end);
    report.result = outcome.end == workers::AgentEnd::kFinished ? outcome.result : outcome.error.ToString();
    report.steps = outcome.steps;
    report.tool_calls = outcome.tool_calls;
    std::lock_guard<std::mutex> lock(tally_->mu);
    tally_->subagent_steps += outcome.steps;
    tally_->subagent_tool_calls += outcome.tool_calls;
    tally_->usage += outcome.usage;
    if (outcome.end == workers::AgentEnd::kFinished) ++tally_->finished_subagents;
    return report;
  }

  void RecordFailure(const Status& s) {
    std::lock_guard<std::mutex> lock(tally_->mu);
    if (tally_->store_failure.ok()) tally_->store_failure = s;
    swarm_->ctx_.cancelled->store(true);
  }

  Swarm* swarm_;
  RunTally* tally_;
  std::vector<std::shared_ptr<workers::Tool>> world_tools_;
  std::vector<std::string> names_;
  workers::ToolSpec spec_;
};

Swarm::Swarm(SwarmSpec spec, SwarmContext context) : spec_(std::move(spec)), ctx_(context) {}

Result<tide::v1::RunResult> Swarm::Run() {
  const auto start = std::chrono::steady_clock::now();
  TIDE_ASSIGN_OR_RETURN(const env::World* world, env::FindWorld(spec_.world));
  env::TaskParams params;
  params.family = spec_.task_family;
  params.seed = spec_.seed;
  params.items = spec_.items;
  TIDE_ASSIGN_OR_RETURN(std::unique_ptr<env::Episode> episode, world->Reset(params));

  RunTally tally;
  workers::ToolRegistry coordinator_tools;
  std::vector<std::shared_ptr<workers::Tool>> world_tools = episode->tools();
  if (spec_.tool_latency_ms > 0) {
    for (auto& t : world_tools) {
      t = std::make_shared<LatencyTool>(t, std::chrono::milliseconds(spec_.tool_latency_ms), ctx_.cancelled);
    }
  }
  auto spawn = std::make_shared<SpawnTool>(this, &tally, std::move(world_tools));
  TIDE_RETURN_IF_ERROR(coordinator_tools.Add(spawn));

  // The deadline is a watchdog that raises the cancel flag; agents stop at their next step.
  std::mutex wd_mu;
  std::condition_variable wd_cv;
  bool done = false;
  std::atomic<bool> deadline_hit{false};
  std::thread watchdog;
  if (spec_.timeout_s > 0) {
    watchdog = std::thread([&] {
      std::unique_lock<std::mutex> lock(wd_mu);
      if (!wd_cv.wait_for(lock, std::chrono::duration<double>(spec_.timeout_s), [&] { return done; })) {
        deadline_hit = true;
        ctx_.cancelled->store(true);
      }
    });
  }
  auto stop_watchdog = [&] {
    if (!watchdog.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(wd_mu);
      done = true;
    }
    wd_cv.notify_all();
    watchdog.join();
  };


  Status started = ctx_.sink->Emit(EventKind::EVENT_KIND_AGENT_STARTED, kCoordinatorName, "",
                                   {{"role", "coordinator"}, {"task", episode->public_task()},
                                    {"tools", workers::ToJson(coordinator_tools.Specs())}});
  if (!started.ok()) {
    stop_watchdog();
    return started;
  }
  SinkObserver observer(ctx_.sink, kCoordinatorName, "", ctx_.cancelled, [&](Status s) {
    std::lock_guard<std::mutex> lock(tally.mu);
    if (tally.store_failure.ok()) tally.store_failure = s;
  });
  JournalScope journal(ctx_.journal, kCoordinatorName, ctx_.policy);
  workers::Agent coordinator({kCoordinatorName, spec_.max_coordinator_steps, ctx_.cancelled}, journal.policy(),
                             &coordinator_tools, &observer);
  const std::string system =
      "You are the coordinator of an agent swarm. Split the task into independent sub-tasks and hand "
      "them to sub-agents with spawn_subagents (at most " + std::to_string(spec_.max_subagents) +
      "); they run in parallel and return only their results. Then give the final answer.";
  workers::AgentOutcome outcome =
      coordinator.Run({workers::Message::System(system), workers::Message::User(episode->prompt())});
  stop_watchdog();
  Status finished = ctx_.sink->Emit(EventKind::EVENT_KIND_AGENT_FINISHED, kCoordinatorName, "", OutcomePayload(outcome));

  std::lock_guard<std::mutex> lock(tally.mu);
  if (!tally.store_failure.ok()) return tally.store_failure.WithContext("storing the run's events failed");
  TIDE_RETURN_IF_ERROR(finished);
  if (deadline_hit) {
    return DeadlineExceeded("the run passed its deadline of " + std::to_string(spec_.timeout_s) + " s");
  }
  if (outcome.end == workers::AgentEnd::kCancelled) return Cancelled("the run was cancelled");
  if (outcome.end != workers::AgentEnd::kFinished) return outcome.error;

  const env::Verdict verdict = episode->Verify(outcome.result);
  tide::v1::RunResult result;
  result.set_reward(verdict.reward);
  result.set_item_f1(verdict.item_f1);
  result.set_success(verdict.success);
  result.set_subagents(tally.subagents);
  result.set_tool_calls(outcome.tool_calls + tally.subagent_tool_calls);
  result.set_total_steps(outcome.steps + tally.subagent_steps);
  // Kimi K2.5's latency measure: each coordinator step, plus the slowest sub-agent of each
  // stage it started.
  result.set_critical_steps(outcome.steps + tally.spawn_critical_steps);
  workers::Usage usage = outcome.usage;
  usage += tally.usage;
  result.mutable_usage()->set_prompt_tokens(usage.prompt_tokens);
  result.mutable_usage()->set_completion_tokens(usage.completion_tokens);
  result.mutable_usage()->set_total_tokens(usage.total());
  result.set_wall_s(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  result.set_answer_json(outcome.result);
  result.set_finished_subagents(tally.finished_subagents);
  result.set_verdict_json(verdict.details.dump());
  TIDE_LOG(Info) << "swarm finished: item_f1=" << verdict.item_f1 << " subagents=" << tally.subagents;
  return result;
}

}  // namespace tide::orchestrator
