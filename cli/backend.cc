#include "backend.h"

#include <cstdlib>
#include <filesystem>

#include <grpcpp/grpcpp.h>

#include "tide/orchestrator/run_manager.h"
#include "tide/orchestrator/store.h"
#include "tide/v1/orchestrator.grpc.pb.h"

namespace tide::cli {
namespace {

Status FromGrpc(const grpc::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  return Status(static_cast<StatusCode>(static_cast<int>(s.error_code())), what + ": " + s.error_message());
}

class LocalBackend : public Backend {
 public:
  LocalBackend(std::unique_ptr<orchestrator::Store> store, std::unique_ptr<orchestrator::RunManager> runs)
      : store_(std::move(store)), runs_(std::move(runs)) {}
  ~LocalBackend() override { runs_.reset(); }  // the manager stops before the store closes

  Result<tide::v1::Run> RunSwarm(const orchestrator::SwarmSpec& spec, const EventFn& on_event) override {
    TIDE_ASSIGN_OR_RETURN(std::string id, runs_->Start(spec));
    TIDE_RETURN_IF_ERROR(Events(id, 0, on_event));
    return runs_->Get(id);
  }
  Result<tide::v1::Run> GetRun(const std::string& run_id) override { return runs_->Get(run_id); }
  Result<std::vector<tide::v1::Run>> ListRuns(int limit) override { return runs_->List(static_cast<size_t>(limit)); }
  Status Events(const std::string& run_id, uint64_t from_seq, const EventFn& on_event) override {
    return runs_->Watch(run_id, from_seq, [&](const tide::v1::SwarmEvent& ev) {
      on_event(ev);
      return true;
    });
  }

 private:
  std::unique_ptr<orchestrator::Store> store_;
  std::unique_ptr<orchestrator::RunManager> runs_;
};

class RemoteBackend : public Backend {
 public:
  explicit RemoteBackend(const std::string& address)
      : address_(address), stub_(tide::v1::Orchestrator::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {}

  Result<tide::v1::Run> RunSwarm(const orchestrator::SwarmSpec& spec, const EventFn& on_event) override {
    grpc::ClientContext ctx;
    const tide::v1::SwarmRequest req = orchestrator::SpecToProto(spec);
    auto reader = stub_->RunSwarm(&ctx, req);
    tide::v1::SwarmEvent ev;
    std::string run_id;
    while (reader->Read(&ev)) {
      run_id = ev.run_id();
      on_event(ev);
    }
    TIDE_RETURN_IF_ERROR(FromGrpc(reader->Finish(), "RunSwarm on " + address_));
    if (run_id.empty()) return Internal("RunSwarm on " + address_ + " returned no events");
    return GetRun(run_id);
  }

  Result<tide::v1::Run> GetRun(const std::string& run_id) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    tide::v1::GetRunRequest req;
    req.set_run_id(run_id);
    tide::v1::Run run;
    TIDE_RETURN_IF_ERROR(FromGrpc(stub_->GetRun(&ctx, req, &run), "GetRun on " + address_));
    return run;
  }

  Result<std::vector<tide::v1::Run>> ListRuns(int limit) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    tide::v1::ListRunsRequest req;
    req.set_limit(limit);
    tide::v1::ListRunsResponse resp;
    TIDE_RETURN_IF_ERROR(FromGrpc(stub_->ListRuns(&ctx, req, &resp), "ListRuns on " + address_));
    return std::vector<tide::v1::Run>(resp.runs().begin(), resp.runs().end());
  }

  Status Events(const std::string& run_id, uint64_t from_seq, const EventFn& on_event) override {
    grpc::ClientContext ctx;
    tide::v1::WatchSwarmRequest req;
    req.set_run_id(run_id);
    req.set_from_seq(from_seq);
    auto reader = stub_->WatchSwarm(&ctx, req);
    tide::v1::SwarmEvent ev;
    while (reader->Read(&ev)) on_event(ev);
    return FromGrpc(reader->Finish(), "WatchSwarm on " + address_);
  }

 private:
  std::string address_;
  std::unique_ptr<tide::v1::Orchestrator::Stub> stub_;
};

}  // namespace

std::string DefaultDbPath() {
  if (const char* db = std::getenv("TIDE_DB"); db && *db) return db;
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.tide/db";
  return ".tide/db";
}

Result<std::unique_ptr<Backend>> MakeLocalBackend(const std::string& db_path,
                                                  std::shared_ptr<workers::Policy> engine_policy) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(db_path).parent_path(), ec);
  TIDE_ASSIGN_OR_RETURN(std::unique_ptr<orchestrator::Store> store, orchestrator::Store::Open(db_path));
  orchestrator::RunManager::Options options;
  options.engine_policy = std::move(engine_policy);
  TIDE_ASSIGN_OR_RETURN(std::unique_ptr<orchestrator::RunManager> runs,
                        orchestrator::RunManager::Create(store.get(), std::move(options)));
  return std::unique_ptr<Backend>(new LocalBackend(std::move(store), std::move(runs)));
}

Result<std::unique_ptr<Backend>> MakeRemoteBackend(const std::string& address) {
  if (address.find(':') == std::string::npos) {
    return InvalidArgument("--server must be HOST:PORT, got \"" + address + "\"");
  }
  return std::unique_ptr<Backend>(new RemoteBackend(address));
}

}  // namespace tide::cli
