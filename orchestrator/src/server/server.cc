#include "tide/orchestrator/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "engine_service.h"
#include "env_service.h"
#include "orchestrator_service.h"
#include "tide/orchestrator/openai_server.h"
#include "tide/orchestrator/run_manager.h"
#include "tide/orchestrator/run_metrics.h"
#include "tide/orchestrator/store.h"

namespace tide::orchestrator {

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgument("--port must be in [0, 65535], got " + std::to_string(options.port));
  }
  if (options.db_path.empty()) return InvalidArgument("a database path is required");
  std::unique_ptr<Server> s(new Server());
  TIDE_ASSIGN_OR_RETURN(s->store_, Store::Open(options.db_path));
  RunManager::Options run_options;
  run_options.policy = options.policy;
  run_options.engine_policy = options.engine_policy;
  run_options.allow_host_tools = options.allow_host_tools;
  TIDE_ASSIGN_OR_RETURN(s->runs_, RunManager::Create(s->store_.get(), run_options));
  s->orchestrator_service_ = std::make_unique<OrchestratorService>(s->runs_.get());
  s->env_service_ = std::make_unique<EnvService>();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string address = options.host + ":" + std::to_string(options.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &s->port_);
  builder.RegisterService(s->orchestrator_service_.get());
  builder.RegisterService(s->env_service_.get());
  if (options.engine != nullptr) {
    s->engine_service_ = std::make_unique<EngineService>(options.engine, options.model_id, options.model_config_json);
    builder.RegisterService(s->engine_service_.get());
  }
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || s->port_ == 0) return Unavailable("cannot listen on " + address + " (is the port in use?)");
  // The HTTP port serves the OpenAI API when a model is served, and /metrics (the engine's
  // counters, if any, then every stored run's figures) either way.
  if (options.http_port >= 0) {
    OpenAiServerOptions http;
    http.host = options.host;
    http.port = options.http_port;
    http.model_name = options.model_id;
    Store* store = s->store_.get();
    http.extra_metrics = [store] { return RunMetricsText(store); };
    TIDE_ASSIGN_OR_RETURN(s->http_, OpenAiServer::Start(options.engine, http));
  }
  s->server_->GetHealthCheckService()->SetServingStatus(true);
  return s;
}

Server::~Server() { Shutdown(); }

int Server::http_port() const { return http_ ? http_->port() : -1; }

void Server::Wait() {
  if (server_) server_->Wait();
}

void Server::Shutdown() {
  if (http_) http_->Shutdown();
  if (!server_) return;
  server_->GetHealthCheckService()->SetServingStatus(false);
  // Streaming watchers poll for cancellation, so a short grace period ends them.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

}  // namespace tide::orchestrator
