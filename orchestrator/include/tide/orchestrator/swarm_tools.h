// SwarmCrew: the sub-agents of one swarm run and the coordinator's tools that start them
// (workers/swarm_protocol.h has their contract):
//  * spawn_subagents: every sub-task of the call runs at once; one report list returns.
//  * create_subagent: defines a named agent (system prompt, tools); runs nothing.
//  * assign_task: runs one task on a created agent, in a fresh context made of the agent's
//    system prompt and the task (Kimi CLI's Task tool does the same), so assignments never
//    see each other and the same agent may work on several tasks at once. Its events carry
//    the agent's name, "#k" added from its second task on ("researcher-1#2").
// Swarm tool calls return at once (Tool::Start), so all those of one coordinator turn run
// in parallel; the turn's stage counts its slowest sub-agent in critical steps.
// Every sub-agent's final answer under kMinSubagentResultChars is sent back once for the
// full result.
//
// Limits: spawned + created sub-agents <= max_subagents, and at most max_subagents
// sub-agents running at once; a call over a limit, a duplicate or unknown name, an unknown
// tool is an error observation for the coordinator, and the run goes on.
//
// Ownership: borrows the spec, context and budget, which must outlive it; the crew must
// outlive every tool it made and every call started (the coordinator's agent waits for
// the calls of each turn, so a crew local to Swarm::Run does).
// Scheduling: sub-agents run on the context's Boost.Asio pool; each one's completion (its
// report, the crew's counters, the stage's slowest sub-agent, answering the tool call when
// it is the batch's last) runs on the crew's strand of that pool, one at a time.
// Thread safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "tide/orchestrator/run_tools.h"
#include "tide/orchestrator/swarm.h"
#include "tide/workers/agent.h"
#include "tide/workers/run_budget.h"
#include "tide/workers/swarm_protocol.h"
#include "tide/workers/tool.h"

namespace tide::orchestrator {

// Reports an agent's context to the sink. The first failure to store an event is handed
// to on_failure and cancels the run: nothing may happen that the store does not know of.
class SinkObserver : public workers::AgentObserver {
 public:
  SinkObserver(EventSink* sink, std::string agent, std::string parent, std::atomic<bool>* cancelled,
               std::function<void(Status)> on_failure);
  void OnMessage(const workers::Message& m) override;
  // TOOL_RESULT payload: {tool_call_id, name, is_error, ms} and, for an error, {error: its
  // kind ("timed_out", ...), content: the error text}.
  void OnToolResult(const workers::ToolCall& call, const workers::ToolObservation& obs, double ms) override;

 private:
  void Check(Status s);

  EventSink* sink_;
  std::string agent_, parent_;
  std::atomic<bool>* cancelled_;
  std::function<void(Status)> on_failure_;
};

// AGENT_FINISHED payload: {status, steps, tool_calls, tool_errors, tool_timeouts,
// reprompted, result, usage[, error]}.
nlohmann::json OutcomePayload(const workers::AgentOutcome& outcome);

class SwarmCrew {
 public:
  // `world_tools`: the episode's tools; each is wrapped by ctx.wrap_world_tool, then the
  // simulated latency, then the timeout, as the spec asks. `run_tools` (may be null): the
  // built-in and MCP tools the spec adds, offered to every sub-agent beside the world's.
  SwarmCrew(const SwarmSpec& spec, const SwarmContext& ctx, std::vector<std::shared_ptr<workers::Tool>> world_tools,
            workers::RunBudget* budget, RunTools* run_tools = nullptr);
  ~SwarmCrew();
  SwarmCrew(const SwarmCrew&) = delete;
  SwarmCrew& operator=(const SwarmCrew&) = delete;

  // The coordinator's tools for spec.swarm_tools.
  std::vector<std::shared_ptr<workers::Tool>> CoordinatorTools();
  // The coordinator's system prompt for spec.swarm_tools.
  std::string CoordinatorPrompt() const;
  // The coordinator began a turn: sub-agents started from now on belong to its stage.
  void NextTurn();

  SwarmCounters counters() const;  // sub-agents only
  Status failure() const;          // the first event that could not be stored, or OK
  void RecordFailure(const Status& s);

 private:
  class SpawnTool;
  class CreateTool;
  class AssignTool;
  struct Batch;
  struct SubagentRun {
    std::string name;  // in events
    std::string system_prompt;
    std::string task;
    std::vector<std::string> tools;  // empty: all the world's and the run's
    std::string defined_as;          // assign_task: the created agent's name
  };

  // Reserves `names` and counts them against max_subagents.
  Status Reserve(const std::vector<std::string>& names);
  struct SubagentEnd {
    workers::SubagentReport report;
    workers::AgentOutcome outcome;
  };

  // Runs `runs` on the pool, each ending with a completion on the strand; the future
  // yields FormatSubagentReports of all of them.
  std::future<workers::ToolOutput> Launch(std::vector<SubagentRun> runs);
  SubagentEnd RunSubagent(const SubagentRun& run);
  // On the strand: counts a sub-agent's end in the crew's counters and its stage.
  void Complete(const workers::AgentOutcome& outcome, int turn);
  std::string ResearcherPrompt(const std::string& name) const;

  const SwarmSpec& spec_;
  const SwarmContext& ctx_;
  workers::RunBudget* budget_;
  std::vector<std::shared_ptr<workers::Tool>> world_tools_;
  std::vector<std::string> world_tool_names_;
  RunTools* run_tools_;
  std::vector<std::string> offered_names_;  // the world's, then the run's: what a sub-agent may get

  mutable std::mutex mu_;
  Status failure_;
  SwarmCounters counters_;
  std::set<std::string> names_;                                  // spawned or created
  std::map<std::string, workers::SubagentDefinition> defined_;  // by create_subagent
  std::map<std::string, int> assignments_;                       // per defined agent
  std::map<int, int> turn_slowest_;                              // turn -> most steps
  int turn_ = 0;
  int running_ = 0;
  // Sub-agent completions, one at a time: the batch they answer needs no lock.
  boost::asio::strand<boost::asio::thread_pool::executor_type> completions_;
};

}  // namespace tide::orchestrator
