// Swarm: runs one swarm to its end. The coordinator agent gets the task and the swarm
// tools of spec.swarm_tools: spawn_subagents, or create_subagent + assign_task (the
// SwarmCrew, swarm_tools.h, runs them). Sub-agents run concurrently on a shared
// Boost.Asio thread pool, each with its own context and its own subset of the world's
// tools; only a sub-agent's final report enters the coordinator's context. When the
// coordinator answers, the env's verifier scores the answer.
// The spec's builtin_tools and mcp_servers (run_tools.h) are offered to the coordinator and
// every sub-agent beside the world's tools; MCP servers start before the coordinator (one
// that cannot start fails the run naming it) and stop when the run ends.
//
// Limits: max_subagents (a swarm tool call over it is an error observation, the run goes
// on), steps per agent, a token and a tool-call budget shared by every agent of the run
// (spent: agents end "budget_exhausted", the run fails RESOURCE_EXHAUSTED
// "budget_exhausted: ..."), a per-call timeout of world tools (a hung call is abandoned
// and read as a timeout error; tool_timeout.h says what happens to its thread), and the
// wall-clock deadline (DEADLINE_EXCEEDED).
//
// Every message, tool result and agent start/end is reported to an EventSink before the
// run moves on, so the sink can store it first. Cancellation (the flag) and the deadline
// stop every agent at its next step or tool call.
// Thread safety: Run is called once per Swarm; the sink must be thread-safe (sub-agents
// emit concurrently).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/env/world.h"
#include "tide/orchestrator/swarm_spec.h"
#include "tide/v1/orchestrator.pb.h"
#include "tide/workers/policy.h"
#include "tide/workers/tool.h"

namespace tide::orchestrator {

inline constexpr char kCoordinatorName[] = "coordinator";

class CallJournal;  // call_journal.h

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Stores the event durably; a failure stops the run (nothing unrecorded may happen).
  virtual Status Emit(tide::v1::EventKind kind, const std::string& agent, const std::string& parent,
                      const nlohmann::json& payload) = 0;
};

struct SwarmContext {
  workers::Policy* policy = nullptr;          // shared by every agent of the run
  boost::asio::thread_pool* pool = nullptr;   // runs the sub-agents
  EventSink* sink = nullptr;
  std::atomic<bool>* cancelled = nullptr;     // set to stop the run
  // When set, every policy call and every world tool call goes through it (journaled, and
  // replayed on a resumed run instead of made again; call_journal.h).
  CallJournal* journal = nullptr;
  // When set, wraps each of the world's tools before any agent gets it (fault injection
  // in tests, instrumentation); the simulated latency and the timeout wrap its result.
  std::function<std::shared_ptr<workers::Tool>(std::shared_ptr<workers::Tool>)> wrap_world_tool;
};

// What a run did, beyond RunResult: every agent's error observations by kind included.
struct SwarmCounters {
  int subagents = 0;           // sub-agent contexts run: each spawned sub-agent, each assign_task
  int finished_subagents = 0;  // of which reached a final answer
  int created = 0;             // sub-agents spawned or created (bounded by max_subagents)
  int subagent_steps = 0;
  int subagent_tool_calls = 0;
  int stage_critical_steps = 0;  // Σ over coordinator turns of the slowest sub-agent it started
  int tool_errors = 0;           // error observations of all agents (timeouts included)
  int tool_timeouts = 0;
  int reprompted = 0;  // sub-agents whose short answer was sent back once
  workers::Usage usage;  // of the sub-agents
};

class Swarm {
 public:
  Swarm(SwarmSpec spec, SwarmContext context);

  // Runs the swarm. OK with a scored result when the coordinator answered (a low score is
  // still OK); CANCELLED, DEADLINE_EXCEEDED or another error otherwise.
  Result<tide::v1::RunResult> Run();

  // The run's counters, coordinator included (complete once Run has returned).
  const SwarmCounters& counters() const { return counters_; }
  // What the run spent (tokens, steps, tool calls, sub-agents, wall time), also when Run
  // failed after the coordinator started: a failed run still reports its cost. Empty before.
  const tide::v1::RunResult& spent() const { return spent_; }

 private:
  SwarmSpec spec_;
  SwarmContext ctx_;
  SwarmCounters counters_;
  tide::v1::RunResult spent_;
};

}  // namespace tide::orchestrator
