// ToolRegistry: the set of tools one agent may call, by name. Begin parses a model's tool
// call, validates its arguments against the tool's schema and starts it; the pending call
// always ends in an observation: unknown tools, malformed JSON, schema mismatches and tool
// failures (Status or exception, thrown at once or later) become is_error observations
// whose `error` says which, never a crash. Invoke is Begin + Wait.
//
// Ownership: tools are shared (shared_ptr), so one world's tools can serve many agents.
// Thread safety: Add is not thread-safe; Begin, Invoke and Specs are, once the registry is
// built. A PendingToolCall belongs to one thread.
#pragma once

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/workers/message.h"
#include "tide/workers/tool.h"

namespace tide::workers {

// Why a call ended in an error observation; counted per run so failures stay visible.
enum class ToolError {
  kNone,
  kUnknownTool,   // no tool of that name
  kBadArguments,  // not JSON, or not matching the tool's schema
  kFailed,        // the tool returned an error or threw
  kTimedOut,      // the tool did not answer in time (DEADLINE_EXCEEDED)
  kCancelled,     // the run was cancelled before or while it ran
  kBudget,        // the run's tool-call budget was spent; the call did not run
};
const char* ToolErrorName(ToolError error);  // "unknown_tool", "bad_arguments", ...

struct ToolObservation {
  std::string content;
  bool is_error = false;
  ToolError error = ToolError::kNone;
};

// An error observation: content "error: <message>".
ToolObservation ErrorObservation(ToolError error, const std::string& message);

// A started call. Wait blocks until it ends and returns its observation (once).
class PendingToolCall {
 public:
  static PendingToolCall Ready(ToolObservation observation);
  PendingToolCall(std::string tool, std::chrono::steady_clock::time_point start, std::future<ToolOutput> future);

  bool ready() const;  // Wait would not block
  ToolObservation Wait();
  // Wall time from the start to the end of the call (valid after Wait).
  double elapsed_ms() const;

 private:
  PendingToolCall() = default;
  std::string tool_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point done_ = start_;
  std::optional<ToolObservation> ready_;
  std::future<ToolOutput> future_;
};

class ToolRegistry {
 public:
  // ALREADY_EXISTS if a tool of that name is present.
  Status Add(std::shared_ptr<Tool> tool);
  bool Has(const std::string& name) const;
  std::shared_ptr<Tool> Find(const std::string& name) const;
  std::vector<ToolSpec> Specs() const;  // in the order added
  std::vector<std::string> Names() const;

  PendingToolCall Begin(const ToolCall& call) const;
  ToolObservation Invoke(const ToolCall& call) const;

 private:
  std::vector<std::shared_ptr<Tool>> order_;
  std::map<std::string, std::shared_ptr<Tool>> by_name_;
};

}  // namespace tide::workers
