// Verdict: how a verifier scores one answer. `reward` is what RL trains on; item_f1,
// precision and recall are cell-level measures (DESIGN.md "Measures"); `details` explains
// every cell so a person (or a judge) can see why. A plain value type.
#pragma once

#include <nlohmann/json.hpp>

namespace tide::env {

struct Verdict {
  double reward = 0;
  double item_f1 = 0;
  double precision = 0;
  double recall = 0;
  bool success = false;
  nlohmann::json details;  // per-cell verdicts, counts, and the reason for a zero score
};

}  // namespace tide::env
