// The oracle's turns for the single-value families: the research world's lookup, multi-hop
// and aggregate questions (question_task.h) and the compute world's tasks
// (compute_task.h). Like the wide roles (oracle.h), they read only the request's messages
// — the task in the first user message, their own calls and observations — never a world.
//
//  * researcher (spawn_subagents not offered):
//    questions: for each entity it needs, lookup(name) first; where the record is missing
//    or lacks the field, search(name), open the exact-title profile and read the field
//    from it (the official profile wins over archive items, which it never reads).
//    Multi-hop follows the path one relation at a time; aggregate resolves all its
//    entities in parallel, then computes the operation.
//    compute: fetches every series and rate the steps need (parallel calls), then
//    evaluates the steps in order and answers.
//  * coordinator (spawn_subagents offered): lookup, multi-hop and compute go to one
//    sub-agent with the whole task; aggregate splits its entities over
//    min(maxItems, entities) researchers, each given a one-column wide task, then
//    computes the operation over their merged rows. Either respawns once for what is
//    missing, then answers {"answer": value}.
//  * coordinator (create_subagent + assign_task offered, no spawn_subagents): the same
//    decisions as with spawn_subagents (CreateAssignViaSpawn), for these families and api.
//
// Stateless; thread-safe.
#pragma once

#include <functional>
#include <optional>

#include "tide/core/status.h"
#include "tide/workers/policy.h"

namespace tide::env {

// The turn for a question or compute task; nullopt when the first user message holding a
// task holds neither (the wide roles apply then).
std::optional<Result<workers::Message>> OracleFamilyTurn(const workers::PolicyRequest& request, int max_calls);

// The two halves of OracleFamilyTurn.
std::optional<Result<workers::Message>> OracleQuestionTurn(const workers::PolicyRequest& request, int max_calls);
std::optional<Result<workers::Message>> OracleComputeTurn(const workers::PolicyRequest& request, int max_calls);

// A coordinator turn written against spawn_subagents; nullopt when it does not apply.
using SpawnTurn = std::function<std::optional<Result<workers::Message>>(const workers::PolicyRequest&)>;

// Runs `spawn_turn` for a coordinator offered create_subagent + assign_task (and not
// spawn_subagents): the request is rewritten as if each turn's assign_task calls had been
// one spawn_subagents call (the agent's name for the sub-task, "-retry" appended when it
// is assigned again; the assign reports as the spawn's report), and a spawn_subagents call
// in the reply comes back as create_subagent for each agent not yet created (the
// sub-task's tools) followed by one assign_task per sub-task, in one turn. nullopt when
// the request does not offer that pair without spawn_subagents, or spawn_turn gives
// nullopt.
std::optional<Result<workers::Message>> CreateAssignViaSpawn(const workers::PolicyRequest& request,
                                                             const SpawnTurn& spawn_turn);

}  // namespace tide::env
