// The api-goal task as text: a goal of numbered steps over an API's final state, and the
// rules (forbidden tools). FormatApiTask writes plain English sentences from fixed
// templates, with every value JSON-encoded (names and strings quoted), so that a person
// or a model reads it naturally and ParseApiTask reads it back exactly (the oracle and
// the coordinator's split both rely on the round trip).
//
// Step sentences:
//   Cancel every pending order of customer "Ana Silva" whose amount is above 250, then refund each of them.
//   Set the priority of every open ticket of user "Bo Chen" to "high".
//   Create an order for customer "Ana Silva" with these fields: {"amount":120.5,"currency":"EUR"}.
//
// A step of a dialogue task (api_user.h) may hold a detail back: the owner's name, an
// update's value or a threshold is written "[detail N]" instead, and the step lists it in
// `hidden` (N numbers the details of the whole task from 1). The task text then says how to
// ask the user for them; ParseApiTask reads the placeholders back into `hidden`.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"

namespace tide::env {

enum class ApiStepKind { kTransition, kUpdate, kCreate };

// What a "[detail N]" placeholder stands for.
enum class ApiDetail { kOwnerName, kValue, kThreshold };

struct ApiHiddenDetail {
  ApiDetail what = ApiDetail::kOwnerName;
  int label = 0;  // N of "[detail N]", >= 1
  bool operator==(const ApiHiddenDetail& o) const { return what == o.what && label == o.label; }
};

struct ApiStep {
  ApiStepKind kind = ApiStepKind::kTransition;
  std::string noun;        // the record type, e.g. "order"
  std::string owner;       // the owner kind, e.g. "customer"
  std::string owner_name;  // the owner's exact name
  std::string status;      // kTransition, kUpdate: the status the records are in now
  std::vector<std::string> verbs;  // kTransition: one or two actions, applied in order
  std::string above_field;         // kTransition: only records whose field is above `above`
  int64_t above = 0;
  std::string field;                             // kUpdate: the field to set ...
  nlohmann::json value;                          // ... to this value
  nlohmann::json fields = nlohmann::json::object();  // kCreate: the new record's fields
  std::vector<ApiHiddenDetail> hidden;  // details written as "[detail N]"; their fields are left empty

  bool operator==(const ApiStep& o) const;
};

struct ApiTaskSpec {
  std::string description;  // what the API serves, e.g. "an online shop"
  std::vector<ApiStep> steps;
  std::vector<std::string> forbidden_tools;
};

// The placeholder of a held-back detail: "[detail 3]".
std::string ApiDetailPlaceholder(int label);
// The label of a hidden detail, if the step holds back `what`; 0 otherwise.
int HiddenLabel(const ApiStep& step, ApiDetail what);

std::string ApiStepText(const ApiStep& step);
// INVALID_ARGUMENT naming what did not match when `sentence` is not a step sentence.
Result<ApiStep> ParseApiStep(const std::string& sentence);

std::string FormatApiTask(const ApiTaskSpec& task);
// INVALID_ARGUMENT when the text holds no "API goal (N steps):" block or a step does not parse.
Result<ApiTaskSpec> ParseApiTask(const std::string& text);

}  // namespace tide::env
