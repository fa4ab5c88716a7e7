// The Tool interface: a named function with a JSON Schema for its arguments. Tools are
// run by the ToolRegistry, which validates arguments against the schema first, so Call
// sees only arguments that match it. A tool reports failure as a Status; the agent sees it
// as an error observation ("error: ..."), never a crash.
//
// Thread safety: one Tool object may be called concurrently by several agents (a world's
// tools are shared by all the sub-agents of a swarm), so Call must be thread-safe.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/workers/message.h"

namespace tide::workers {

class Tool {
 public:
  virtual ~Tool() = default;
  virtual const ToolSpec& spec() const = 0;
  // Returns the observation text the agent will read.
  virtual Result<std::string> Call(const nlohmann::json& arguments) = 0;
};

}  // namespace tide::workers
