#include "tide/orchestrator/server.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "orchestrator_test_util.h"
#include "tide/workers/http_client.h"
#include "tide/v1/env.grpc.pb.h"
#include "tide/v1/orchestrator.grpc.pb.h"

namespace tide::orchestrator {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
using testing::WrappedOracle;
using tide::v1::EventKind;
using tide::v1::RunState;
using tide::v1::SwarmEvent;

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(std::shared_ptr<workers::Policy> policy = nullptr, int http_port = -1,
                   bool allow_host_tools = false) {
    ServerOptions options;
    options.allow_host_tools = allow_host_tools;
    options.host = "127.0.0.1";
    options.port = 0;
    options.http_port = http_port;
    options.db_path = dir_.path() + "/db";
    options.policy = std::move(policy);
    Result<std::unique_ptr<Server>> server = Server::Start(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    ASSERT_GT(server_->port(), 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials());
    orch_ = tide::v1::Orchestrator::NewStub(channel_);
    env_ = tide::v1::Env::NewStub(channel_);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    server_.reset();
  }

  static tide::v1::SwarmRequest Request(int items = 20, int max_subagents = 8) {
    tide::v1::SwarmRequest req;
    req.set_world("research");
    req.set_seed(7);
    req.set_items(items);
    req.set_max_subagents(max_subagents);
    req.set_policy("oracle");
    return req;
  }

  static void WithDeadline(grpc::ClientContext* ctx, std::chrono::milliseconds ms = std::chrono::seconds(30)) {
    ctx->set_deadline(std::chrono::system_clock::now() + ms);
  }

  // Reads a whole event stream; returns its final status.
  template <typename Reader>
  static grpc::Status ReadAll(Reader* reader, std::vector<SwarmEvent>* events) {
    SwarmEvent ev;
    while (reader->Read(&ev)) events->push_back(ev);
    return reader->Finish();
  }

  grpc::Status GetRun(const std::string& id, tide::v1::Run* run) {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::GetRunRequest req;
    req.set_run_id(id);
    return orch_->GetRun(&ctx, req, run);
  }

  // Polls GetRun until the run is no longer RUNNING (or 10 s pass).
  tide::v1::Run WaitEnded(const std::string& id) {
    tide::v1::Run run;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
      grpc::Status st = GetRun(id, &run);
      EXPECT_TRUE(st.ok()) << st.error_message();
      if (!st.ok() || run.state() != RunState::RUN_STATE_RUNNING) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return run;
  }

  grpc::Status StartSwarm(const tide::v1::SwarmRequest& req, std::string* id) {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::StartSwarmResponse resp;
    grpc::Status st = orch_->StartSwarm(&ctx, req, &resp);
    *id = resp.run_id();
    return st;
  }

  TempDir dir_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<tide::v1::Orchestrator::Stub> orch_;
  std::unique_ptr<tide::v1::Env::Stub> env_;
};

void ExpectOrderedRun(const std::vector<SwarmEvent>& events, EventKind last) {
  ASSERT_GE(events.size(), 2u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq(), i);
    EXPECT_EQ(events[i].run_id(), events[0].run_id());
  }
  EXPECT_EQ(events.front().kind(), EventKind::EVENT_KIND_RUN_STARTED);
  EXPECT_EQ(events.back().kind(), last);
}

TEST_F(ServerTest, RunSwarmStreamsTheWholeRunInOrder) {
  StartServer();
  grpc::ClientContext ctx;
  WithDeadline(&ctx);
  auto reader = orch_->RunSwarm(&ctx, Request());
  std::vector<SwarmEvent> events;
  grpc::Status st = ReadAll(reader.get(), &events);
  ASSERT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  ExpectOrderedRun(events, EventKind::EVENT_KIND_RUN_FINISHED);
  bool saw_subagent = false;
  for (const auto& ev : events) saw_subagent = saw_subagent || ev.parent_agent() == "coordinator";
  EXPECT_TRUE(saw_subagent);

  tide::v1::Run run;
  st = GetRun(events[0].run_id(), &run);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(run.state(), RunState::RUN_STATE_SUCCEEDED);
  EXPECT_DOUBLE_EQ(run.result().item_f1(), 1.0);
  EXPECT_EQ(run.result().subagents(), 8);
  EXPECT_EQ(run.num_events(), events.size());
}

TEST_F(ServerTest, StartSwarmThenWatchSwarm) {
  StartServer();
  std::string id;
  grpc::Status st = StartSwarm(Request(8, 4), &id);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_FALSE(id.empty());

  std::vector<SwarmEvent> all;
  {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::WatchSwarmRequest req;
    req.set_run_id(id);
    auto reader = orch_->WatchSwarm(&ctx, req);
    st = ReadAll(reader.get(), &all);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  ExpectOrderedRun(all, EventKind::EVENT_KIND_RUN_FINISHED);
  EXPECT_EQ(all[0].run_id(), id);

  // From the middle: exactly the tail.
  std::vector<SwarmEvent> tail;
  {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::WatchSwarmRequest req;
    req.set_run_id(id);
    req.set_from_seq(5);
    auto reader = orch_->WatchSwarm(&ctx, req);
    st = ReadAll(reader.get(), &tail);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  ASSERT_EQ(tail.size(), all.size() - 5);
  for (size_t i = 0; i < tail.size(); ++i) EXPECT_EQ(tail[i].SerializeAsString(), all[i + 5].SerializeAsString());

  tide::v1::Run run;
  ASSERT_TRUE(GetRun(id, &run).ok());
  EXPECT_EQ(run.state(), RunState::RUN_STATE_SUCCEEDED);
}

TEST_F(ServerTest, ErrorsMapToGrpcCodes) {
  StartServer();
  tide::v1::Run run;
  grpc::Status st = GetRun("run-missing", &run);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(st.error_message(), HasSubstr("run-missing"));
  EXPECT_EQ(GetRun("", &run).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  std::string id;
  tide::v1::SwarmRequest req = Request();
  req.set_world("nope");
  st = StartSwarm(req, &id);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(st.error_message(), HasSubstr("nope"));

  req = Request();
  req.set_max_subagents(101);
  st = StartSwarm(req, &id);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("max_subagents"));

  {  // RunSwarm validates the same way.
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    auto reader = orch_->RunSwarm(&ctx, req);
    std::vector<SwarmEvent> events;
    st = ReadAll(reader.get(), &events);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(events.empty());
  }
  {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::CancelSwarmRequest creq;
    creq.set_run_id("run-missing");
    tide::v1::CancelSwarmResponse cresp;
    EXPECT_EQ(orch_->CancelSwarm(&ctx, creq, &cresp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::WatchSwarmRequest wreq;
    wreq.set_run_id("run-missing");
    auto reader = orch_->WatchSwarm(&ctx, wreq);
    std::vector<SwarmEvent> events;
    EXPECT_EQ(ReadAll(reader.get(), &events).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::ListRunsRequest lreq;
    lreq.set_limit(-1);
    tide::v1::ListRunsResponse lresp;
    EXPECT_EQ(orch_->ListRuns(&ctx, lreq, &lresp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  // None of the rejected requests left a run behind.
  grpc::ClientContext ctx;
  WithDeadline(&ctx);
  tide::v1::ListRunsResponse resp;
  ASSERT_TRUE(orch_->ListRuns(&ctx, tide::v1::ListRunsRequest(), &resp).ok());
  EXPECT_EQ(resp.runs_size(), 0);
}

TEST_F(ServerTest, ListRunsNewestFirst) {
  StartServer();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    std::string id;
    tide::v1::SwarmRequest req = Request(4, 2);
    req.set_seed(10 + i);
    ASSERT_TRUE(StartSwarm(req, &id).ok());
    WaitEnded(id);
    ids.push_back(id);
  }
  {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::ListRunsResponse resp;
    ASSERT_TRUE(orch_->ListRuns(&ctx, tide::v1::ListRunsRequest(), &resp).ok());
    ASSERT_EQ(resp.runs_size(), 3);
    EXPECT_EQ(resp.runs(0).run_id(), ids[2]);
    EXPECT_EQ(resp.runs(1).run_id(), ids[1]);
    EXPECT_EQ(resp.runs(2).run_id(), ids[0]);
    for (const auto& r : resp.runs()) EXPECT_EQ(r.state(), RunState::RUN_STATE_SUCCEEDED);
  }
  grpc::ClientContext ctx;
  WithDeadline(&ctx);
  tide::v1::ListRunsRequest req;
  req.set_limit(1);
  tide::v1::ListRunsResponse resp;
  ASSERT_TRUE(orch_->ListRuns(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.runs_size(), 1);
  EXPECT_EQ(resp.runs(0).run_id(), ids[2]);
}

TEST_F(ServerTest, CancelSwarmStopsARun) {
  StartServer(std::make_shared<WrappedOracle>(std::chrono::milliseconds(100)));
  std::string id;
  ASSERT_TRUE(StartSwarm(Request(), &id).ok());
  grpc::ClientContext ctx;
  WithDeadline(&ctx);
  tide::v1::CancelSwarmRequest req;
  req.set_run_id(id);
  req.set_reason("operator said so");
  tide::v1::CancelSwarmResponse resp;
  grpc::Status st = orch_->CancelSwarm(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.state(), RunState::RUN_STATE_RUNNING);
  tide::v1::Run run = WaitEnded(id);
  EXPECT_EQ(run.state(), RunState::RUN_STATE_CANCELLED);
  EXPECT_THAT(run.result().error(), HasSubstr("operator said so"));
}

TEST_F(ServerTest, ClientDeadlineOnRunSwarmEndsTheRun) {
  StartServer(std::make_shared<WrappedOracle>(std::chrono::milliseconds(150)));  // a whole run takes >= 5 steps
  grpc::ClientContext ctx;
  WithDeadline(&ctx, std::chrono::milliseconds(300));
  auto reader = orch_->RunSwarm(&ctx, Request());
  std::vector<SwarmEvent> events;
  grpc::Status st = ReadAll(reader.get(), &events);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();

  grpc::ClientContext lctx;
  WithDeadline(&lctx);
  tide::v1::ListRunsResponse list;
  ASSERT_TRUE(orch_->ListRuns(&lctx, tide::v1::ListRunsRequest(), &list).ok());
  ASSERT_EQ(list.runs_size(), 1);
  tide::v1::Run run = WaitEnded(list.runs(0).run_id());
  EXPECT_TRUE(run.state() == RunState::RUN_STATE_CANCELLED || run.state() == RunState::RUN_STATE_FAILED)
      << tide::v1::RunState_Name(run.state());
}

TEST_F(ServerTest, ClientCancellingRunSwarmCancelsTheRun) {
  StartServer(std::make_shared<WrappedOracle>(std::chrono::milliseconds(150)));  // a whole run takes >= 5 steps
  grpc::ClientContext ctx;
  WithDeadline(&ctx);
  auto reader = orch_->RunSwarm(&ctx, Request());
  SwarmEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  const std::string id = ev.run_id();
  ctx.TryCancel();
  while (reader->Read(&ev)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  tide::v1::Run run = WaitEnded(id);
  EXPECT_EQ(run.state(), RunState::RUN_STATE_CANCELLED) << tide::v1::RunState_Name(run.state());
}

TEST_F(ServerTest, LongClientDeadlineDoesNotRejectRunSwarm) {
  StartServer();
  grpc::ClientContext ctx;
  WithDeadline(&ctx, std::chrono::hours(24 * 30));  // longer than the longest run timeout
  auto reader = orch_->RunSwarm(&ctx, Request(4, 2));
  std::vector<SwarmEvent> events;
  grpc::Status st = ReadAll(reader.get(), &events);
  ASSERT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  ExpectOrderedRun(events, EventKind::EVENT_KIND_RUN_FINISHED);
}

TEST_F(ServerTest, EnvServiceResetStepVerify) {
  StartServer();
  {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::ListWorldsResponse resp;
    ASSERT_TRUE(env_->ListWorlds(&ctx, tide::v1::ListWorldsRequest(), &resp).ok());
    bool research = false;
    for (const auto& w : resp.worlds()) {
      if (w.name() != "research") continue;
      research = true;
      EXPECT_FALSE(w.description().empty());
      EXPECT_THAT(w.task_families(), ::testing::Contains("wide"));
    }
    EXPECT_TRUE(research);
  }
  tide::v1::ResetResponse reset;
  {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::ResetRequest req;
    req.set_world("research");
    req.set_seed(7);
    req.set_items(5);
    grpc::Status st = env_->Reset(&ctx, req, &reset);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  ASSERT_FALSE(reset.episode_id().empty());
  EXPECT_FALSE(reset.prompt().empty());
  EXPECT_FALSE(nlohmann::json::parse(reset.task_json(), nullptr, false).is_discarded());
  std::vector<std::string> tools;
  for (const auto& t : reset.tools()) {
    tools.push_back(t.name());
    EXPECT_FALSE(nlohmann::json::parse(t.parameters_json(), nullptr, false).is_discarded()) << t.name();
  }
  EXPECT_THAT(tools, ::testing::UnorderedElementsAre("search", "open"));
  {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::StepRequest req;
    req.set_episode_id(reset.episode_id());
    req.mutable_tool_call()->set_id("call_1");
    req.mutable_tool_call()->set_name("search");
    req.mutable_tool_call()->set_arguments_json(R"({"query": "company"})");
    tide::v1::StepResponse resp;
    grpc::Status st = env_->Step(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_FALSE(resp.is_error()) << resp.observation();
    nlohmann::json hits = nlohmann::json::parse(resp.observation(), nullptr, false);
    ASSERT_TRUE(hits.is_array()) << resp.observation();
    ASSERT_FALSE(hits.empty());
    EXPECT_TRUE(hits[0].contains("doc_id"));
  }
  {  // a bad tool call is an error observation, not an RPC failure
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::StepRequest req;
    req.set_episode_id(reset.episode_id());
    req.mutable_tool_call()->set_id("call_2");
    req.mutable_tool_call()->set_name("teleport");
    req.mutable_tool_call()->set_arguments_json("{}");
    tide::v1::StepResponse resp;
    ASSERT_TRUE(env_->Step(&ctx, req, &resp).ok());
    EXPECT_TRUE(resp.is_error());
  }
  {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::VerifyRequest req;
    req.set_episode_id(reset.episode_id());
    req.set_answer("not a table");
    tide::v1::VerifyResponse resp;
    ASSERT_TRUE(env_->Verify(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.reward(), 0.0);
    EXPECT_EQ(resp.item_f1(), 0.0);
    EXPECT_FALSE(resp.success());
    EXPECT_FALSE(resp.details_json().empty());
  }
  {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::StepRequest req;
    req.set_episode_id("ep-999999");
    req.mutable_tool_call()->set_name("search");
    req.mutable_tool_call()->set_arguments_json(R"({"query": "x"})");
    tide::v1::StepResponse resp;
    grpc::Status st = env_->Step(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(st.error_message(), HasSubstr("ep-999999"));
  }
  {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::VerifyRequest req;
    req.set_episode_id("ep-999999");
    tide::v1::VerifyResponse resp;
    EXPECT_EQ(env_->Verify(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    tide::v1::ResetRequest req;
    req.set_world("nope");
    tide::v1::ResetResponse resp;
    EXPECT_EQ(env_->Reset(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
}

TEST_F(ServerTest, TwentyClientsRunningFiveRunsEachLoseNothing) {
  StartServer();
  constexpr int kClients = 20, kRunsEach = 5;
  std::mutex mu;
  std::set<std::string> ids;
  std::vector<std::string> problems;
  auto problem = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    problems.push_back(what);
  };
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      // Each client has its own connection, as separate processes would.
      auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->port()),
                                               grpc::InsecureChannelCredentials(), [c] {
                                                 grpc::ChannelArguments args;
                                                 args.SetInt("client", c);  // no channel sharing
                                                 return args;
                                               }());
      auto stub = tide::v1::Orchestrator::NewStub(channel);
      for (int r = 0; r < kRunsEach; ++r) {
        const std::string who = "client " + std::to_string(c) + " run " + std::to_string(r);
        tide::v1::SwarmRequest req = Request(4, 2);
        req.set_seed(1000 + c * kRunsEach + r);
        grpc::ClientContext ctx;
        WithDeadline(&ctx, std::chrono::seconds(120));
        auto reader = stub->RunSwarm(&ctx, req);
        std::vector<SwarmEvent> events;
        grpc::Status st = ReadAll(reader.get(), &events);
        if (!st.ok() || events.empty()) {
          problem(who + ": RunSwarm " + st.error_message());
          continue;
        }
        for (size_t i = 0; i < events.size(); ++i) {
          if (events[i].seq() != i || events[i].run_id() != events[0].run_id()) {
            problem(who + ": event " + std::to_string(i) + " out of order");
            break;
          }
        }
        if (events.back().kind() != EventKind::EVENT_KIND_RUN_FINISHED) problem(who + ": did not end FINISHED");
        grpc::ClientContext get_ctx;
        WithDeadline(&get_ctx);
        tide::v1::GetRunRequest get;
        get.set_run_id(events[0].run_id());
        tide::v1::Run run;
        st = stub->GetRun(&get_ctx, get, &run);
        if (!st.ok() || run.state() != RunState::RUN_STATE_SUCCEEDED || run.num_events() != events.size() ||
            run.result().item_f1() != 1.0 || run.request().seed() != req.seed()) {
          problem(who + ": run " + run.run_id() + " " + RunState_Name(run.state()) + " " + run.result().error());
        }
        std::lock_guard<std::mutex> lock(mu);
        ids.insert(events[0].run_id());
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_TRUE(problems.empty()) << problems.size() << " problems, first: " << problems.front();
  EXPECT_EQ(ids.size(), static_cast<size_t>(kClients * kRunsEach));
  // The server's own list agrees: every run stored, every one SUCCEEDED.
  grpc::ClientContext ctx;
  WithDeadline(&ctx);
  tide::v1::ListRunsRequest list;
  list.set_limit(1000);
  tide::v1::ListRunsResponse listed;
  ASSERT_TRUE(orch_->ListRuns(&ctx, list, &listed).ok());
  ASSERT_EQ(listed.runs_size(), kClients * kRunsEach);
  for (const auto& run : listed.runs()) {
    EXPECT_TRUE(ids.count(run.run_id())) << run.run_id();
    EXPECT_EQ(run.state(), RunState::RUN_STATE_SUCCEEDED) << run.run_id();
  }
}

TEST_F(ServerTest, StartRejectsBadOptions) {
  ServerOptions options;
  options.port = 0;
  options.db_path = "";
  EXPECT_EQ(Server::Start(options).status().code(), StatusCode::kInvalidArgument);
  options.db_path = dir_.path() + "/db";
  options.port = 70000;
  EXPECT_EQ(Server::Start(options).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ServerTest, TheSameDatabaseCannotBeServedTwice) {
  StartServer();
  ServerOptions options;
  options.port = 0;
  options.db_path = dir_.path() + "/db";
  Result<std::unique_ptr<Server>> second = Server::Start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
}


// Without a served model the HTTP port still answers /metrics with every stored run's
// figures, so a Prometheus scrape of `tide serve --http-port` sees the swarms it ran.
TEST_F(ServerTest, MetricsEndpointCountsStoredRunsWithoutAModel) {
  StartServer(nullptr, /*http_port=*/0);
  ASSERT_GT(server_->http_port(), 0);
  std::string id;
  ASSERT_TRUE(StartSwarm(Request(6, 3), &id).ok());
  ASSERT_EQ(WaitEnded(id).state(), RunState::RUN_STATE_SUCCEEDED);
  Result<workers::Url> url = workers::ParseUrl("http://127.0.0.1:" + std::to_string(server_->http_port()));
  ASSERT_TRUE(url.ok());
  Result<workers::HttpResponse> r = workers::HttpRequest(*url, "GET", "/metrics", {}, "", std::chrono::seconds(10));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("tide_runs_total 1"));
  EXPECT_THAT(r->body, HasSubstr("tide_runs{state=\"succeeded\"} 1"));
  EXPECT_THAT(r->body, HasSubstr("tide_run_critical_steps_count 1"));
  // No model: the OpenAI API is not there.
  Result<workers::HttpResponse> chat =
      workers::HttpRequest(*url, "POST", "/v1/chat/completions", {}, "{}", std::chrono::seconds(10));
  ASSERT_TRUE(chat.ok());
  EXPECT_NE(chat->status, 200);
}

// A client's run may not start processes on the server unless its operator allows it:
// MCP servers and run_command run commands the client chose.
TEST_F(ServerTest, HostToolsNeedTheOperatorsOptIn) {
  StartServer();
  tide::v1::SwarmRequest with_mcp = Request(4, 2);
  tide::v1::McpServer* mcp = with_mcp.add_mcp_servers();
  mcp->set_name("evil");
  mcp->add_command("/bin/sh");
  mcp->add_command("-c");
  mcp->add_command("touch /tmp/pwned");
  std::string id;
  grpc::Status st = StartSwarm(with_mcp, &id);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("--allow-host-tools"));
  tide::v1::SwarmRequest with_command = Request(4, 2);
  with_command.add_builtin_tools("run_command");
  st = StartSwarm(with_command, &id);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("run_command"));
  // Built-ins that start nothing are fine, and the server keeps serving.
  tide::v1::SwarmRequest calculator = Request(4, 2);
  calculator.add_builtin_tools("calculator");
  ASSERT_TRUE(StartSwarm(calculator, &id).ok());
  EXPECT_EQ(WaitEnded(id).state(), RunState::RUN_STATE_SUCCEEDED);

  TearDown();
  StartServer(nullptr, -1, /*allow_host_tools=*/true);
  ASSERT_TRUE(StartSwarm(with_command, &id).ok());
  EXPECT_EQ(WaitEnded(id).state(), RunState::RUN_STATE_SUCCEEDED);
}
}  // namespace
}  // namespace tide::orchestrator
