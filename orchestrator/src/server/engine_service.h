// The tide.v1.Engine gRPC service: a thin adapter over an InferenceEngine. Generate streams
// the engine's updates (a raw prompt, prompt token ids, or a chat rendered with the chat
// template; the last chunk of a chat carries the parsed assistant message); the client's
// cancellation or deadline cancels the generation. sampling.router_choices streams the
// experts of every fed row (engine.proto's GenerateResponse, the routing-replay contract of
// inference_engine.h); ModelInfo carries the engine's per-expert load. Bad requests are
// INVALID_ARGUMENT with the field named. Thread-safe (the engine is).
#pragma once

#include <string>

#include "tide/engine/inference_engine.h"
#include "tide/v1/engine.grpc.pb.h"

namespace tide::orchestrator {

class EngineService final : public tide::v1::Engine::Service {
 public:
  EngineService(engine::InferenceEngine* engine, std::string model_id, std::string config_json);

  grpc::Status Generate(grpc::ServerContext* ctx, const tide::v1::GenerateRequest* req,
                        grpc::ServerWriter<tide::v1::GenerateResponse>* writer) override;
  grpc::Status Tokenize(grpc::ServerContext* ctx, const tide::v1::TokenizeRequest* req,
                        tide::v1::TokenizeResponse* resp) override;
  grpc::Status ModelInfo(grpc::ServerContext* ctx, const tide::v1::ModelInfoRequest* req,
                         tide::v1::ModelInfoResponse* resp) override;

 private:
  engine::InferenceEngine* engine_;
  std::string model_id_;
  std::string config_json_;
};

}  // namespace tide::orchestrator
