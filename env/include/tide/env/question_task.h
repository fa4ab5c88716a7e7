// The question families' task format, as the research world writes it and the oracle
// reads it back (so a task survives being handed down a swarm, as wide tasks do):
// a question in prose, then a fixed, parseable block, then how to answer:
//
//   What is the population of the birthplace of the founder of Orvana Dynamics?
//
//   Question (multi-hop):
//   - entity: Orvana Dynamics
//   - path: founder > birthplace
//   - attribute: population (integer, number of inhabitants)
//
// lookup has no path; aggregate has "- operation:", "- attribute:", for count a
// "- condition:" (the sector counted), and an "Entities (n):" list as wide tasks do.
// Operations: sum, average, max, min (of employees or revenue), earliest, latest (of
// founded), count (organisations in the sector given).
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/env/cell_values.h"

namespace tide::env {

inline constexpr char kLookupFamily[] = "lookup";
inline constexpr char kMultiHopFamily[] = "multi-hop";
inline constexpr char kAggregateFamily[] = "aggregate";

struct QuestionSpec {
  std::string family;                 // lookup, multi-hop or aggregate
  std::string entity;                 // lookup, multi-hop: the entity asked about / the start
  std::vector<std::string> path;      // multi-hop: relation fields followed, in order
  std::string attribute;              // the field asked for or aggregated
  std::string operation;              // aggregate
  std::string condition;              // aggregate count: the sector counted
  std::vector<std::string> entities;  // aggregate: the set
};

// The operations of aggregate tasks, in a fixed order.
const std::vector<std::string>& AggregateOperations();

// The question in prose, e.g. "What is the population of the birthplace of ... ?".
std::string QuestionSentence(const QuestionSpec& q);
// The whole task text (layout above, then the answer instructions).
std::string FormatQuestionTask(const QuestionSpec& q);
// Reads the first "Question (family):" block of `text`; INVALID_ARGUMENT naming what is
// missing or malformed (unknown family, field, relation or operation).
Result<QuestionSpec> ParseQuestionTask(const std::string& text);

// The type of the answer: the attribute's for lookup, multi-hop, max, min, earliest and
// latest; number for sum and average; integer for count.
CellType QuestionAnswerType(const QuestionSpec& q);

}  // namespace tide::env
