// Server: the `tide serve` process's gRPC server. It hosts the Orchestrator and Env
// services (thin adapters over RunManager and the env library), the standard
// grpc.health.v1 health service and server reflection. The Engine service joins when the
// engine can serve a model.
// Ownership: owns its Store and RunManager. Thread-safe; Shutdown may be called from any
// thread (e.g. a signal watcher) and returns once in-flight calls have ended.
#pragma once

#include <memory>
#include <string>

#include "tide/core/status.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace tide::workers {
class Policy;
}  // namespace tide::workers

namespace tide::orchestrator {

class RunManager;
class Store;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 50051;  // 0 picks a free port (see Server::port())
  std::string db_path;
  // The policy swarm runs decode through (RunManager::Options::policy); null = the oracle.
  std::shared_ptr<workers::Policy> policy;
};

class Server {
 public:
  // UNAVAILABLE when the port cannot be bound; the store's error when the DB cannot open.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();

  int port() const { return port_; }
  void Wait();
  void Shutdown();

 private:
  Server() = default;

  std::unique_ptr<Store> store_;
  std::unique_ptr<RunManager> runs_;
  std::unique_ptr<grpc::Service> orchestrator_service_;
  std::unique_ptr<grpc::Service> env_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace tide::orchestrator
