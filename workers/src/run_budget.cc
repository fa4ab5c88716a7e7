#include "tide/workers/run_budget.h"

#include <string>

namespace tide::workers {

bool RunBudget::TryToolCall() {
  if (max_tool_calls_ <= 0) {
    tool_calls_.fetch_add(1);
    return true;
  }
  int64_t used = tool_calls_.load();
  while (used < max_tool_calls_) {
    if (tool_calls_.compare_exchange_weak(used, used + 1)) return true;
  }
  tool_calls_refused_.store(true);
  return false;
}

void RunBudget::AddTokens(int64_t tokens) { tokens_.fetch_add(tokens); }

Status RunBudget::Check() const {
  if (max_tokens_ > 0 && tokens_.load() >= max_tokens_) {
    return ResourceExhausted("budget_exhausted: the run's token budget of " + std::to_string(max_tokens_) +
                             " is spent (" + std::to_string(tokens_.load()) + " tokens used)");
  }
  if (tool_calls_refused_.load()) {
    return ResourceExhausted("budget_exhausted: the run's tool-call budget of " + std::to_string(max_tool_calls_) +
                             " is spent");
  }
  return Status::Ok();
}

}  // namespace tide::workers
