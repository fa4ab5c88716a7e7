// The "api" world: a seeded back-office API (api_catalog.h) over a stateful simulator
// (api_simulator.h), and the task family "api-goal" (tau-bench style): the task is a goal
// over the API's final state, `items` steps (api_task.h), each about a different owner:
// move every record of some status (optionally above a threshold) through one or two
// lifecycle actions, set a field on every record of some status, or create a record.
// The rules forbid touching records outside the goal and calling the delete tools and one
// other lifecycle tool.
//
// Verify ignores the answer text: it compares the simulator's final state with the goal
// state (the initial state with the steps applied, computed at Reset) and reads the call
// log for forbidden actions. reward is 1 only when every record matches and no forbidden
// action happened (0 otherwise); item_f1/precision/recall measure the changed records
// (precision: changes that were wanted and right; recall: wanted changes made right), and
// details hold per-step results, mismatches and forbidden actions.
//
// TaskParams: items 1..200 (steps); distractors -1 (= items) or 0..1000 owners whose names
// are near a step owner's (each with records in the step's status); failure_rate -1
// (= 0.1) or 0..0.5, the chance a tool call fails (api_simulator.h); columns and hops must
// be 0.
//
// Family "api-dialogue" (api_user.h): the same goal, state and verifier, but the prompt
// holds details back as "[detail N]" and the episode adds the ask_user tool, whose
// simulated user reveals them; prompt() and public_task() show only the held-back task.
//
// Thread safety: ApiWorld is stateless; an ApiEpisode's tools and Verify may be used from
// any thread (the simulator locks).
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tide/env/api_simulator.h"
#include "tide/env/api_task.h"
#include "tide/env/api_user.h"
#include "tide/env/world.h"

namespace tide::env {

inline constexpr char kApiWorldName[] = "api";
inline constexpr char kApiGoalFamily[] = "api-goal";
inline constexpr int kApiMaxItems = 200;
inline constexpr int kApiMaxDistractors = 1000;
inline constexpr double kApiDefaultFailureRate = 0.1;
inline constexpr double kApiMaxFailureRate = 0.5;

struct ApiGoalStep {
  ApiStep step;
  std::vector<std::string> targets;  // ids of the records the step changes (in the goal state for a create)
};

class ApiEpisode : public Episode {
 public:
  // `dialogue`: for api-dialogue, what the user shows and holds back (its seed words the replies).
  ApiEpisode(std::shared_ptr<const ApiSuite> suite, ApiState initial, ApiState goal, ApiTaskSpec task,
             std::vector<ApiGoalStep> steps, ApiFailureOptions failures,
             std::optional<ApiDialogue> dialogue = std::nullopt, uint64_t dialogue_seed = 0);

  std::string world() const override { return kApiWorldName; }
  std::string family() const override { return user_ ? kApiDialogueFamily : kApiGoalFamily; }
  std::string prompt() const override { return FormatApiTask(shown_); }
  nlohmann::json public_task() const override;
  std::vector<std::shared_ptr<workers::Tool>> tools() const override { return tools_; }
  Verdict Verify(const std::string& answer_text) const override;

  // For tests and data checks; never shown to agents.
  const ApiSuite& suite() const { return *suite_; }
  const ApiTaskSpec& task() const { return task_; }        // the full goal
  const ApiTaskSpec& shown_task() const { return shown_; }  // as the prompt tells it
  const ApiUserSimulator* user() const { return user_.get(); }  // null for api-goal
  const ApiState& initial_state() const { return initial_; }
  const ApiState& goal_state() const { return goal_; }
  nlohmann::json GoalStateJson() const;  // the answer: every record as the goal wants it
  ApiSimulator& simulator() const { return *simulator_; }

 private:
  std::shared_ptr<const ApiSuite> suite_;
  ApiState initial_;
  ApiState goal_;
  ApiTaskSpec task_;
  ApiTaskSpec shown_;
  std::vector<ApiGoalStep> steps_;
  std::shared_ptr<const ApiUserSimulator> user_;
  std::shared_ptr<ApiSimulator> simulator_;
  std::vector<std::shared_ptr<workers::Tool>> tools_;
  double failure_rate_ = 0;
};

class ApiWorld : public World {
 public:
  std::string name() const override { return kApiWorldName; }
  std::string description() const override;
  std::vector<std::string> task_families() const override { return {kApiGoalFamily, kApiDialogueFamily}; }
  Result<std::unique_ptr<Episode>> Reset(const TaskParams& params) const override;
  Result<std::unique_ptr<ApiEpisode>> ResetApi(const TaskParams& params) const;
};

}  // namespace tide::env
