#include "tide/workers/agent.h"

#include <chrono>

namespace tide::workers {

const char kContinuePrompt[] =
    "Your final answer is very short. Whoever gave you this task sees only your final answer, none of your "
    "tool calls, so give your complete result now: everything you found, in the requested format.";

const char* AgentEndName(AgentEnd end) {
  switch (end) {
    case AgentEnd::kFinished: return "finished";
    case AgentEnd::kStepLimit: return "step_limit";
    case AgentEnd::kCancelled: return "cancelled";
    case AgentEnd::kFailed: return "failed";
    case AgentEnd::kBudgetExhausted: return "budget_exhausted";
  }
  return "failed";
}

Agent::Agent(AgentOptions options, Policy* policy, const ToolRegistry* tools, AgentObserver* observer)
    : options_(std::move(options)), policy_(policy), tools_(tools), observer_(observer) {}

void Agent::Append(Message m) {
  context_.push_back(std::move(m));
  if (observer_) observer_->OnMessage(context_.back());
}

void Agent::RunCalls(const std::vector<ToolCall>& calls, AgentOutcome* out) {
  auto cancelled = [&] { return options_.cancelled && options_.cancelled->load(std::memory_order_relaxed); };
  std::vector<PendingToolCall> pending;
  pending.reserve(calls.size());
  size_t reported = 0;
  // Reports finished calls in order; with `wait`, blocks for each.
  auto report = [&](bool wait) {
    while (reported < pending.size() && (wait || pending[reported].ready())) {
      PendingToolCall& p = pending[reported];
      ToolObservation obs = p.Wait();
      if (obs.is_error) ++out->tool_errors;
      if (obs.error == ToolError::kTimedOut) ++out->tool_timeouts;
      if (observer_) observer_->OnToolResult(calls[reported], obs, p.elapsed_ms());
      Append(Message::Tool(calls[reported].id, obs.content));
      ++reported;
    }
  };
  for (const ToolCall& call : calls) {
    if (cancelled()) {
      pending.push_back(PendingToolCall::Ready(
          ErrorObservation(ToolError::kCancelled, "the run was cancelled before this call ran")));
    } else if (options_.budget != nullptr && !options_.budget->TryToolCall()) {
      pending.push_back(PendingToolCall::Ready(ErrorObservation(
          ToolError::kBudget, "the run's tool-call budget of " + std::to_string(options_.budget->max_tool_calls()) +
                                  " is spent; this call did not run")));
    } else {
      pending.push_back(tools_->Begin(call));
      ++out->tool_calls;
    }
    report(/*wait=*/false);
  }
  report(/*wait=*/true);
}

AgentOutcome Agent::Run(std::vector<Message> initial) {
  AgentOutcome out;
  for (auto& m : initial) Append(std::move(m));
  const std::vector<ToolSpec> specs = tools_->Specs();
  auto cancelled = [&] { return options_.cancelled && options_.cancelled->load(std::memory_order_relaxed); };

  while (true) {
    if (cancelled()) {
      out.end = AgentEnd::kCancelled;
      out.error = Cancelled("agent " + options_.name + " was cancelled");
      return out;
    }
    if (options_.budget != nullptr) {
      if (Status s = options_.budget->Check(); !s.ok()) {
        out.end = AgentEnd::kBudgetExhausted;
        out.error = s.WithContext("agent " + options_.name);
        return out;
      }
    }
    if (out.steps >= options_.max_steps) {
      out.end = AgentEnd::kStepLimit;
      out.error = ResourceExhausted("agent " + options_.name + " reached its step limit of " +
                                    std::to_string(options_.max_steps));
      return out;
    }
    PolicyRequest request{&context_, &specs, options_.name, options_.cancelled};
    Result<PolicyResponse> reply = policy_->Generate(request);
    ++out.steps;
    if (!reply.ok()) {
      out.end = cancelled() ? AgentEnd::kCancelled : AgentEnd::kFailed;
      out.error = reply.status().WithContext("policy " + policy_->name() + " failed for agent " + options_.name);
      return out;
    }
    out.usage += reply->usage;
    if (options_.budget != nullptr) options_.budget->AddTokens(reply->usage.total());
    Message message = std::move(reply->message);
    message.role = "assistant";
    const std::vector<ToolCall> calls = message.tool_calls;
    const std::string content = message.content;
    Append(std::move(message));
    if (calls.empty()) {
      if (options_.min_result_chars > 0 && !out.reprompted && static_cast<int>(content.size()) < options_.min_result_chars &&
          out.steps < options_.max_steps) {
        out.reprompted = true;
        Append(Message::User(kContinuePrompt));
        continue;
      }
      out.end = AgentEnd::kFinished;
      out.result = content;
      return out;
    }
    RunCalls(calls, &out);
  }
}

}  // namespace tide::workers
