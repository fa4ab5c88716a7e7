// End to end: starts the real `tide serve` binary on a loopback port, checks the standard
// health service, runs a swarm through the gRPC API and through `tide swarm --server`,
// stops the server, and reads the stored events back from its RocksDB database.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "serve_process.h"
#include "shell.h"
#include "tiny_tool_model.h"
#include "tide/orchestrator/store.h"
#include "tide/v1/env.grpc.pb.h"
#include "tide/v1/orchestrator.grpc.pb.h"

namespace {

namespace fs = std::filesystem;
using tide::e2e::ServeProcess;

// grpc.health.v1.Health/Check through the generic stub: the request is an empty
// HealthCheckRequest (service ""), the response's field 1 is the serving status.
int HealthStatus(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::ByteBuffer request;  // zero bytes = the default HealthCheckRequest
  grpc::Slice empty;
  request = grpc::ByteBuffer(&empty, 1);
  auto call = stub.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  if (!status.ok()) return -1;
  std::vector<grpc::Slice> slices;
  (void)response.Dump(&slices);
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // Field 1, varint: tag byte 0x08 then the value. SERVING = 1; an absent field is UNKNOWN = 0.
  if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x08) return bytes[1];
  return 0;
}

class ServeSwarmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tide-e2e-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ServeSwarmTest, SwarmOverGrpcIsStoredAndReadBack) {
  const std::string db = (dir_ / "db").string();
  ServeProcess server(db);
  ASSERT_GT(server.port(), 0) << "tide serve did not report a port";
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10)));
  EXPECT_EQ(HealthStatus(channel), 1) << "health service should answer SERVING";

  // A swarm through the gRPC API.
  auto stub = tide::v1::Orchestrator::NewStub(channel);
  tide::v1::SwarmRequest req;
  req.set_world("research");
  req.set_seed(7);
  req.set_items(20);
  req.set_max_subagents(8);
  req.set_policy("oracle");
  grpc::ClientContext run_ctx;
  run_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto reader = stub->RunSwarm(&run_ctx, req);
  std::vector<tide::v1::SwarmEvent> events;
  tide::v1::SwarmEvent ev;
  std::set<std::string> subagents;
  while (reader->Read(&ev)) {
    events.push_back(ev);
    if (ev.kind() == tide::v1::EVENT_KIND_AGENT_STARTED && !ev.parent_agent().empty()) subagents.insert(ev.agent());
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_GT(events.size(), 20u);
  for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].seq(), i) << "events must arrive in order, no gaps";
  EXPECT_EQ(events.front().kind(), tide::v1::EVENT_KIND_RUN_STARTED);
  EXPECT_EQ(events.back().kind(), tide::v1::EVENT_KIND_RUN_FINISHED);
  EXPECT_EQ(subagents.size(), 8u);
  const std::string run_id = events.front().run_id();

  grpc::ClientContext get_ctx;
  tide::v1::GetRunRequest get;
  get.set_run_id(run_id);
  tide::v1::Run run;
  ASSERT_TRUE(stub->GetRun(&get_ctx, get, &run).ok());
  EXPECT_EQ(run.state(), tide::v1::RUN_STATE_SUCCEEDED);
  EXPECT_DOUBLE_EQ(run.result().item_f1(), 1.0);
  EXPECT_TRUE(run.result().success());
  EXPECT_EQ(run.num_events(), events.size());

  // The CLI as a gRPC client of the same server.
  int status = 0;
  const std::string out = tide::e2e::Shell(std::string(TIDE_BIN) + " swarm --policy oracle --server " + server.address() +
                                         " --seed 11 --items 12 --subagents 4 --json",
                                     &status);
  ASSERT_EQ(status, 0) << out;
  const nlohmann::json j = nlohmann::json::parse(out.substr(out.rfind('{')));
  EXPECT_EQ(j["subagents"], 4);
  EXPECT_EQ(j["success"], true);
  EXPECT_EQ(j["item_f1"], 1.0);
  EXPECT_TRUE(j.contains("wall_s"));
  const std::string cli_run = j["run_id"];

  // Bad input over the wire names the problem.
  grpc::ClientContext bad_ctx;
  tide::v1::StartSwarmResponse started;
  tide::v1::SwarmRequest bad = req;
  bad.set_world("atlantis");
  grpc::Status st = stub->StartSwarm(&bad_ctx, bad, &started);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(st.error_message().find("atlantis"), std::string::npos);
  const std::string unknown =
      tide::e2e::Shell(std::string(TIDE_BIN) + " runs show no-such-run --server " + server.address() + " 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(unknown.find("no-such-run"), std::string::npos) << unknown;

  ASSERT_EQ(server.Stop(), 0);

  // Everything streamed was stored first: read it back from the database itself.
  auto store = tide::orchestrator::Store::Open(db);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto stored = (*store)->ReadEvents(run_id, 0);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    tide::v1::SwarmEvent s;
    ASSERT_TRUE(s.ParseFromString((*stored)[i].second));
    EXPECT_EQ(s.SerializeAsString(), events[i].SerializeAsString()) << "event " << i;
  }
  auto runs = (*store)->ListRuns(0);
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), 2u);
  EXPECT_EQ(runs->front().first, cli_run) << "newest first";
  store->reset();

  // The CLI reads the same database offline.
  const std::string shown = tide::e2e::Shell(std::string(TIDE_BIN) + " runs show " + run_id + " --db " + db, &status);
  ASSERT_EQ(status, 0) << shown;
  EXPECT_NE(shown.find("researcher-8"), std::string::npos) << shown;
  EXPECT_NE(shown.find("item_f1 1.000"), std::string::npos) << shown;
}

TEST_F(ServeSwarmTest, CliRejectsBadInputWithoutTouchingTheStore) {
  const std::string db = (dir_ / "db").string();
  int status = 0;
  const std::string tide = std::string(TIDE_BIN);
  std::string out = tide::e2e::Shell(tide + " swarm --policy oracle --db " + db + " --seed 7 --items 5 --subagents 2 --json", &status);
  ASSERT_EQ(status, 0) << out;

  struct Case {
    std::string args, expect;
  };
  const std::vector<Case> cases = {
      {"swarm --world atlantis", "atlantis"},
      {"swarm --subagents 0", "--subagents"},
      {"swarm --subagents 101", "--subagents"},
      {"swarm --config " + (dir_ / "missing.json").string(), "missing.json"},
      {"runs show run-that-does-not-exist", "run-that-does-not-exist"},
      {"swarm --model-dir " + (dir_ / "no-model").string(), "no-model"},
      {"swarm --policy oracle --model-dir " + (dir_ / "no-model").string(), "--model-dir"},
  };
  for (const auto& c : cases) {
    out = tide::e2e::Shell(tide + " " + c.args + " --db " + db + " 2>&1", &status);
    EXPECT_NE(status, 0) << c.args;
    EXPECT_TRUE(WIFEXITED(status)) << c.args << " must exit, not crash";
    EXPECT_NE(out.find(c.expect), std::string::npos) << c.args << " said: " << out;
  }
  {
    std::FILE* f = std::fopen((dir_ / "bad.json").c_str(), "w");
    std::fputs("{\"items\": 20, \"max_subagents\": \"eight\"}", f);
    std::fclose(f);
  }
  out = tide::e2e::Shell(tide + " swarm --db " + db + " --config " + (dir_ / "bad.json").string() + " 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("max_subagents"), std::string::npos) << out;
  EXPECT_NE(out.find("bad.json"), std::string::npos) << out;

  // The one good run is still there, intact.
  out = tide::e2e::Shell(tide + " runs list --json --db " + db, &status);
  ASSERT_EQ(status, 0);
  const nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["state"], "succeeded");
  EXPECT_EQ(j["item_f1"], 1.0);
}

}  // namespace

// `tide swarm` decodes on a model loaded into the process when the policy is "engine"
// (the CLI's default): --model-dir, else $TIDE_MODEL_DIR, else the committed default.
TEST(SwarmCliEngineTest, RunsOnAModelLoadedIntoTheProcess) {
  const std::filesystem::path dir = tide::e2e::FreshTempDir("tide-swarm-engine-");
  std::string log;
  const std::string model = tide::e2e::TrainTinyToolModel(dir, &log);
  ASSERT_FALSE(model.empty()) << log;
  {  // room for the research task's prompt (the weights do not depend on the context length)
    const std::filesystem::path config = std::filesystem::path(model) / "config.json";
    nlohmann::json c = nlohmann::json::parse(std::ifstream(config));
    c["max_position_embeddings"] = 4096;
    std::ofstream(config) << c.dump();
  }
  const std::string tide = std::string(TIDE_BIN), db = (dir / "db").string();
  for (const std::string& how : {" --model-dir " + model, std::string()}) {
    int status = 0;
    const std::string env = how.empty() ? "TIDE_MODEL_DIR=" + model + " " : "";
    const std::string out = tide::e2e::Shell(env + tide + " swarm --db " + db + how +
                                                 " --items 2 --subagents 2 --max-tokens 3000 --timeout 120 --json 2>/dev/null",
                                             &status);
    ASSERT_TRUE(WIFEXITED(status)) << out;
    const nlohmann::json run = tide::e2e::LastJson(out);
    ASSERT_TRUE(run.is_object()) << out;
    EXPECT_GT(run.value("tokens", 0), 0) << "the model decoded every turn: " << out;
  }
  std::filesystem::remove_all(dir);
}
