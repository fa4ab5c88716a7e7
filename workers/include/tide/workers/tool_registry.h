// ToolRegistry: the set of tools one agent may call, by name. Invoke parses a model's
// tool call, validates its arguments against the tool's schema, runs it, and always
// returns an observation: unknown tools, malformed JSON, schema mismatches and tool
// failures (Status or exception) become is_error observations, never a crash.
//
// Ownership: tools are shared (shared_ptr), so one world's tools can serve many agents.
// Thread safety: Add is not thread-safe; Invoke and Specs are, once the registry is built.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/workers/message.h"
#include "tide/workers/tool.h"

namespace tide::workers {

struct ToolObservation {
  std::string content;
  bool is_error = false;
};

class ToolRegistry {
 public:
  // ALREADY_EXISTS if a tool of that name is present.
  Status Add(std::shared_ptr<Tool> tool);
  bool Has(const std::string& name) const;
  std::shared_ptr<Tool> Find(const std::string& name) const;
  std::vector<ToolSpec> Specs() const;  // in the order added
  std::vector<std::string> Names() const;

  ToolObservation Invoke(const ToolCall& call) const;

 private:
  std::vector<std::shared_ptr<Tool>> order_;
  std::map<std::string, std::shared_ptr<Tool>> by_name_;
};

}  // namespace tide::workers
