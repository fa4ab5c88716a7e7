// What the oracle policy reads from an agent's context: the task (the first user message
// in the wide-task format), the tool calls it made so far with their observations, and
// how it writes a table answer. Everything is derived from the messages alone, which is
// what lets the oracle be stateless.
//
// Pure functions; thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/env/wide_task.h"
#include "tide/workers/message.h"

namespace tide::env {

struct PastCall {
  workers::ToolCall call;
  nlohmann::json arguments;  // parsed; an empty object when the text did not parse
  bool answered = false;     // a tool message with this call's id follows
  std::string observation;   // that message's content
};

// The wide task of the first user message that holds one; INVALID_ARGUMENT otherwise.
Result<WideTaskSpec> FindWideTask(const std::vector<workers::Message>& messages);

// Every tool call of the assistant messages, in order, joined with its observation.
std::vector<PastCall> PastCalls(const std::vector<workers::Message>& messages);

// Assistant messages so far.
int AssistantTurns(const std::vector<workers::Message>& messages);

// Rows keyed by entity (as listed in the task), cells keyed by column; missing entities
// and columns become nulls. Returns the table as a ```json block, rows in task order.
std::string FormatAnswerTable(const WideTaskSpec& task, const std::map<std::string, nlohmann::json>& rows);

}  // namespace tide::env
