// Server: the `tide serve` process. Its gRPC server hosts the Orchestrator and Env services
// (thin adapters over RunManager and the env library), the standard grpc.health.v1 health
// service and server reflection; given an InferenceEngine it also hosts the Engine service
// and, on http_port, the OpenAI-compatible HTTP server (openai_server.h).
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

namespace tide::engine {
class InferenceEngine;
}  // namespace tide::engine

namespace tide::orchestrator {

class OpenAiServer;
class RunManager;
class Store;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 50051;  // 0 picks a free port (see Server::port())
  std::string db_path;
  // RunManager::Options::policy: when set, every run decodes through it whatever it asks.
  std::shared_ptr<workers::Policy> policy;
  // RunManager::Options::engine_policy: runs with policy "engine" decode on the served model.
  std::shared_ptr<workers::Policy> engine_policy;
  // RunManager::Options::allow_host_tools: off by default, since a client's run could
  // otherwise start any command here (MCP servers, run_command).
  bool allow_host_tools = false;
  // A served model (borrowed; must outlive the server): enables the Engine service and,
  // when http_port >= 0, the OpenAI HTTP API there. http_port >= 0 (0 picks a free port)
  // serves /metrics (the engine's counters and every stored run's) with or without a model.
  engine::InferenceEngine* engine = nullptr;
  std::string model_id = "tide";
  std::string model_config_json;
  int http_port = -1;
};

class Server {
 public:
  // UNAVAILABLE when the port cannot be bound; the store's error when the DB cannot open.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();

  int port() const { return port_; }
  int http_port() const;  // -1 without the HTTP server
  void Wait();
  void Shutdown();

 private:
  Server() = default;

  std::unique_ptr<Store> store_;
  std::unique_ptr<RunManager> runs_;
  std::unique_ptr<grpc::Service> orchestrator_service_;
  std::unique_ptr<grpc::Service> env_service_;
  std::unique_ptr<grpc::Service> engine_service_;
  std::unique_ptr<OpenAiServer> http_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace tide::orchestrator
