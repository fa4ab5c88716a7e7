// The simulated user of the "api-dialogue" family (tau-bench style, deterministic, no
// model): an api-goal task whose first user message holds some details back, and a user
// who reveals them one at a time when the agent asks.
//
// Mechanism: the dialogue runs through a tool. The task text writes each held-back detail
// (a step owner's name, an update's value, a threshold) as "[detail N]" (api_task.h) and
// tells the agent to ask; the episode offers an `ask_user` tool ({"question": string}).
// The user answers a question that names a detail ("What is [detail 2]?", or "detail 2")
// with that one detail's value, JSON-encoded (names quoted) inside a sentence worded by
// the user's persona; a question naming several details gets the first one only; one
// that names none (or an unknown N) gets a persona-worded request to name the detail.
// So each answer is a user turn of the trajectory: the assistant's ask_user call (the
// question) and the tool message (the user's reply) are in the exported messages.
//
// Determinism: the hidden details and the persona are drawn from the episode's seed; a
// reply is a pure function of (persona, seed, question), so the same seed and the same
// questions give the same dialogue in any order, on any thread. The user never reveals
// anything but the detail asked for, and the values come from the full task, which the
// agent never sees.
//
// Thread safety: ApiUserSimulator is immutable; the tool may be called from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/env/api_task.h"
#include "tide/workers/tool.h"

namespace tide::env {

inline constexpr char kApiDialogueFamily[] = "api-dialogue";
inline constexpr char kAskUserTool[] = "ask_user";

struct ApiUserDetail {
  int label = 0;          // N of "[detail N]"
  size_t step = 0;        // 0-based index of the step that holds it back
  ApiDetail what = ApiDetail::kOwnerName;
  nlohmann::json value;   // the true value (a name, an update's value, a threshold)
};

// The task as the user first tells it (details replaced by placeholders) and what the
// user holds back.
struct ApiDialogue {
  ApiTaskSpec shown;
  std::vector<ApiUserDetail> details;
  std::string persona;
};

// Holds back details of `full`, seeded: step 1 always hides its owner's name; each later
// step hides one detail with probability 1/2, drawn from those it has (owner name, an
// update's value, a transition's threshold). Labels run 1.. in step order.
ApiDialogue HideApiDetails(const ApiTaskSpec& full, uint64_t seed);

class ApiUserSimulator {
 public:
  ApiUserSimulator(std::vector<ApiUserDetail> details, std::string persona, uint64_t seed);
  const std::string& persona() const { return persona_; }
  const std::vector<ApiUserDetail>& details() const { return details_; }
  // The user's reply to one question (see above).
  std::string Reply(const std::string& question) const;

 private:
  std::vector<ApiUserDetail> details_;
  std::string persona_;
  uint64_t seed_;
};

// The personas, in draw order.
const std::vector<std::string>& ApiUserPersonas();

// The ask_user tool over a simulator. A question that is missing or empty is an
// INVALID_ARGUMENT error observation.
std::shared_ptr<workers::Tool> MakeAskUserTool(std::shared_ptr<const ApiUserSimulator> user);

// The labels a question names ("[detail 2]" or "detail 2", any case), in order.
std::vector<int> DetailLabelsIn(const std::string& question);

// The first JSON value of a user's reply (a quoted string, a number, an object or array,
// true/false); NOT_FOUND when it holds none (the user asked back).
Result<nlohmann::json> ParseUserReply(const std::string& reply);

// Fills a hidden detail of `step` with `value`, checking its type (a name must be a
// string, a threshold an integer); INVALID_ARGUMENT otherwise. The detail is then no
// longer hidden.
Status RevealDetail(ApiStep& step, int label, const nlohmann::json& value);

}  // namespace tide::env
