// RunBudget: the tokens and tool calls that all the agents of one run may spend together
// (0 = unlimited). Agents check it before every step and reserve a tool call before every
// call; once either limit is spent, every agent of the run ends "budget_exhausted" at its
// next step, and Check names the limit.
//
// Tokens are known only after a policy call returns, so a run may overshoot its token
// budget by the last step of each agent running at that moment; tool calls never
// overshoot: a call that finds the budget spent does not run (its agent reads an error).
// The tool-call budget counts as spent only when a call was refused, so a run that uses
// exactly its budget and then answers still finishes.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <cstdint>

#include "tide/core/status.h"

namespace tide::workers {

class RunBudget {
 public:
  RunBudget(int64_t max_tokens, int64_t max_tool_calls) : max_tokens_(max_tokens), max_tool_calls_(max_tool_calls) {}

  // Reserves one tool call; false (and the budget spent) when max_tool_calls were reserved.
  bool TryToolCall();
  void AddTokens(int64_t tokens);
  // OK while neither limit is spent; RESOURCE_EXHAUSTED "budget_exhausted: ..." naming the
  // limit otherwise.
  Status Check() const;

  int64_t tokens() const { return tokens_.load(); }
  int64_t tool_calls() const { return tool_calls_.load(); }
  int64_t max_tokens() const { return max_tokens_; }
  int64_t max_tool_calls() const { return max_tool_calls_; }

 private:
  const int64_t max_tokens_;
  const int64_t max_tool_calls_;
  std::atomic<int64_t> tokens_{0};
  std::atomic<int64_t> tool_calls_{0};
  std::atomic<bool> tool_calls_refused_{false};
};

}  // namespace tide::workers
