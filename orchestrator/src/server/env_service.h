// The tide.v1.Env gRPC service: Gym-style access to the env worlds. Episodes live in
// memory, at most kMaxEpisodes at once (the oldest is dropped first). Thread-safe.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "tide/env/world.h"
#include "tide/v1/env.grpc.pb.h"
#include "tide/workers/tool_registry.h"

namespace tide::orchestrator {

class EnvService final : public tide::v1::Env::Service {
 public:
  static constexpr size_t kMaxEpisodes = 1024;

  grpc::Status ListWorlds(grpc::ServerContext* ctx, const tide::v1::ListWorldsRequest* req,
                          tide::v1::ListWorldsResponse* resp) override;
  grpc::Status Reset(grpc::ServerContext* ctx, const tide::v1::ResetRequest* req,
                     tide::v1::ResetResponse* resp) override;
  grpc::Status Step(grpc::ServerContext* ctx, const tide::v1::StepRequest* req,
                    tide::v1::StepResponse* resp) override;
  grpc::Status Verify(grpc::ServerContext* ctx, const tide::v1::VerifyRequest* req,
                      tide::v1::VerifyResponse* resp) override;

 private:
  struct Live {
    std::unique_ptr<env::Episode> episode;
    workers::ToolRegistry tools;
  };
  std::shared_ptr<Live> Find(const std::string& id);

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Live>> episodes_;
  std::deque<std::string> order_;
  uint64_t next_id_ = 1;
};

}  // namespace tide::orchestrator
