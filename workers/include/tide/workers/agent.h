// Agent: one agent's loop. Each step asks the policy for an assistant message, runs the
// tool calls it contains, appends the observations, and repeats until the assistant
// answers without tool calls (its content is the agent's result), the step limit is
// reached, the run's budget is spent, the run is cancelled, or the policy fails.
//
// The calls of one turn are started in order (ToolRegistry::Begin) before the agent waits
// for them, so calls whose tools return at once (sub-agents) run in parallel; ordinary
// tools run inside Begin, one after another, and each one's result is reported before the
// next starts. Observations enter the context in the order of the calls.
//
// Short answers: with min_result_chars > 0, a final answer shorter than that is sent back
// once with kContinuePrompt (as Kimi CLI does for its sub-agents), since whoever reads the
// result sees nothing else of the agent's work; the second answer stands, however short.
//
// Every message added to the context is reported to the observer before the next step,
// so a swarm can store it before anything else happens. The context is the agent's own:
// nothing outside the agent reads it while it runs.
// Thread safety: an Agent is driven by one thread at a time; many agents may run at once.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/workers/message.h"
#include "tide/workers/policy.h"
#include "tide/workers/run_budget.h"
#include "tide/workers/tool_registry.h"

namespace tide::workers {

enum class AgentEnd { kFinished, kStepLimit, kCancelled, kFailed, kBudgetExhausted };
const char* AgentEndName(AgentEnd end);  // "finished", ..., "budget_exhausted"

extern const char kContinuePrompt[];

struct AgentOutcome {
  AgentEnd end = AgentEnd::kFailed;
  std::string result;  // the final assistant content when kFinished
  int steps = 0;       // policy calls made
  int tool_calls = 0;  // calls started (refused and cancelled calls are not counted)
  int tool_errors = 0;    // observations with is_error, of every kind
  int tool_timeouts = 0;  // of which timed out
  bool reprompted = false;  // a short answer was sent back once
  Usage usage;
  Status error;  // why, when not kFinished
};

class AgentObserver {
 public:
  virtual ~AgentObserver() = default;
  // A message entered the agent's context (system and user messages included).
  virtual void OnMessage(const Message& message) = 0;
  // A tool call finished; `elapsed_ms` is its wall time.
  virtual void OnToolResult(const ToolCall& call, const ToolObservation& observation, double elapsed_ms) = 0;
};

struct AgentOptions {
  std::string name;
  int max_steps = 100;
  const std::atomic<bool>* cancelled = nullptr;  // checked before every step and tool call
  RunBudget* budget = nullptr;                   // shared by the run's agents; null = unlimited
  int min_result_chars = 0;                      // 0: never re-prompt a short answer
};

class Agent {
 public:
  // `policy` and `tools` must outlive the agent; `observer` may be null.
  Agent(AgentOptions options, Policy* policy, const ToolRegistry* tools, AgentObserver* observer);

  // Runs to an end. `initial` is the starting context (system prompt, user task).
  AgentOutcome Run(std::vector<Message> initial);

  const std::vector<Message>& context() const { return context_; }

 private:
  void Append(Message m);
  void RunCalls(const std::vector<ToolCall>& calls, AgentOutcome* out);

  AgentOptions options_;
  Policy* policy_;
  const ToolRegistry* tools_;
  AgentObserver* observer_;
  std::vector<Message> context_;
};

}  // namespace tide::workers
