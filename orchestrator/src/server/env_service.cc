#include "env_service.h"

#include <string>

#include <nlohmann/json.hpp>

#include "status_convert.h"

namespace tide::orchestrator {
namespace {

using nlohmann::json;

grpc::Status Invalid(const std::string& message) { return ToGrpc(InvalidArgument(message)); }

// A JSON text field of a request: empty means `fallback`; anything else must parse.
Result<json> ParseField(const std::string& field, const std::string& text, json fallback) {
  if (text.empty()) return fallback;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return InvalidArgument(field + " is not valid JSON");
  return j;
}

std::string KnownWorlds() {
  std::string known;
  for (const env::World* w : env::Worlds()) known += (known.empty() ? "" : ", ") + w->name();
  return known;
}

}  // namespace

grpc::Status EnvService::ListWorlds(grpc::ServerContext*, const tide::v1::ListWorldsRequest*,
                                    tide::v1::ListWorldsResponse* resp) {
  for (const env::World* w : env::Worlds()) {
    tide::v1::WorldInfo* info = resp->add_worlds();
    info->set_name(w->name());
    info->set_description(w->description());
    for (const auto& f : w->task_families()) info->add_task_families(f);
  }
  return grpc::Status::OK;
}

grpc::Status EnvService::Reset(grpc::ServerContext*, const tide::v1::ResetRequest* req, tide::v1::ResetResponse* resp) {
  if (req->world().empty()) return Invalid("world is required (known: " + KnownWorlds() + ")");
  if (req->items() < 0) return Invalid("items must be positive (0 means the default), got " + std::to_string(req->items()));
  env::TaskParams params;
  params.family = req->task_family();
  params.seed = req->seed();
  if (req->items() > 0) params.items = req->items();
  Result<json> knobs = ParseField("knobs_json", req->knobs_json(), json());
  if (!knobs.ok()) return ToGrpc(knobs.status());
  if (Status s = env::ApplyTaskKnobs(*knobs, &params); !s.ok()) return ToGrpc(s.WithContext("knobs_json"));
  Result<env::EpisodeSessions::Started> started = sessions_.Reset(req->world(), params);
  if (!started.ok()) return ToGrpc(started.status());
  resp->set_episode_id(started->id);
  resp->set_prompt(started->prompt);
  resp->set_task_json(started->public_task.dump());
  resp->set_world(started->world);
  resp->set_task_family(started->family);
  for (const auto& spec : started->tools) {
    tide::v1::ToolSpec* t = resp->add_tools();
    t->set_name(spec.name);
    t->set_description(spec.description);
    t->set_parameters_json(spec.parameters.dump());
  }
  return grpc::Status::OK;
}

grpc::Status EnvService::Step(grpc::ServerContext*, const tide::v1::StepRequest* req, tide::v1::StepResponse* resp) {
  if (req->episode_id().empty()) return Invalid("episode_id is required");
  if (!req->has_tool_call()) return Invalid("tool_call is required");
  if (req->tool_call().name().empty()) return Invalid("tool_call.name is required");
  // Arguments that are not JSON at all are a broken request (the client builds the call);
  // JSON that does not fit the tool is the agent's mistake and an observation.
  Result<json> args = ParseField("tool_call.arguments_json", req->tool_call().arguments_json(), json::object());
  if (!args.ok()) return ToGrpc(args.status());
  workers::ToolCall call{req->tool_call().id(), req->tool_call().name(), req->tool_call().arguments_json()};
  Result<env::EpisodeSessions::StepResult> step = sessions_.Step(req->episode_id(), call);
  if (!step.ok()) return ToGrpc(step.status());
  resp->set_observation(step->observation);
  resp->set_is_error(step->is_error);
  resp->set_step(step->step);
  return grpc::Status::OK;
}

grpc::Status EnvService::Verify(grpc::ServerContext*, const tide::v1::VerifyRequest* req,
                                tide::v1::VerifyResponse* resp) {
  if (req->episode_id().empty()) return Invalid("episode_id is required");
  Result<env::EpisodeSessions::Scored> scored = sessions_.Verify(req->episode_id(), req->answer());
  if (!scored.ok()) return ToGrpc(scored.status());
  const env::Verdict& v = scored->verdict;
  resp->set_reward(v.reward);
  resp->set_item_f1(v.item_f1);
  resp->set_precision(v.precision);
  resp->set_recall(v.recall);
  resp->set_success(v.success);
  resp->set_details_json(v.details.dump());
  resp->set_steps(scored->steps);
  resp->set_error_steps(scored->error_steps);
  return grpc::Status::OK;
}

grpc::Status EnvService::Close(grpc::ServerContext*, const tide::v1::CloseRequest* req, tide::v1::CloseResponse*) {
  if (req->episode_id().empty()) return Invalid("episode_id is required");
  return ToGrpc(sessions_.Close(req->episode_id()));
}

}  // namespace tide::orchestrator
