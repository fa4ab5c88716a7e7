// Swarm: runs one swarm to its end. The coordinator agent gets the task and one tool,
// spawn_subagents; each call of it starts sub-agents that run concurrently on a shared
// Boost.Asio thread pool, each with its own context and its own subset of the world's
// tools. Only a sub-agent's final report enters the coordinator's context. When the
// coordinator answers, the env's verifier scores the answer.
//
// Every message, tool result and agent start/end is reported to an EventSink before the
// run moves on, so the sink can store it first. Cancellation (the flag) and the deadline
// stop every agent at its next step or tool call.
// Thread safety: Run is called once per Swarm; the sink must be thread-safe (sub-agents
// emit concurrently).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/env/world.h"
#include "tide/orchestrator/swarm_spec.h"
#include "tide/v1/orchestrator.pb.h"
#include "tide/workers/policy.h"

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
};

class Swarm {
 public:
  Swarm(SwarmSpec spec, SwarmContext context);

  // Runs the swarm. OK with a scored result when the coordinator answered (a low score is
  // still OK); CANCELLED, DEADLINE_EXCEEDED or another error otherwise.
  Result<tide::v1::RunResult> Run();

 private:
  class SpawnTool;
  friend class SpawnTool;

  SwarmSpec spec_;
  SwarmContext ctx_;
};

}  // namespace tide::orchestrator
