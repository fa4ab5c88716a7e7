#include "tide/orchestrator/swarm_tools.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "tide/orchestrator/call_journal.h"
#include "tide/workers/tool_registry.h"
#include "tide/workers/tool_timeout.h"

namespace tide::orchestrator {
namespace {

using nlohmann::json;
using tide::v1::EventKind;

std::future<workers::ToolOutput> ReadyOutput(Result<std::string> result) {
  std::promise<workers::ToolOutput> p;
  workers::ToolOutput out;
  out.result = std::move(result);
  p.set_value(std::move(out));
  return p.get_future();
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

// A world tool that answers after `latency`, as a remote one would (a web search takes
// ~100 ms); the wait ends early when the run is cancelled.
class LatencyTool : public workers::Tool {
 public:
  LatencyTool(std::shared_ptr<workers::Tool> inner, std::chrono::milliseconds latency, const std::atomic<bool>* cancelled)
      : inner_(std::move(inner)), latency_(latency), cancelled_(cancelled) {}
  const workers::ToolSpec& spec() const override { return inner_->spec(); }
  Result<std::string> Call(const json& arguments) override {
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

}  // namespace

SinkObserver::SinkObserver(EventSink* sink, std::string agent, std::string parent, std::atomic<bool>* cancelled,
                           std::function<void(Status)> on_failure)
    : sink_(sink), agent_(std::move(agent)), parent_(std::move(parent)), cancelled_(cancelled),
      on_failure_(std::move(on_failure)) {}

void SinkObserver::OnMessage(const workers::Message& m) {
  Check(sink_->Emit(EventKind::EVENT_KIND_MESSAGE, agent_, parent_, workers::ToJson(m)));
}

void SinkObserver::OnToolResult(const workers::ToolCall& call, const workers::ToolObservation& obs, double ms) {
  json payload = {{"tool_call_id", call.id}, {"name", call.name}, {"is_error", obs.is_error}, {"ms", ms}};
  if (obs.is_error) {
    payload["error"] = workers::ToolErrorName(obs.error);
    payload["content"] = obs.content;
  }
  Check(sink_->Emit(EventKind::EVENT_KIND_TOOL_RESULT, agent_, parent_, payload));
}

void SinkObserver::Check(Status s) {
  if (s.ok()) return;
  on_failure_(s);
  cancelled_->store(true);
}

json OutcomePayload(const workers::AgentOutcome& o) {
  json j = {{"status", workers::AgentEndName(o.end)},
            {"steps", o.steps},
            {"tool_calls", o.tool_calls},
            {"tool_errors", o.tool_errors},
            {"tool_timeouts", o.tool_timeouts},
            {"reprompted", o.reprompted},
            {"result", o.result},
            {"usage", workers::ToJson(o.usage)}};
  if (!o.error.ok()) j["error"] = o.error.ToString();
  return j;
}

// --- the coordinator's tools -------------------------------------------------------------

class SwarmCrew::SpawnTool : public workers::Tool {
 public:
  explicit SpawnTool(SwarmCrew* crew)
      : crew_(crew), spec_(workers::SpawnSubagentsSpec(crew->spec_.max_subagents, crew->offered_names_)) {}
  const workers::ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const json& arguments) override { return Start(arguments).get().result; }

  std::future<workers::ToolOutput> Start(const json& arguments) override {
    Result<std::vector<workers::SubagentTask>> tasks = workers::ParseSpawnArguments(arguments, crew_->offered_names_);
    if (!tasks.ok()) return ReadyOutput(tasks.status());
    std::vector<std::string> names;
    for (const auto& t : *tasks) names.push_back(t.name);
    if (Status s = crew_->Reserve(names); !s.ok()) return ReadyOutput(s);
    std::vector<SubagentRun> runs;
    for (const auto& t : *tasks) runs.push_back({t.name, crew_->ResearcherPrompt(t.name), t.instructions, t.tools, ""});
    return crew_->Launch(std::move(runs));
  }

 private:
  SwarmCrew* crew_;
  workers::ToolSpec spec_;
};

class SwarmCrew::CreateTool : public workers::Tool {
 public:
  explicit CreateTool(SwarmCrew* crew)
      : crew_(crew), spec_(workers::CreateSubagentSpec(crew->spec_.max_subagents, crew->offered_names_)) {}
  const workers::ToolSpec& spec() const override { return spec_; }

  Result<std::string> Call(const json& arguments) override {
    TIDE_ASSIGN_OR_RETURN(workers::SubagentDefinition d,
                          workers::ParseCreateArguments(arguments, crew_->offered_names_));
    TIDE_RETURN_IF_ERROR(crew_->Reserve({d.name}));
    std::vector<std::string> tools = d.tools.empty() ? crew_->offered_names_ : d.tools;
    {
      std::lock_guard<std::mutex> lock(crew_->mu_);
      crew_->defined_[d.name] = d;
    }
    return json{{"created", d.name}, {"tools", tools}}.dump();
  }

 private:
  SwarmCrew* crew_;
  workers::ToolSpec spec_;
};

class SwarmCrew::AssignTool : public workers::Tool {
 public:
  explicit AssignTool(SwarmCrew* crew) : crew_(crew), spec_(workers::AssignTaskSpec()) {}
  const workers::ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const json& arguments) override { return Start(arguments).get().result; }

  std::future<workers::ToolOutput> Start(const json& arguments) override {
    Result<workers::TaskAssignment> a = workers::ParseAssignArguments(arguments);
    if (!a.ok()) return ReadyOutput(a.status());
    SubagentRun run;
    {
      std::lock_guard<std::mutex> lock(crew_->mu_);
      auto it = crew_->defined_.find(a->agent);
      if (it == crew_->defined_.end()) {
        std::vector<std::string> known;
        for (const auto& [name, d] : crew_->defined_) known.push_back(name);
        return ReadyOutput(NotFound("no sub-agent named \"" + a->agent +
                                    "\"; create it with create_subagent first (created: " + JoinNames(known) + ")"));
      }
      const int k = ++crew_->assignments_[a->agent];
      run = {k == 1 ? a->agent : a->agent + "#" + std::to_string(k), it->second.system_prompt, a->task,
             it->second.tools, a->agent};
    }
    return crew_->Launch({std::move(run)});
  }

 private:
  SwarmCrew* crew_;
  workers::ToolSpec spec_;
};

// --- the crew ----------------------------------------------------------------------------

// The sub-agents of one swarm tool call; the last one to end answers the call. Touched
// only by completion handlers, which the crew's strand runs one at a time.
struct SwarmCrew::Batch {
  std::vector<workers::SubagentReport> reports;
  size_t left = 0;
  std::promise<workers::ToolOutput> promise;
};

SwarmCrew::SwarmCrew(const SwarmSpec& spec, const SwarmContext& ctx, std::vector<std::shared_ptr<workers::Tool>> world_tools,
                     workers::RunBudget* budget, RunTools* run_tools)
    : spec_(spec),
      ctx_(ctx),
      budget_(budget),
      world_tools_(std::move(world_tools)),
      run_tools_(run_tools),
      completions_(boost::asio::make_strand(ctx.pool->get_executor())) {
  for (auto& t : world_tools_) {
    if (ctx_.wrap_world_tool) t = ctx_.wrap_world_tool(t);
    if (spec_.tool_latency_ms > 0) {
      t = std::make_shared<LatencyTool>(t, std::chrono::milliseconds(spec_.tool_latency_ms), ctx_.cancelled);
    }
    if (spec_.tool_timeout_ms > 0) {
      t = std::make_shared<workers::TimeoutTool>(t, std::chrono::milliseconds(spec_.tool_timeout_ms), ctx_.cancelled);
    }
    world_tool_names_.push_back(t->spec().name);
  }
  offered_names_ = world_tool_names_;
  if (run_tools_ != nullptr) {
    offered_names_.insert(offered_names_.end(), run_tools_->Names().begin(), run_tools_->Names().end());
  }
}

SwarmCrew::~SwarmCrew() = default;

std::vector<std::shared_ptr<workers::Tool>> SwarmCrew::CoordinatorTools() {
  if (spec_.swarm_tools == "create_assign") {
    return {std::make_shared<CreateTool>(this), std::make_shared<AssignTool>(this)};
  }
  return {std::make_shared<SpawnTool>(this)};
}

std::string SwarmCrew::CoordinatorPrompt() const {
  const std::string limit = std::to_string(spec_.max_subagents);
  if (spec_.swarm_tools == "create_assign") {
    return "You are the coordinator of an agent swarm. Split the task into independent sub-tasks. Create sub-agents "
           "with create_subagent (at most " + limit + "), then give each a sub-task with assign_task; the "
           "assign_task calls of one turn run in parallel, each in a fresh context, and return only results. Then "
           "give the final answer.";
  }
  return "You are the coordinator of an agent swarm. Split the task into independent sub-tasks and hand "
         "them to sub-agents with spawn_subagents (at most " + limit +
         "); they run in parallel and return only their results. Then give the final answer.";
}

std::string SwarmCrew::ResearcherPrompt(const std::string& name) const {
  return "You are " + name + ", a research sub-agent in a swarm. Work only through your tools. "
         "When you are done, answer with your final result alone; it is all the coordinator will see.";
}

void SwarmCrew::NextTurn() {
  std::lock_guard<std::mutex> lock(mu_);
  ++turn_;
}

SwarmCounters SwarmCrew::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  SwarmCounters c = counters_;
  c.stage_critical_steps = 0;
  for (const auto& [turn, steps] : turn_slowest_) c.stage_critical_steps += steps;
  return c;
}

Status SwarmCrew::failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

void SwarmCrew::RecordFailure(const Status& s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (failure_.ok()) failure_ = s;
  }
  ctx_.cancelled->store(true);
}

Status SwarmCrew::Reserve(const std::vector<std::string>& names) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& n : names) {
    if (names_.count(n)) return InvalidArgument("sub-agent name \"" + n + "\" is already used in this run");
  }
  if (counters_.created + static_cast<int>(names.size()) > spec_.max_subagents) {
    return ResourceExhausted("this run may start at most " + std::to_string(spec_.max_subagents) + " sub-agents; " +
                             std::to_string(counters_.created) + " already started, " + std::to_string(names.size()) +
                             " more asked for");
  }
  names_.insert(names.begin(), names.end());
  counters_.created += static_cast<int>(names.size());
  return Status::Ok();
}

std::future<workers::ToolOutput> SwarmCrew::Launch(std::vector<SubagentRun> runs) {
  if (runs.empty()) return ReadyOutput(workers::FormatSubagentReports({}));
  int turn = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_ + static_cast<int>(runs.size()) > spec_.max_subagents) {
      return ReadyOutput(ResourceExhausted("at most " + std::to_string(spec_.max_subagents) +
                                           " sub-agents may run at once; " + std::to_string(running_) +
                                           " are running, " + std::to_string(runs.size()) + " more asked for"));
    }
    running_ += static_cast<int>(runs.size());
    counters_.subagents += static_cast<int>(runs.size());
    turn = turn_;
  }
  auto batch = std::make_shared<Batch>();
  batch->reports.resize(runs.size());
  batch->left = runs.size();
  std::future<workers::ToolOutput> result = batch->promise.get_future();
  for (size_t i = 0; i < runs.size(); ++i) {
    // The sub-agent runs on any thread of the pool; its completion on the crew's strand.
    boost::asio::post(*ctx_.pool, [this, batch, i, turn, run = std::move(runs[i])] {
      SubagentEnd end = RunSubagent(run);
      boost::asio::post(completions_, [this, batch, i, turn, end = std::move(end)]() mutable {
        Complete(end.outcome, turn);
        // From here on only the batch is touched: once the promise is set the crew may go
        // (the strand's state is shared by its handlers, not owned by the crew).
        batch->reports[i] = std::move(end.report);
        if (--batch->left > 0) return;
        workers::ToolOutput out;
        out.result = workers::FormatSubagentReports(batch->reports);
        batch->promise.set_value(std::move(out));
      });
    });
  }
  return result;
}

SwarmCrew::SubagentEnd SwarmCrew::RunSubagent(const SubagentRun& run) {
  EventSink* sink = ctx_.sink;
  workers::SubagentReport report;
  report.name = run.name;
  workers::AgentOutcome outcome;
  {
    workers::ToolRegistry registry;
    JournalScope journal(ctx_.journal, run.name, ctx_.policy);
    auto wanted = [&](const std::shared_ptr<workers::Tool>& t) {
      return run.tools.empty() || std::find(run.tools.begin(), run.tools.end(), t->spec().name) != run.tools.end();
    };
    for (const auto& t : world_tools_) {
      if (wanted(t)) (void)registry.Add(journal.Wrap(t));  // names are unique: they come from one world
    }
    Status tools_ready = Status::Ok();
    if (run_tools_ != nullptr) {
      // A created agent keeps its notes and scratch directory across its assignments.
      Result<std::vector<std::shared_ptr<workers::Tool>>> extra =
          run_tools_->ForAgent(run.defined_as.empty() ? run.name : run.defined_as);
      tools_ready = extra.status();
      for (const auto& t : extra.ok() ? *extra : std::vector<std::shared_ptr<workers::Tool>>{}) {
        // Run tool names never clash with the world's: Swarm::Run refuses a run where they would.
        if (wanted(t)) (void)registry.Add(journal.Wrap(t));
      }
    }
    json started = {{"role", "subagent"}, {"instructions", run.task}, {"system_prompt", run.system_prompt},
                    {"tools", workers::ToJson(registry.Specs())}};
    if (!run.defined_as.empty()) started["agent"] = run.defined_as;
    if (Status s = sink->Emit(EventKind::EVENT_KIND_AGENT_STARTED, run.name, kCoordinatorName, started); !s.ok()) {
      RecordFailure(s);
      outcome.end = workers::AgentEnd::kFailed;
      outcome.error = s;
    } else if (!tools_ready.ok()) {  // its report says why; the run goes on
      outcome.end = workers::AgentEnd::kFailed;
      outcome.error = tools_ready;
      if (Status f = sink->Emit(EventKind::EVENT_KIND_AGENT_FINISHED, run.name, kCoordinatorName, OutcomePayload(outcome));
          !f.ok()) {
        RecordFailure(f);
      }
    } else {
      SinkObserver observer(sink, run.name, kCoordinatorName, ctx_.cancelled, [this](Status st) { RecordFailure(st); });
      workers::Agent agent({run.name, spec_.max_subagent_steps, ctx_.cancelled, budget_, workers::kMinSubagentResultChars},
                           journal.policy(), &registry, &observer);
      try {
        outcome = agent.Run({workers::Message::System(run.system_prompt), workers::Message::User(run.task)});
      } catch (const std::exception& e) {  // a policy that throws ends its agent, not the process
        outcome.end = workers::AgentEnd::kFailed;
        outcome.error = Internal("agent " + run.name + " failed: " + e.what());
      } catch (...) {
        outcome.end = workers::AgentEnd::kFailed;
        outcome.error = Internal("agent " + run.name + " failed with an unknown exception");
      }
      // An unrecorded end fails the run like any other event: its report must not reach
      // the coordinator as if it had been stored.
      if (Status s = sink->Emit(EventKind::EVENT_KIND_AGENT_FINISHED, run.name, kCoordinatorName,
                                OutcomePayload(outcome));
          !s.ok()) {
        RecordFailure(s);
      }
    }
  }
  report.status = workers::AgentEndName(outcome.end);
  report.result = outcome.end == workers::AgentEnd::kFinished ? outcome.result : outcome.error.ToString();
  report.steps = outcome.steps;
  report.tool_calls = outcome.tool_calls;
  return {std::move(report), std::move(outcome)};
}

void SwarmCrew::Complete(const workers::AgentOutcome& outcome, int turn) {
  std::lock_guard<std::mutex> lock(mu_);  // the coordinator's thread reads these too
  --running_;
  counters_.subagent_steps += outcome.steps;
  counters_.subagent_tool_calls += outcome.tool_calls;
  counters_.tool_errors += outcome.tool_errors;
  counters_.tool_timeouts += outcome.tool_timeouts;
  counters_.reprompted += outcome.reprompted ? 1 : 0;
  counters_.usage += outcome.usage;
  if (outcome.end == workers::AgentEnd::kFinished) ++counters_.finished_subagents;
  int& slowest = turn_slowest_[turn];
  slowest = std::max(slowest, outcome.steps);
}

}  // namespace tide::orchestrator
