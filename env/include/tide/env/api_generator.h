// Generation of one api-goal episode's content from its seed: the suite, the owners and
// records (with near-name distractor owners), the goal steps, the forbidden tools, and
// the goal state: the initial state with the steps applied through the same simulator the
// agents use (so the goal obeys every rule the tools enforce).
//
// Deterministic: the same options give the same content on every machine.
// Pure function of its arguments; thread-safe.
#pragma once

#include <memory>
#include <vector>

#include "tide/core/status.h"
#include "tide/env/api_world.h"

namespace tide::env {

struct ApiGenerateOptions {
  uint64_t seed = 0;
  int steps = 5;
  int near_owners = 5;  // distractor owners with names near a step owner's
};

struct ApiGenerated {
  std::shared_ptr<const ApiSuite> suite;
  ApiState initial;
  ApiState goal;
  ApiTaskSpec task;
  std::vector<ApiGoalStep> steps;
};

// INTERNAL if applying a generated step fails (a generator bug, never bad input).
Result<ApiGenerated> GenerateApiGoal(const ApiGenerateOptions& options);

// A random valid value of `field` (strings are two made-up words).
nlohmann::json RandomApiValue(SeededRandom& rng, const ApiField& field);

}  // namespace tide::env
