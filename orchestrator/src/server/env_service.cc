#include "env_service.h"

#include "status_convert.h"

namespace tide::orchestrator {

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
  Result<const env::World*> world = env::FindWorld(req->world());
  if (!world.ok()) return ToGrpc(world.status());
  env::TaskParams params;
  params.family = req->task_family();
  params.seed = req->seed();
  params.items = req->items() == 0 ? params.items : req->items();
  Result<std::unique_ptr<env::Episode>> episode = (*world)->Reset(params);
  if (!episode.ok()) return ToGrpc(episode.status());

  auto live = std::make_shared<Live>();
  live->episode = std::move(episode).value();
  for (const auto& tool : live->episode->tools()) {
    if (Status s = live->tools.Add(tool); !s.ok()) return ToGrpc(s);
  }
  resp->set_prompt(live->episode->prompt());
  resp->set_task_json(live->episode->public_task().dump());
  for (const auto& spec : live->tools.Specs()) {
    tide::v1::ToolSpec* t = resp->add_tools();
    t->set_name(spec.name);
    t->set_description(spec.description);
    t->set_parameters_json(spec.parameters.dump());
  }
  std::lock_guard<std::mutex> lock(mu_);
  const std::string id = "ep-" + std::to_string(next_id_++);
  episodes_[id] = std::move(live);
  order_.push_back(id);
  while (order_.size() > kMaxEpisodes) {
    episodes_.erase(order_.front());
    order_.pop_front();
  }
  resp->set_episode_id(id);
  return grpc::Status::OK;
}

std::shared_ptr<EnvService::Live> EnvService::Find(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = episodes_.find(id);
  return it == episodes_.end() ? nullptr : it->second;
}

grpc::Status EnvService::Step(grpc::ServerContext*, const tide::v1::StepRequest* req, tide::v1::StepResponse* resp) {
  std::shared_ptr<Live> live = Find(req->episode_id());
  if (!live) return ToGrpc(NotFound("no episode with id \"" + req->episode_id() + "\" (it may have expired)"));
  if (req->tool_call().name().empty()) return ToGrpc(InvalidArgument("tool_call.name is required"));
  workers::ToolCall call{req->tool_call().id(), req->tool_call().name(), req->tool_call().arguments_json()};
  workers::ToolObservation obs = live->tools.Invoke(call);
  resp->set_observation(obs.content);
  resp->set_is_error(obs.is_error);
  return grpc::Status::OK;
}

grpc::Status EnvService::Verify(grpc::ServerContext*, const tide::v1::VerifyRequest* req,
                                tide::v1::VerifyResponse* resp) {
  std::shared_ptr<Live> live = Find(req->episode_id());
  if (!live) return ToGrpc(NotFound("no episode with id \"" + req->episode_id() + "\" (it may have expired)"));
  env::Verdict v = live->episode->Verify(req->answer());
  resp->set_reward(v.reward);
  resp->set_item_f1(v.item_f1);
  resp->set_success(v.success);
  resp->set_details_json(v.details.dump());
  return grpc::Status::OK;
}

}  // namespace tide::orchestrator
