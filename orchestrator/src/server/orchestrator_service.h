// The tide.v1.Orchestrator gRPC service: each handler validates, calls RunManager, and
// maps its Status. Streaming handlers stop when the client cancels or its deadline
// passes; RunSwarm then cancels the run it started.
#pragma once

#include "tide/orchestrator/run_manager.h"
#include "tide/v1/orchestrator.grpc.pb.h"

namespace tide::orchestrator {

class OrchestratorService final : public tide::v1::Orchestrator::Service {
 public:
  explicit OrchestratorService(RunManager* runs) : runs_(runs) {}

  grpc::Status RunSwarm(grpc::ServerContext* ctx, const tide::v1::SwarmRequest* req,
                        grpc::ServerWriter<tide::v1::SwarmEvent>* writer) override;
  grpc::Status StartSwarm(grpc::ServerContext* ctx, const tide::v1::SwarmRequest* req,
                          tide::v1::StartSwarmResponse* resp) override;
  grpc::Status WatchSwarm(grpc::ServerContext* ctx, const tide::v1::WatchSwarmRequest* req,
                          grpc::ServerWriter<tide::v1::SwarmEvent>* writer) override;
  grpc::Status CancelSwarm(grpc::ServerContext* ctx, const tide::v1::CancelSwarmRequest* req,
                           tide::v1::CancelSwarmResponse* resp) override;
  grpc::Status GetRun(grpc::ServerContext* ctx, const tide::v1::GetRunRequest* req, tide::v1::Run* resp) override;
  grpc::Status ListRuns(grpc::ServerContext* ctx, const tide::v1::ListRunsRequest* req,
                        tide::v1::ListRunsResponse* resp) override;

 private:
  RunManager* runs_;
};

}  // namespace tide::orchestrator
