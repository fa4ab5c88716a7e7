// The tide.v1.Env gRPC service over loopback: ListWorlds lists every registered world; the
// oracle solves a research episode through Reset/Step/Verify alone (reward 1.0); the same
// seed gives the same task; bad requests are INVALID_ARGUMENT naming the field, unknown or
// expired episodes NOT_FOUND, malformed actions error observations; the LRU cap expires
// the least recently used episode. Also checks that `Server::Start` serves Env next to the
// Orchestrator service.
#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../orchestrator/src/server/env_service.h"
#include "orchestrator_test_util.h"
#include "tide/env/oracle.h"
#include "tide/env/world.h"
#include "tide/orchestrator/server.h"
#include "tide/v1/env.grpc.pb.h"

namespace tide::orchestrator {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

class EnvServiceTest : public ::testing::Test {
 protected:
  void Start(size_t max_episodes = env::EpisodeSessions::kDefaultMaxEpisodes) {
    service_ = std::make_unique<EnvService>(max_episodes);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_ != nullptr);
    ASSERT_GT(port, 0);
    stub_ = tide::v1::Env::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  static void Deadline(grpc::ClientContext* ctx) { ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30)); }

  grpc::Status Reset(const tide::v1::ResetRequest& req, tide::v1::ResetResponse* resp) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    return stub_->Reset(&ctx, req, resp);
  }
  grpc::Status Step(const std::string& id, const std::string& name, const std::string& args, tide::v1::StepResponse* resp,
                    const std::string& call_id = "call_1") {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    tide::v1::StepRequest req;
    req.set_episode_id(id);
    req.mutable_tool_call()->set_id(call_id);
    req.mutable_tool_call()->set_name(name);
    req.mutable_tool_call()->set_arguments_json(args);
    return stub_->Step(&ctx, req, resp);
  }
  grpc::Status Verify(const std::string& id, const std::string& answer, tide::v1::VerifyResponse* resp) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    tide::v1::VerifyRequest req;
    req.set_episode_id(id);
    req.set_answer(answer);
    return stub_->Verify(&ctx, req, resp);
  }
  static tide::v1::ResetRequest Research(uint64_t seed, int items = 4) {
    tide::v1::ResetRequest req;
    req.set_world("research");
    req.set_task_family("wide");
    req.set_seed(seed);
    req.set_items(items);
    return req;
  }
  tide::v1::ResetResponse MustReset(const tide::v1::ResetRequest& req) {
    tide::v1::ResetResponse resp;
    grpc::Status st = Reset(req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  std::unique_ptr<EnvService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<tide::v1::Env::Stub> stub_;
};

TEST_F(EnvServiceTest, ListWorldsListsEveryRegisteredWorld) {
  Start();
  grpc::ClientContext ctx;
  Deadline(&ctx);
  tide::v1::ListWorldsResponse resp;
  ASSERT_TRUE(stub_->ListWorlds(&ctx, {}, &resp).ok());
  const auto worlds = env::Worlds();
  ASSERT_EQ(resp.worlds_size(), static_cast<int>(worlds.size()));
  for (size_t i = 0; i < worlds.size(); ++i) {
    const auto& w = resp.worlds(static_cast<int>(i));
    EXPECT_EQ(w.name(), worlds[i]->name());
    EXPECT_FALSE(w.description().empty());
    EXPECT_EQ(std::vector<std::string>(w.task_families().begin(), w.task_families().end()), worlds[i]->task_families());
  }
}

// A Gym loop over gRPC: the oracle reads only what Reset and Step return.
TEST_F(EnvServiceTest, TheOracleScoresOneThroughTheService) {
  Start();
  tide::v1::ResetRequest req = Research(21, 5);
  req.set_knobs_json(R"({"columns": 2})");
  tide::v1::ResetResponse ep = MustReset(req);
  ASSERT_FALSE(ep.episode_id().empty());
  EXPECT_EQ(ep.world(), "research");
  EXPECT_EQ(ep.task_family(), "wide");
  const json task = json::parse(ep.task_json(), nullptr, false);
  ASSERT_TRUE(task.is_object()) << ep.task_json();

  std::vector<workers::ToolSpec> tools;
  for (const auto& t : ep.tools()) {
    json params = json::parse(t.parameters_json(), nullptr, false);
    ASSERT_TRUE(params.is_object()) << t.name();
    tools.push_back({t.name(), t.description(), params});
  }
  env::OraclePolicy oracle;
  std::vector<workers::Message> messages = {workers::Message::User(ep.prompt())};
  int steps = 0;
  for (int turn = 0; turn < 20; ++turn) {
    workers::PolicyRequest pr;
    pr.messages = &messages;
    pr.tools = &tools;
    auto reply = oracle.Generate(pr);
    ASSERT_TRUE(reply.ok()) << reply.status().ToString();
    messages.push_back(reply->message);
    if (reply->message.tool_calls.empty()) break;
    for (const auto& call : reply->message.tool_calls) {
      tide::v1::StepResponse sr;
      grpc::Status st = Step(ep.episode_id(), call.name, call.arguments, &sr, call.id);
      ASSERT_TRUE(st.ok()) << st.error_message();
      EXPECT_FALSE(sr.is_error()) << sr.observation();
      EXPECT_EQ(sr.step(), ++steps);
      messages.push_back(workers::Message::Tool(call.id, sr.observation()));
    }
  }
  ASSERT_TRUE(messages.back().tool_calls.empty()) << "the oracle did not answer";
  tide::v1::VerifyResponse v;
  ASSERT_TRUE(Verify(ep.episode_id(), messages.back().content, &v).ok());
  EXPECT_EQ(v.reward(), 1.0) << v.details_json();
  EXPECT_EQ(v.item_f1(), 1.0);
  EXPECT_EQ(v.precision(), 1.0);
  EXPECT_EQ(v.recall(), 1.0);
  EXPECT_TRUE(v.success());
  EXPECT_EQ(v.steps(), steps);
  EXPECT_EQ(v.error_steps(), 0);
  EXPECT_TRUE(json::parse(v.details_json(), nullptr, false).is_object()) << v.details_json();

  // A wrong answer to the same episode scores below 1.
  tide::v1::VerifyResponse wrong;
  ASSERT_TRUE(Verify(ep.episode_id(), "| name |\n| --- |\n| nobody |", &wrong).ok());
  EXPECT_LT(wrong.reward(), 1.0);
  EXPECT_FALSE(wrong.success());
}

TEST_F(EnvServiceTest, SameSeedSameTask) {
  Start();
  auto a = MustReset(Research(5)), b = MustReset(Research(5)), c = MustReset(Research(6));
  EXPECT_NE(a.episode_id(), b.episode_id());
  EXPECT_EQ(a.prompt(), b.prompt());
  EXPECT_EQ(a.task_json(), b.task_json());
  EXPECT_NE(a.prompt(), c.prompt());
  tide::v1::StepResponse sa, sb;
  ASSERT_TRUE(Step(a.episode_id(), "search", R"({"query": "company"})", &sa).ok());
  ASSERT_TRUE(Step(b.episode_id(), "search", R"({"query": "company"})", &sb).ok());
  EXPECT_EQ(sa.observation(), sb.observation());
}

TEST_F(EnvServiceTest, BadResetsAreInvalidArgumentNamingTheField) {
  Start();
  struct Case {
    std::function<void(tide::v1::ResetRequest*)> edit;
    grpc::StatusCode code;
    std::string expect;
  } cases[] = {
      {[](auto* r) { r->set_world(""); }, grpc::StatusCode::INVALID_ARGUMENT, "world is required (known: research"},
      {[](auto* r) { r->set_world("atlantis"); }, grpc::StatusCode::NOT_FOUND, "unknown world \"atlantis\" (known: research"},
      {[](auto* r) { r->set_task_family("poetry"); }, grpc::StatusCode::INVALID_ARGUMENT, "poetry"},
      {[](auto* r) { r->set_items(-3); }, grpc::StatusCode::INVALID_ARGUMENT, "items"},
      {[](auto* r) { r->set_items(5000); }, grpc::StatusCode::INVALID_ARGUMENT, "items"},
      {[](auto* r) { r->set_knobs_json("{items: 3"); }, grpc::StatusCode::INVALID_ARGUMENT, "knobs_json is not valid JSON"},
      {[](auto* r) { r->set_knobs_json("[3]"); }, grpc::StatusCode::INVALID_ARGUMENT, "knobs_json: knobs must be a JSON object"},
      {[](auto* r) { r->set_knobs_json(R"({"hardness": 3})"); }, grpc::StatusCode::INVALID_ARGUMENT, "unknown knob \"hardness\""},
      {[](auto* r) { r->set_knobs_json(R"({"items": "many"})"); }, grpc::StatusCode::INVALID_ARGUMENT, "\"items\" must be an integer"},
  };
  for (const auto& c : cases) {
    tide::v1::ResetRequest req = Research(1);
    c.edit(&req);
    tide::v1::ResetResponse resp;
    grpc::Status st = Reset(req, &resp);
    EXPECT_EQ(st.error_code(), c.code) << c.expect << ": " << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr(c.expect));
  }
  EXPECT_EQ(service_->sessions().size(), 0u);
}

TEST_F(EnvServiceTest, StepErrorsAndMalformedActions) {
  Start();
  auto ep = MustReset(Research(2));
  tide::v1::StepResponse resp;
  // Broken requests: RPC errors naming the field.
  grpc::Status st = Step("", "search", "{}", &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("episode_id"));
  st = Step(ep.episode_id(), "", "{}", &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("tool_call.name"));
  st = Step(ep.episode_id(), "search", "{\"query\": ", &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("tool_call.arguments_json is not valid JSON"));
  st = Step("ep-unknown", "search", "{}", &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(st.error_message(), HasSubstr("ep-unknown"));
  {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    tide::v1::StepRequest req;
    req.set_episode_id(ep.episode_id());
    st = stub_->Step(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), HasSubstr("tool_call is required"));
  }
  // Malformed actions: observations the agent reads.
  const std::pair<std::string, std::string> actions[] = {
      {"teleport", "{}"}, {"search", R"({"query": 3})"}, {"search", "[]"}, {"open", R"({"doc": "x"})"}};
  int step = 0;
  for (const auto& [name, args] : actions) {
    tide::v1::StepResponse r;
    st = Step(ep.episode_id(), name, args, &r);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_TRUE(r.is_error()) << name << " " << args << " -> " << r.observation();
    EXPECT_THAT(r.observation(), HasSubstr("error"));
    EXPECT_EQ(r.step(), ++step);
  }
  // Empty arguments mean {}: search without a query fails its schema, as an observation.
  tide::v1::StepResponse empty;
  ASSERT_TRUE(Step(ep.episode_id(), "search", "", &empty).ok());
  EXPECT_TRUE(empty.is_error());
  tide::v1::VerifyResponse v;
  ASSERT_TRUE(Verify(ep.episode_id(), "", &v).ok());
  EXPECT_EQ(v.reward(), 0.0);
  EXPECT_EQ(v.steps(), 5);
  EXPECT_EQ(v.error_steps(), 5);
  st = Verify("", "x", &v);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(EnvServiceTest, EpisodesExpireUnderTheCapAndClose) {
  Start(/*max_episodes=*/2);
  auto a = MustReset(Research(1)), b = MustReset(Research(2));
  tide::v1::StepResponse r;
  ASSERT_TRUE(Step(a.episode_id(), "search", R"({"query": "x"})", &r).ok());  // a is now the most recent
  auto c = MustReset(Research(3));
  grpc::Status st = Step(b.episode_id(), "search", R"({"query": "x"})", &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(st.error_message(), HasSubstr("expired"));
  EXPECT_TRUE(Step(a.episode_id(), "search", R"({"query": "x"})", &r).ok());
  EXPECT_TRUE(Step(c.episode_id(), "search", R"({"query": "x"})", &r).ok());
  for (uint64_t seed = 10; seed < 20; ++seed) MustReset(Research(seed, 1));
  EXPECT_EQ(service_->sessions().size(), 2u);
  EXPECT_EQ(service_->sessions().expired(), 11u);

  auto d = MustReset(Research(30, 1));
  {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    tide::v1::CloseRequest req;
    req.set_episode_id(d.episode_id());
    tide::v1::CloseResponse resp;
    ASSERT_TRUE(stub_->Close(&ctx, req, &resp).ok());
  }
  EXPECT_EQ(service_->sessions().size(), 1u);
  tide::v1::VerifyResponse v;
  EXPECT_EQ(Verify(d.episode_id(), "x", &v).error_code(), grpc::StatusCode::NOT_FOUND);
  {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    tide::v1::CloseRequest req;
    req.set_episode_id(d.episode_id());
    tide::v1::CloseResponse resp;
    EXPECT_EQ(stub_->Close(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
}

// `tide serve`'s server registers Env beside the Orchestrator service.
TEST(EnvServiceServerTest, ServerStartServesEnv) {
  testing::TempDir dir;
  ServerOptions o;
  o.port = 0;
  o.db_path = dir.path() + "/db";
  auto server = Server::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto stub = tide::v1::Env::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  tide::v1::ResetRequest req;
  req.set_world("research");
  req.set_seed(3);
  req.set_items(2);
  tide::v1::ResetResponse resp;
  grpc::Status st = stub->Reset(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(resp.episode_id().empty());
  (*server)->Shutdown();
}

}  // namespace
}  // namespace tide::orchestrator
