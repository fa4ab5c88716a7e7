// The oracle teacher for api-goal tasks (api_world.h): a programmatic operator that reaches
// the goal through the API tools only. Like the research oracle (oracle.h) it is stateless:
// every turn is derived from the request (the task in the first user message, its earlier
// tool calls and their observations), and it never sees the goal state.
//
// Operator (no spawn_subagents offered): for every step at once, one call each per turn:
// find the owner by name (the exact name among the matches); list the owner's records in
// the step's status, page by page (the largest page size the schema allows); then act on
// each record (a threshold filter reads the listed field): the step's lifecycle actions in
// order, or the update, or one create with a request_id derived from its content. Errors:
// "503"/"429" are retried as they are; after a "504" it reads the record (get) and counts
// the action as applied when the status moved (the update when the field holds the
// value); creates are retried with the same request_id. Any other error (404, 409, 422)
// fails the step, as do 6 failed calls in a row on one record. Then it answers with a per-step
// summary.
// Held-back details (api-dialogue, api_user.h): a step with "[detail N]" placeholders first
// asks the user through ask_user, one question a detail ("What is [detail N] (the name of
// the customer)?"), takes the first JSON value of the reply, and only then plans the step;
// without an ask_user tool the step fails (it never guesses).
// Coordinator (spawn_subagents offered): splits the steps into min(maxItems, steps)
// contiguous groups, spawns one operator per group with the same task format (the group's
// steps, the same rules), respawns once the groups whose operator did not finish or
// reported a failed step, then answers with the operators' reports.
//
// Pure functions of the request; thread-safe.
#pragma once

#include "tide/core/status.h"
#include "tide/workers/policy.h"

namespace tide::env {

inline constexpr int kApiOracleMaxTries = 6;

// True when a user message of the request holds an api-goal task (ParseApiTask).
bool IsApiGoalRequest(const workers::PolicyRequest& request);

// One turn in the role the offered tools call for. max_calls caps an operator turn's tool
// calls (0: no cap). INVALID_ARGUMENT when no user message holds an api-goal task.
Result<workers::Message> ApiOracleTurn(const workers::PolicyRequest& request, int max_calls = 0);
Result<workers::Message> ApiOperatorTurn(const workers::PolicyRequest& request, int max_calls = 0);
Result<workers::Message> ApiCoordinatorTurn(const workers::PolicyRequest& request);

}  // namespace tide::env
