// The compute world's task format: a chain of named steps over data that only tools give
// (series from get_series, exchange rates from get_rate), written in a fixed, parseable
// layout so the task survives being handed down a swarm:
//
//   Steps (5):
//   1. a1 = sum of series "Orvana Dynamics / sales / Tessaport" from 2023-04 to 2023-06
//   2. a2 = average of series "Orvana Dynamics / sales / Belmira" from 2023-04 to 2023-06
//   3. s = a1 + a2
//   4. p = s / 2
//   5. e = p converted from USD to EUR at the rate for 2023-06
//   Answer: e
//
// Step forms: `V = OP of series "NAME" from YYYY-MM to YYYY-MM` (OP: sum, average, max,
// min, first, last); `V = X + Y + ...`; `V = X - Y`; `V = X / D` (D a variable or a
// number); `V = X * D`; `V = X converted from CUR to CUR at the rate for YYYY-MM` (the rate
// is units of the second currency per unit of the first).
//
// Pure functions; thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tide/core/status.h"

namespace tide::env {

struct ComputeStep {
  std::string var;
  std::string op;                 // a series OP, or "add", "sub", "div", "mul", "convert"
  std::string series;             // series ops
  std::string from, to;           // series ops: the period range, "YYYY-MM"
  std::vector<std::string> args;  // add/sub/div/mul/convert: operands (variables or numbers)
  std::string currency_from, currency_to, rate_period;  // convert
};

struct ComputeSpec {
  std::vector<ComputeStep> steps;
  std::string answer;  // the variable answered
};

// The series operations, in a fixed order.
const std::vector<std::string>& SeriesOperations();

std::string FormatComputeSteps(const ComputeSpec& spec);  // the "Steps (n):" block and "Answer:" line
// Reads the first "Steps (n):" block of `text`; INVALID_ARGUMENT naming the malformed line.
Result<ComputeSpec> ParseComputeSteps(const std::string& text);

// Where evaluation gets its data: the values of a series over a range (in period order),
// and a rate.
struct ComputeData {
  std::function<Result<std::vector<double>>(const std::string& series, const std::string& from, const std::string& to)>
      series;
  std::function<Result<double>(const std::string& from, const std::string& to, const std::string& period)> rate;
};

// Evaluates the steps in order; INVALID_ARGUMENT for an unknown variable, a division by
// zero or an empty series range; the data's own errors pass through.
Result<double> EvaluateCompute(const ComputeSpec& spec, const ComputeData& data);

}  // namespace tide::env
