// The tide.v1.Env gRPC service: Gym-style access to the env worlds (proto/tide/v1/env.proto)
// for trainers in any language. A thin adapter over env::EpisodeSessions, which holds the
// live episodes under an LRU cap so that a long-running server does not grow without bound.
// Request fields that are not what they should be are INVALID_ARGUMENT naming the field;
// an unknown or expired episode is NOT_FOUND; a malformed action is an error observation.
// Thread-safe.
#pragma once

#include <cstddef>

#include "tide/env/episode_sessions.h"
#include "tide/v1/env.grpc.pb.h"

namespace tide::orchestrator {

class EnvService final : public tide::v1::Env::Service {
 public:
  explicit EnvService(size_t max_episodes = env::EpisodeSessions::kDefaultMaxEpisodes) : sessions_(max_episodes) {}

  grpc::Status ListWorlds(grpc::ServerContext* ctx, const tide::v1::ListWorldsRequest* req,
                          tide::v1::ListWorldsResponse* resp) override;
  grpc::Status Reset(grpc::ServerContext* ctx, const tide::v1::ResetRequest* req,
                     tide::v1::ResetResponse* resp) override;
  grpc::Status Step(grpc::ServerContext* ctx, const tide::v1::StepRequest* req,
                    tide::v1::StepResponse* resp) override;
  grpc::Status Verify(grpc::ServerContext* ctx, const tide::v1::VerifyRequest* req,
                      tide::v1::VerifyResponse* resp) override;
  grpc::Status Close(grpc::ServerContext* ctx, const tide::v1::CloseRequest* req,
                     tide::v1::CloseResponse* resp) override;

  const env::EpisodeSessions& sessions() const { return sessions_; }

 private:
  env::EpisodeSessions sessions_;
};

}  // namespace tide::orchestrator
