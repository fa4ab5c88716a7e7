#include "tide/env/oracle.h"

#include "tide/engine/pretokenizer.h"
#include "tide/env/api_oracle.h"
#include "tide/env/oracle_families.h"
#include "tide/workers/swarm_protocol.h"

namespace tide::env {
namespace {

int64_t PreTokens(const workers::Message& m) {
  size_t n = engine::CountPreTokens(m.content);
  for (const workers::ToolCall& c : m.tool_calls) n += engine::CountPreTokens(c.arguments);
  return static_cast<int64_t>(n);
}

bool Offers(const workers::PolicyRequest& request, const std::string& tool) {
  if (request.tools == nullptr) return false;
  for (const workers::ToolSpec& spec : *request.tools) {
    if (spec.name == tool) return true;
  }
  return false;
}

Result<workers::PolicyResponse> Respond(const workers::PolicyRequest& request, Result<workers::Message> reply) {
  if (!reply.ok()) return reply.status();
  workers::PolicyResponse response;
  response.message = std::move(reply).value();
  for (const workers::Message& m : *request.messages) response.usage.prompt_tokens += PreTokens(m);
  response.usage.completion_tokens = PreTokens(response.message);
  return response;
}

}  // namespace

Result<workers::PolicyResponse> OraclePolicy::Generate(const workers::PolicyRequest& request) {
  if (request.messages == nullptr) return InvalidArgument("oracle: the request has no messages");
  if (request.cancelled != nullptr && request.cancelled->load()) return Cancelled("oracle: the run was cancelled");
  const int max_calls = options_.max_calls_per_turn;
  // The api and single-value coordinators decide in the spawn style; under create_subagent +
  // assign_task their decisions go through the adapter.
  if (auto adapted = CreateAssignViaSpawn(request, [&](const workers::PolicyRequest& r) -> std::optional<Result<workers::Message>> {
        if (IsApiGoalRequest(r)) return ApiOracleTurn(r, max_calls);
        return OracleFamilyTurn(r, max_calls);
      })) {
    return Respond(request, std::move(*adapted));
  }
  if (IsApiGoalRequest(request)) return Respond(request, ApiOracleTurn(request, max_calls));
  if (auto family = OracleFamilyTurn(request, max_calls)) return Respond(request, std::move(*family));
  const bool coordinator =
      Offers(request, workers::kSpawnSubagentsTool) ||
      (Offers(request, workers::kCreateSubagentTool) && Offers(request, workers::kAssignTaskTool));
  return Respond(request, coordinator ? OracleCoordinatorTurn(request) : OracleResearcherTurn(request, max_calls));
}

}  // namespace tide::env
