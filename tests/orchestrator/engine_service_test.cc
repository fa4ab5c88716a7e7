// The tide.v1.Engine gRPC service over loopback (Server::Start with an engine, a tiny random
// model): Generate with sampling.router_choices streams the experts of every fed row, and
// forcing them on a plain Model::Forward reproduces the served log-probs; ModelInfo reports
// per-expert loads that add up to rows x top_k; bad requests are INVALID_ARGUMENT. The
// random byte-level model writes bytes that are not UTF-8: the text still arrives (as
// U+FFFD), where protobuf would otherwise refuse the chunk.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator_test_util.h"
#include "../engine/model_test_util.h"
#include "tide/engine/inference_engine.h"
#include "tide/orchestrator/server.h"
#include "tide/v1/engine.grpc.pb.h"

namespace tide::orchestrator {
namespace {

engine::ModelWeights Weights() { return engine::testing::TinyServingWeights(11, 512, true); }


class EngineServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = std::make_unique<engine::Model>(engine::Model::Create(Weights()).value());
    engine_ = engine::InferenceEngine::Create(model_.get(), &tokenizer_, {}).value();
    ServerOptions o;
    o.port = 0;
    o.db_path = dir_.path() + "/db";
    o.engine = engine_.get();
    o.model_id = "tide-tiny";
    auto server = Server::Start(o);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    stub_ = tide::v1::Engine::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  // All chunks of one Generate call, and its status.
  grpc::Status Generate(const tide::v1::GenerateRequest& req, std::vector<tide::v1::GenerateResponse>* out) {
    grpc::ClientContext ctx;
    auto reader = stub_->Generate(&ctx, req);
    tide::v1::GenerateResponse r;
    while (reader->Read(&r)) out->push_back(r);
    return reader->Finish();
  }

  testing::TempDir dir_;
  engine::Tokenizer tokenizer_ = engine::ByteLevelTokenizer();
  std::unique_ptr<engine::Model> model_;
  std::unique_ptr<engine::InferenceEngine> engine_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<tide::v1::Engine::Stub> stub_;
};

std::vector<int32_t> Experts(const tide::v1::RouterChoice& c) { return {c.experts().begin(), c.experts().end()}; }

TEST_F(EngineServiceTest, RouterChoicesReplayTheServedForward) {
  tide::v1::GenerateRequest req;
  const std::vector<int32_t> prompt = {72, 101, 108, 108, 111, 44, 32, 116, 105, 100, 101, 33};
  for (int32_t t : prompt) req.add_prompt_token_ids(t);
  req.mutable_sampling()->set_max_tokens(12);
  req.mutable_sampling()->set_logprobs(true);
  req.mutable_sampling()->set_router_choices(true);
  req.mutable_sampling()->set_seed(3);
  req.mutable_sampling()->set_temperature(0.8f);
  std::vector<tide::v1::GenerateResponse> chunks;
  const grpc::Status status = Generate(req, &chunks);
  ASSERT_TRUE(status.ok()) << status.error_message();
  engine::GenerationResult served;
  for (const auto& c : chunks) {
    ASSERT_EQ(c.router_choices_size(), c.token_ids_size());
    ASSERT_EQ(c.logprobs_size(), c.token_ids_size());
    if (c.prompt_router_choices_size() > 0) {
      EXPECT_TRUE(served.prompt_router_choices.empty()) << "the prompt rows come once";
      for (const auto& row : c.prompt_router_choices()) served.prompt_router_choices.push_back(Experts(row));
    }
    for (int i = 0; i < c.token_ids_size(); ++i) {
      served.tokens.push_back({c.token_ids(i), c.logprobs(i), {}, Experts(c.router_choices(i))});
      ASSERT_EQ(served.tokens.back().router_choices.size(), 4u);  // 2 MoE layers x top-2
      for (int32_t e : served.tokens.back().router_choices) EXPECT_TRUE(e >= 0 && e < 4) << e;
    }
    if (c.has_stop_token_id()) {
      served.stop_token_id = c.stop_token_id();
      served.stop_router_choices = Experts(c.stop_router_choice());
    }
  }
  ASSERT_EQ(chunks.back().finish_reason(), "length");
  ASSERT_EQ(served.tokens.size(), 12u);
  ASSERT_EQ(served.prompt_router_choices.size(), prompt.size() - 1);
  // Sampled at temperature 0.8: the served log-prob is of the scaled distribution.
  engine::testing::ExpectReplayReproducesServedLogprobs(*model_, prompt, served, tokenizer_.vocab_size(), 0.8);
  // Without the flag no routing is sent.
  req.mutable_sampling()->set_router_choices(false);
  chunks.clear();
  ASSERT_TRUE(Generate(req, &chunks).ok());
  for (const auto& c : chunks) {
    EXPECT_EQ(c.router_choices_size(), 0);
    EXPECT_EQ(c.prompt_router_choices_size(), 0);
  }
}

TEST_F(EngineServiceTest, ModelInfoReportsExpertLoad) {
  tide::v1::ModelInfoResponse before;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->ModelInfo(&ctx, {}, &before).ok());
  }
  EXPECT_EQ(before.forward_rows(), 0);
  ASSERT_EQ(before.expert_load_size(), 2);  // the MoE layers only
  EXPECT_EQ(before.expert_load(0).layer(), 1);
  EXPECT_EQ(before.expert_load(1).layer(), 2);
  tide::v1::GenerateRequest req;
  req.set_prompt("count every expert");
  req.mutable_sampling()->set_max_tokens(6);
  std::vector<tide::v1::GenerateResponse> chunks;
  ASSERT_TRUE(Generate(req, &chunks).ok());
  tide::v1::ModelInfoResponse after;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->ModelInfo(&ctx, {}, &after).ok());
  const int prompt_tokens = chunks.back().usage().prompt_tokens();
  EXPECT_EQ(after.forward_rows(), prompt_tokens + 5);  // the last token is never fed
  for (const auto& load : after.expert_load()) {
    ASSERT_EQ(load.tokens_size(), 4);
    int64_t sum = 0;
    for (int64_t n : load.tokens()) sum += n;
    EXPECT_EQ(sum, after.forward_rows() * 2) << "layer " << load.layer();
  }
}

TEST_F(EngineServiceTest, BadRequestsAreInvalidArgument) {
  tide::v1::GenerateRequest req;  // no prompt at all
  req.mutable_sampling()->set_router_choices(true);
  std::vector<tide::v1::GenerateResponse> chunks;
  grpc::Status s = Generate(req, &chunks);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  req.add_prompt_token_ids(5000);  // outside the vocabulary
  s = Generate(req, &chunks);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("prompt"), std::string::npos) << s.error_message();
}

}  // namespace
}  // namespace tide::orchestrator
