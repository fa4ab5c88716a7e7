// TimeoutTool: a decorator that bounds another tool's calls in time, so a tool that hangs
// costs its call a timeout error observation (DEADLINE_EXCEEDED), never the run.
//
// Each call runs on a thread of its own while the caller waits up to the timeout,
// checking the run's cancel flag every few milliseconds (a cancelled run does not wait for
// a hung tool either). What happens to that thread: on a timeout or cancellation the call
// is abandoned, not killed (C++ cannot stop a thread safely). The thread is detached; it
// keeps its own references to the tool and the arguments, runs until the tool returns,
// drops the result and exits. A tool that never returns keeps one thread for the life of
// the process; AbandonedToolCalls() counts the threads still running abandoned calls.
// Exceptions thrown by the tool are caught on that thread and become errors.
// Tools that can truly hang on I/O (MCP servers, sandboxed commands) should also bound
// themselves (they do: request deadlines, process kills) so their threads end.
//
// Thread safety: as the inner tool's; Call may run concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "tide/workers/tool.h"

namespace tide::workers {

class TimeoutTool : public Tool {
 public:
  // timeout > 0; `cancelled` may be null and must outlive every Call.
  TimeoutTool(std::shared_ptr<Tool> inner, std::chrono::milliseconds timeout,
              const std::atomic<bool>* cancelled = nullptr);

  const ToolSpec& spec() const override { return inner_->spec(); }
  // DEADLINE_EXCEEDED after the timeout, CANCELLED when the run is cancelled first,
  // RESOURCE_EXHAUSTED when no thread can be started, else the inner tool's result.
  Result<std::string> Call(const nlohmann::json& arguments) override;

 private:
  std::shared_ptr<Tool> inner_;
  std::chrono::milliseconds timeout_;
  const std::atomic<bool>* cancelled_;
};

// Threads still running calls that their callers abandoned (process-wide).
int AbandonedToolCalls();

}  // namespace tide::workers
