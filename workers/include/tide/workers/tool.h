// The Tool interface: a named function with a JSON Schema for its arguments. Tools are
// run by the ToolRegistry, which validates arguments against the schema first, so Call
// sees only arguments that match it. A tool reports failure as a Status; the agent sees it
// as an error observation ("error: ..."), never a crash.
//
// Calls of one turn: the agent starts every call of a turn (Start, in order) before it
// waits for any, so a tool whose work can overlap with the turn's other calls (a sub-agent
// run) overrides Start to return at once. The default Start runs Call before returning, so
// ordinary tools run one after another, as they always did.
//
// Thread safety: one Tool object may be called concurrently by several agents (a world's
// tools are shared by all the sub-agents of a swarm), so Call and Start must be thread-safe.
#pragma once

#include <chrono>
#include <future>
#include <string>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/workers/message.h"

namespace tide::workers {

// A finished call: its result, and when it ended (a trace shows the call's wall time).
struct ToolOutput {
  Result<std::string> result = Internal("the tool produced no result");
  std::chrono::steady_clock::time_point done = std::chrono::steady_clock::now();
};

class Tool {
 public:
  virtual ~Tool() = default;
  virtual const ToolSpec& spec() const = 0;
  // Returns the observation text the agent will read.
  virtual Result<std::string> Call(const nlohmann::json& arguments) = 0;
  // Starts a call; the future yields its output. An exception, thrown here or stored in the
  // future, becomes an error observation. The default runs Call here and returns it ready.
  virtual std::future<ToolOutput> Start(const nlohmann::json& arguments);
};

}  // namespace tide::workers
