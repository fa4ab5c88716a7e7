// OraclePolicy ("oracle"): the env's teacher, a programmatic solver of wide research tasks
// that plays the policy of an agent. It works only from the PolicyRequest: the task in the
// user message, its own earlier tool calls and their observations. It has no access to
// any World or Episode and never sees the answer, so its answers are exactly as good as
// what the tools told it (a tool that lies makes it wrong).
//
// Two roles, chosen by the tools offered:
//  * coordinator (spawn_subagents offered): splits the entities into
//    min(maxItems of spawn_subagents, N) contiguous balanced groups, spawns one researcher
//    per group (instructions: FormatWideSubtask of the group; tools search and
//    open), merges the rows of their reports, spawns once more for entities still missing,
//    then answers with the merged table;
//  * coordinator (create_subagent + assign_task offered): the same groups, as many as the
//    run's limit stated by create_subagent (SubagentLimit); in one turn it creates one
//    researcher per group (the guidance in its system prompt) and assigns each its group
//    (the calls run in order, so the agents exist when the tasks arrive, and the tasks run
//    in parallel); entities still missing are assigned once more to the researchers it
//    created; then it answers with the merged table;
//  * the api and single-value coordinators (api_oracle.h, oracle_families.h) work under
//    either pair of swarm tools as well (CreateAssignViaSpawn);
//  * researcher (otherwise): turn 1 searches every entity (parallel calls), turn 2 opens
//    each hit whose title is exactly the entity (one wider search first where none is),
//    turn 3 reads each column out of the opened profile and answers with the table;
//    entities it cannot find get null cells.
// Usage: the oracle has no model, so its token measure is pre-tokens
// (tide::engine::CountPreTokens): prompt = all message contents and tool-call arguments of
// the request; completion = those of the reply.
//
// Thread safety: stateless (everything is derived from the request), so one OraclePolicy
// serves any number of agents at once.
#pragma once

#include <string>

#include "tide/core/status.h"
#include "tide/workers/policy.h"

namespace tide::env {

inline constexpr char kOraclePolicyName[] = "oracle";
inline constexpr int kOracleSpawnRounds = 2;  // the first spawn and one for missing entities

class OraclePolicy : public workers::Policy {
 public:
  struct Options {
    // The most tool calls a researcher turn makes (0: all it can, in one turn). The
    // oracle can batch every search of its task into one turn, which no model does; the
    // swarm benchmark caps it at a parallel-tool-calling model's width so that steps, and
    // so critical steps, mean what they mean for a model.
    int max_calls_per_turn = 0;
  };
  OraclePolicy() = default;
  explicit OraclePolicy(Options options) : options_(options) {}
  std::string name() const override { return kOraclePolicyName; }
  Result<workers::PolicyResponse> Generate(const workers::PolicyRequest& request) override;

 private:
  Options options_;
};

// One turn of each role (the assistant message, usage not filled in). INVALID_ARGUMENT when
// the request has no messages.
Result<workers::Message> OracleCoordinatorTurn(const workers::PolicyRequest& request);
// max_calls: at most this many tool calls in the turn (0: no cap); the entities left over
// come in later turns.
Result<workers::Message> OracleResearcherTurn(const workers::PolicyRequest& request, int max_calls = 0);

// The sentence of guidance in the system prompt of the researchers the coordinator creates.
extern const char kOracleResearcherGuidance[];

}  // namespace tide::env
