// Single-value answers (the lookup, multi-hop, aggregate and compute families): how an
// agent writes one, how it is found in the agent's final text, and how it is scored.
//
// The answer is {"answer": value} in a ```json block (found as answer_table.h finds a
// table: the first json block, any block, then the first balanced JSON object holding the
// key "answer"); failing that, a short plain-text answer (<= 200 characters) is read as
// the value itself ("42", "The answer is 1,200."). The value is checked by its type:
//   string:  equal after NormalizeText;   integer: exact ("1,200" accepted);
//   date:    the same calendar day (ISO and written forms);
//   number:  |predicted − gold| <= max(absolute, relative·max(|predicted|, |gold|)).
// Verdict: reward = item_f1 = precision = recall = 1 when right, else 0; success likewise;
// details name the gold, the predicted value, the type and tolerance, and the reason for
// a miss. A malformed answer scores 0 with a reason; VerifyScalar never fails.
//
// Pure functions; thread-safe.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/env/cell_values.h"
#include "tide/env/verdict.h"

namespace tide::env {

inline constexpr char kAnswerKey[] = "answer";
inline constexpr size_t kMaxPlainAnswer = 200;

struct ScalarGold {
  CellType type = CellType::kString;
  std::string value;                                // canonical text
  double relative_tolerance = kNumberTolerance;     // number answers only
  double absolute_tolerance = 0;                    // number answers only
};

// |predicted − gold| <= max(absolute, relative·max(|predicted|, |gold|)).
bool NumberWithin(double predicted, double gold, double relative, double absolute);

// The value the answer text gives: the "answer" field of its JSON, else the trimmed text
// when it is short. INVALID_ARGUMENT with the reason otherwise.
Result<nlohmann::json> ExtractAnswerValue(const std::string& answer_text);

Verdict VerifyScalar(const ScalarGold& gold, const std::string& answer_text);

// {"answer": value} in a ```json block.
std::string FormatScalarAnswer(const nlohmann::json& value);

// A perfect answer's JSON value: numbers as JSON numbers, strings and dates as text.
nlohmann::json ScalarJson(const ScalarGold& gold);

}  // namespace tide::env
