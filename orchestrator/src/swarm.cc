#include "tide/orchestrator/swarm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tide/core/log.h"
#include "tide/orchestrator/call_journal.h"
#include "tide/orchestrator/run_tools.h"
#include "tide/orchestrator/swarm_tools.h"
#include "tide/workers/agent.h"
#include "tide/workers/run_budget.h"
#include "tide/workers/tool_registry.h"

namespace tide::orchestrator {
namespace {

using tide::v1::EventKind;

// The coordinator's observer: stores its context, and tells the crew when a new turn
// begins so that the sub-agents it starts count in that turn's stage.
class CoordinatorObserver : public SinkObserver {
 public:
  CoordinatorObserver(EventSink* sink, std::atomic<bool>* cancelled, SwarmCrew* crew)
      : SinkObserver(sink, kCoordinatorName, "", cancelled, [crew](Status s) { crew->RecordFailure(s); }),
        crew_(crew) {}
  void OnMessage(const workers::Message& m) override {
    if (m.role == "assistant") crew_->NextTurn();
    SinkObserver::OnMessage(m);
  }

 private:
  SwarmCrew* crew_;
};

// The deadline: a watchdog thread that raises the cancel flag; agents stop at their next
// step. Stop ends it at once when the run ends first.
class Watchdog {
 public:
  Watchdog(double timeout_s, std::atomic<bool>* cancelled) {
    if (timeout_s <= 0) return;
    thread_ = std::thread([this, timeout_s, cancelled] {
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::duration<double>(timeout_s), [&] { return done_; })) {
        hit_ = true;
        cancelled->store(true);
      }
    });
  }
  ~Watchdog() { Stop(); }
  void Stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  bool hit() const { return hit_.load(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<bool> hit_{false};
  std::thread thread_;
};

}  // namespace

Swarm::Swarm(SwarmSpec spec, SwarmContext context) : spec_(std::move(spec)), ctx_(std::move(context)) {}

Result<tide::v1::RunResult> Swarm::Run() {
  const auto start = std::chrono::steady_clock::now();
  TIDE_ASSIGN_OR_RETURN(const env::World* world, env::FindWorld(spec_.world));
  env::TaskParams params;
  params.family = spec_.task_family;
  params.seed = spec_.seed;
  params.items = spec_.items;
  TIDE_ASSIGN_OR_RETURN(std::unique_ptr<env::Episode> episode, world->Reset(params));

  // The spec's built-in and MCP tools: servers start now and stop when run_tools goes,
  // after every agent (declared before the crew, which borrows it).
  std::unique_ptr<RunTools> run_tools;
  if (!spec_.builtin_tools.empty() || !spec_.mcp_servers.empty()) {
    RunToolsOptions options;
    options.cancelled = ctx_.cancelled;
    TIDE_ASSIGN_OR_RETURN(run_tools, RunTools::Start(spec_, options));
    for (const auto& world_tool : episode->tools()) {
      const auto& names = run_tools->Names();
      if (std::find(names.begin(), names.end(), world_tool->spec().name) != names.end()) {
        return InvalidArgument("the run's tool \"" + world_tool->spec().name + "\" has the name of a tool of world " +
                               spec_.world);
      }
    }
  }
  workers::RunBudget budget(spec_.max_tokens, spec_.max_tool_calls);
  SwarmCrew crew(spec_, ctx_, episode->tools(), &budget, run_tools.get());
  JournalScope journal(ctx_.journal, kCoordinatorName, ctx_.policy);
  workers::ToolRegistry coordinator_tools;
  for (auto& tool : crew.CoordinatorTools()) TIDE_RETURN_IF_ERROR(coordinator_tools.Add(std::move(tool)));
  if (run_tools) {
    TIDE_ASSIGN_OR_RETURN(std::vector<std::shared_ptr<workers::Tool>> extra, run_tools->ForAgent(kCoordinatorName));
    for (auto& tool : extra) {
      TIDE_RETURN_IF_ERROR(coordinator_tools.Add(journal.Wrap(std::move(tool))).WithContext("the coordinator's tools"));
    }
  }

  Watchdog watchdog(spec_.timeout_s, ctx_.cancelled);
  Status started = ctx_.sink->Emit(EventKind::EVENT_KIND_AGENT_STARTED, kCoordinatorName, "",
                                   {{"role", "coordinator"}, {"task", episode->public_task()},
                                    {"tools", workers::ToJson(coordinator_tools.Specs())}});
  if (!started.ok()) return started;
  CoordinatorObserver observer(ctx_.sink, ctx_.cancelled, &crew);
  workers::Agent coordinator({kCoordinatorName, spec_.max_coordinator_steps, ctx_.cancelled, &budget},
                             journal.policy(), &coordinator_tools, &observer);
  workers::AgentOutcome outcome =
      coordinator.Run({workers::Message::System(crew.CoordinatorPrompt()), workers::Message::User(episode->prompt())});
  watchdog.Stop();
  Status finished = ctx_.sink->Emit(EventKind::EVENT_KIND_AGENT_FINISHED, kCoordinatorName, "", OutcomePayload(outcome));

  counters_ = crew.counters();
  counters_.tool_errors += outcome.tool_errors;
  counters_.tool_timeouts += outcome.tool_timeouts;
  spent_.set_subagents(counters_.subagents);
  spent_.set_finished_subagents(counters_.finished_subagents);
  spent_.set_tool_calls(outcome.tool_calls + counters_.subagent_tool_calls);
  spent_.set_total_steps(outcome.steps + counters_.subagent_steps);
  // Kimi K2.5's latency measure: each coordinator step, plus the slowest sub-agent of each
  // stage (coordinator turn) that started any.
  spent_.set_critical_steps(outcome.steps + counters_.stage_critical_steps);
  workers::Usage usage = outcome.usage;
  usage += counters_.usage;
  spent_.mutable_usage()->set_prompt_tokens(usage.prompt_tokens);
  spent_.mutable_usage()->set_completion_tokens(usage.completion_tokens);
  spent_.mutable_usage()->set_total_tokens(usage.total());
  spent_.set_wall_s(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (Status s = crew.failure(); !s.ok()) return s.WithContext("storing the run's events failed");
  TIDE_RETURN_IF_ERROR(finished);
  if (watchdog.hit()) {
    return DeadlineExceeded("the run passed its deadline of " + std::to_string(spec_.timeout_s) + " s");
  }
  if (outcome.end == workers::AgentEnd::kCancelled) return Cancelled("the run was cancelled");
  if (outcome.end != workers::AgentEnd::kFinished) return outcome.error;

  const env::Verdict verdict = episode->Verify(outcome.result);
  tide::v1::RunResult result = spent_;
  result.set_reward(verdict.reward);
  result.set_item_f1(verdict.item_f1);
  result.set_success(verdict.success);
  result.set_wall_s(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  result.set_answer_json(outcome.result);
  result.set_verdict_json(verdict.details.dump());
  TIDE_LOG(Info) << "swarm finished: item_f1=" << verdict.item_f1 << " subagents=" << counters_.subagents
                 << " tool_errors=" << counters_.tool_errors << " tool_timeouts=" << counters_.tool_timeouts;
  return result;
}

}  // namespace tide::orchestrator
