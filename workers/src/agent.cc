#include "tide/workers/agent.h"

#include <chrono>

namespace tide::workers {

const char* AgentEndName(AgentEnd end) {
  switch (end) {
    case AgentEnd::kFinished: return "finished";
    case AgentEnd::kStepLimit: return "step_limit";
    case AgentEnd::kCancelled: return "cancelled";
    case AgentEnd::kFailed: return "failed";
  }
  return "failed";
}

Agent::Agent(AgentOptions options, Policy* policy, const ToolRegistry* tools, AgentObserver* observer)
    : options_(std::move(options)), policy_(policy), tools_(tools), observer_(observer) {}

void Agent::Append(Message m) {
  context_.push_back(std::move(m));
  if (observer_) observer_->OnMessage(context_.back());
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
    Message message = std::move(reply->message);
    message.role = "assistant";
    const std::vector<ToolCall> calls = message.tool_calls;
    const std::string content = message.content;
    Append(std::move(message));
    if (calls.empty()) {
      out.end = AgentEnd::kFinished;
      out.result = content;
      return out;
    }
    for (const ToolCall& call : calls) {
      ToolObservation obs;
      const auto start = std::chrono::steady_clock::now();
      if (cancelled()) {
        obs = {"error: the run was cancelled before this call ran", true};
      } else {
        obs = tools_->Invoke(call);
        ++out.tool_calls;
      }
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (observer_) observer_->OnToolResult(call, obs, ms);
      Append(Message::Tool(call.id, obs.content));
    }
  }
}

}  // namespace tide::workers
