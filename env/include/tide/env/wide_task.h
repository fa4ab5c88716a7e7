// The "wide" task format: "for these N entities, report columns X, Y", written as text in a
// fixed, parseable layout. The research world's prompt, the oracle and the sub-agent
// instructions a coordinator writes all use this one format, so a task survives being
// handed down the swarm. Layout (the answer instructions follow the entity list):
//
//   Columns (2):
//   - headquarters: string, the city of the headquarters
//   - employees: integer, number of employees
//
//   Entities (3):
//   1. Orvana Dynamics
//   2. Belmi Labs
//   3. Tessaro Works
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "tide/core/status.h"

namespace tide::env {

inline constexpr char kEntityKey[] = "entity";  // the key column of every wide answer

struct WideTaskSpec {
  std::vector<std::string> entities;
  std::vector<std::string> columns;
};

// The task text: an opening line, the columns (with their descriptions where the column
// is a research attribute), the numbered entities, and how to answer (a JSON array of row
// objects keyed by "entity", in a ```json block).
std::string FormatWideTask(const std::vector<std::string>& entities, const std::vector<std::string>& columns);

// The compact form a coordinator hands to a sub-agent: the two lists (columns with their
// descriptions, which say each value's format) and one line on how to answer; no opening
// line or answer paragraph, so a spawn call for many sub-agents stays short.
std::string FormatWideSubtask(const std::vector<std::string>& entities, const std::vector<std::string>& columns);

// Reads the first "Columns (k):" and "Entities (n):" lists found in `text` (other text
// around them is ignored). INVALID_ARGUMENT naming what is missing or malformed.
Result<WideTaskSpec> ParseWideTask(const std::string& text);

}  // namespace tide::env
