// The Policy interface: what every agent decodes through. Messages and tool specs in; one
// assistant message (text and/or tool calls) and the tokens it cost out. Implementations:
// the env's oracle teacher (env/oracle.h), the engine policy and the OpenAI-compatible HTTP
// policy (later issues).
//
// Thread safety: Generate is called concurrently by many agents (one swarm runs its
// sub-agents in parallel on one Policy), so implementations must be thread-safe.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/workers/message.h"

namespace tide::workers {

struct PolicyRequest {
  const std::vector<Message>* messages = nullptr;  // the agent's whole context, system first
  const std::vector<ToolSpec>* tools = nullptr;    // the tools this agent may call
  std::string agent;                               // the agent's name, for logs and routing
  const std::atomic<bool>* cancelled = nullptr;    // set when the run is cancelled; may be null
};

struct PolicyResponse {
  Message message;  // role "assistant"
  Usage usage;
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string name() const = 0;
  // A non-OK status ends the agent (the swarm records it); bad tool calls are not errors here.
  virtual Result<PolicyResponse> Generate(const PolicyRequest& request) = 0;
};

}  // namespace tide::workers
