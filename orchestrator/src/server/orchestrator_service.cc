#include "orchestrator_service.h"

#include "status_convert.h"

namespace tide::orchestrator {
namespace {

grpc::Status StreamRun(RunManager* runs, grpc::ServerContext* ctx, const std::string& run_id, uint64_t from_seq,
                       grpc::ServerWriter<tide::v1::SwarmEvent>* writer) {
  Status s = runs->Watch(
      run_id, from_seq, [&](const tide::v1::SwarmEvent& ev) { return writer->Write(ev); },
      [&] { return ctx->IsCancelled(); });
  return ToGrpc(s);
}

Status CheckRunId(const std::string& id) {
  if (id.empty()) return InvalidArgument("run_id is required");
  return Status::Ok();
}

}  // namespace

grpc::Status OrchestratorService::RunSwarm(grpc::ServerContext* ctx, const tide::v1::SwarmRequest* req,
                                           grpc::ServerWriter<tide::v1::SwarmEvent>* writer) {
  SwarmSpec spec = SpecFromProto(*req);
  // The call's deadline bounds the run too.
  const auto deadline = ctx->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    const double left = std::chrono::duration<double>(deadline - std::chrono::system_clock::now()).count();
    if (left <= 0) return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "the call's deadline has passed");
    // A deadline beyond the longest allowed timeout bounds nothing the call's end does not
    // (RunSwarm cancels its run when the call ends), so it must not fail validation.
    if (left <= kMaxTimeoutS && (spec.timeout_s == 0 || left < spec.timeout_s)) spec.timeout_s = left;
  }
  Result<std::string> id = runs_->Start(spec);
  if (!id.ok()) return ToGrpc(id.status());
  grpc::Status st = StreamRun(runs_, ctx, *id, 0, writer);
  if (ctx->IsCancelled()) (void)runs_->Cancel(*id, "the client cancelled the RunSwarm call");
  return st;
}

grpc::Status OrchestratorService::StartSwarm(grpc::ServerContext*, const tide::v1::SwarmRequest* req,
                                             tide::v1::StartSwarmResponse* resp) {
  Result<std::string> id = runs_->Start(SpecFromProto(*req));
  if (!id.ok()) return ToGrpc(id.status());
  resp->set_run_id(*id);
  return grpc::Status::OK;
}

grpc::Status OrchestratorService::WatchSwarm(grpc::ServerContext* ctx, const tide::v1::WatchSwarmRequest* req,
                                             grpc::ServerWriter<tide::v1::SwarmEvent>* writer) {
  if (Status s = CheckRunId(req->run_id()); !s.ok()) return ToGrpc(s);
  return StreamRun(runs_, ctx, req->run_id(), req->from_seq(), writer);
}

grpc::Status OrchestratorService::CancelSwarm(grpc::ServerContext*, const tide::v1::CancelSwarmRequest* req,
                                              tide::v1::CancelSwarmResponse* resp) {
  if (Status s = CheckRunId(req->run_id()); !s.ok()) return ToGrpc(s);
  Result<tide::v1::RunState> state =
      runs_->Cancel(req->run_id(), req->reason().empty() ? "cancelled by a client" : req->reason());
  if (!state.ok()) return ToGrpc(state.status());
  resp->set_state(*state);
  return grpc::Status::OK;
}

grpc::Status OrchestratorService::GetRun(grpc::ServerContext*, const tide::v1::GetRunRequest* req,
                                         tide::v1::Run* resp) {
  if (Status s = CheckRunId(req->run_id()); !s.ok()) return ToGrpc(s);
  Result<tide::v1::Run> run = runs_->Get(req->run_id());
  if (!run.ok()) return ToGrpc(run.status());
  *resp = std::move(run).value();
  return grpc::Status::OK;
}

grpc::Status OrchestratorService::ListRuns(grpc::ServerContext*, const tide::v1::ListRunsRequest* req,
                                           tide::v1::ListRunsResponse* resp) {
  if (req->limit() < 0) return ToGrpc(InvalidArgument("limit must be >= 0, got " + std::to_string(req->limit())));
  Result<std::vector<tide::v1::Run>> runs = runs_->List(req->limit() == 0 ? 50 : static_cast<size_t>(req->limit()));
  if (!runs.ok()) return ToGrpc(runs.status());
  for (auto& r : *runs) *resp->add_runs() = std::move(r);
  return grpc::Status::OK;
}

}  // namespace tide::orchestrator
