// kill -9 of `tide serve` in the middle of a run, then a restart on the same database: the
// run resumes to completion with no event lost or duplicated, no journaled tool call run
// again, and the result of an uninterrupted run of the same request.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve_process.h"
#include "tide/orchestrator/call_journal.h"
#include "tide/orchestrator/event_replay.h"
#include "tide/orchestrator/store.h"
#include "tide/v1/orchestrator.grpc.pb.h"

namespace tide::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using tide::v1::EventKind;
using tide::v1::SwarmEvent;

class ServeResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tide-e2e-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::unique_ptr<tide::v1::Orchestrator::Stub> Connect(const ServeProcess& server) {
    auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
    EXPECT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10)));
    return tide::v1::Orchestrator::NewStub(channel);
  }

  static tide::v1::Run GetRun(tide::v1::Orchestrator::Stub* stub, const std::string& id) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    tide::v1::GetRunRequest req;
    req.set_run_id(id);
    tide::v1::Run run;
    grpc::Status st = stub->GetRun(&ctx, req, &run);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return run;
  }

  // The journal of a run: key -> entry, read with the server stopped.
  std::map<std::string, json> Journal(const std::string& id, const std::string& prefix) {
    std::map<std::string, json> out;
    auto store = orchestrator::Store::Open((dir_ / "db").string());
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) return out;
    auto rows = orchestrator::MakeStoreJournalBackend(store->get(), id)->Scan(prefix);
    EXPECT_TRUE(rows.ok());
    if (rows.ok()) {
      for (const auto& [key, value] : *rows) out[key.substr(prefix.size())] = json::parse(value);
    }
    return out;
  }

  fs::path dir_;
};

// What an event is, whatever process emitted it or how long its calls took.
std::multiset<std::string> Identities(const std::vector<SwarmEvent>& events) {
  std::multiset<std::string> out;
  for (const auto& ev : events) {
    if (ev.kind() == EventKind::EVENT_KIND_RUN_RESUMED) continue;
    out.insert(orchestrator::EventIdentity(ev.kind(), ev.agent(), ev.parent_agent(), json::parse(ev.payload_json())));
  }
  return out;
}

TEST_F(ServeResumeTest, KillNineMidRunThenRestartFinishesTheRunExactlyOnce) {
  const std::string db = (dir_ / "db").string();
  tide::v1::SwarmRequest req;
  req.set_world("research");
  req.set_seed(11);
  req.set_items(12);
  req.set_max_subagents(4);
  req.set_tool_latency_ms(150);  // so that the kill lands with calls done and calls in flight

  std::string id;
  std::vector<SwarmEvent> events;  // as the client saw them, across both servers
  {
    ServeProcess first(db);
    ASSERT_GT(first.port(), 0);
    auto stub = Connect(first);
    grpc::ClientContext ctx;
    tide::v1::StartSwarmResponse started;
    ASSERT_TRUE(stub->StartSwarm(&ctx, req, &started).ok());
    id = started.run_id();
    grpc::ClientContext watch_ctx;
    tide::v1::WatchSwarmRequest watch;
    watch.set_run_id(id);
    auto reader = stub->WatchSwarm(&watch_ctx, watch);
    SwarmEvent ev;
    int tool_results = 0;
    while (tool_results < 6 && reader->Read(&ev)) {
      events.push_back(ev);
      tool_results += ev.kind() == EventKind::EVENT_KIND_TOOL_RESULT;
    }
    ASSERT_EQ(tool_results, 6) << "the run ended before the kill";
    const int status = first.Stop(SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    while (reader->Read(&ev)) events.push_back(ev);  // what was in flight to the client
    EXPECT_FALSE(reader->Finish().ok());
  }
  // What the crash left: the run RUNNING, some calls journaled, some started only.
  const std::map<std::string, json> results_before = Journal(id, "t/");
  const std::map<std::string, json> intents_before = Journal(id, "i/");
  ASSERT_GE(results_before.size(), 6u);
  for (const auto& [key, entry] : results_before) EXPECT_EQ(entry["attempts"], 1) << key;

  ServeProcess second(db);
  ASSERT_GT(second.port(), 0);
  auto stub = Connect(second);
  {
    // The client picks up where it was cut off; the server replays then follows live.
    grpc::ClientContext ctx;
    tide::v1::WatchSwarmRequest watch;
    watch.set_run_id(id);
    watch.set_from_seq(events.size());
    auto reader = stub->WatchSwarm(&ctx, watch);
    SwarmEvent ev;
    while (reader->Read(&ev)) events.push_back(ev);
    grpc::Status st = reader->Finish();
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  const tide::v1::Run run = GetRun(stub.get(), id);
  ASSERT_EQ(run.state(), tide::v1::RUN_STATE_SUCCEEDED) << run.result().error();
  EXPECT_EQ(run.resumes(), 1);
  EXPECT_DOUBLE_EQ(run.result().item_f1(), 1.0);
  ASSERT_EQ(run.num_events(), events.size());
  int resumed = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq(), i) << "gap or duplicate at " << i;
    resumed += events[i].kind() == EventKind::EVENT_KIND_RUN_RESUMED;
  }
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(events.back().kind(), EventKind::EVENT_KIND_RUN_FINISHED);

  // The same request, uninterrupted, on the same server.
  std::vector<SwarmEvent> reference;
  {
    grpc::ClientContext ctx;
    auto reader = stub->RunSwarm(&ctx, req);
    SwarmEvent ev;
    while (reader->Read(&ev)) reference.push_back(ev);
    ASSERT_TRUE(reader->Finish().ok());
  }
  const tide::v1::Run plain = GetRun(stub.get(), reference.front().run_id());
  EXPECT_EQ(plain.resumes(), 0);
  const auto& r = run.result();
  const auto& p = plain.result();
  EXPECT_EQ(r.answer_json(), p.answer_json());
  EXPECT_EQ(r.verdict_json(), p.verdict_json());
  EXPECT_EQ(r.subagents(), p.subagents());
  EXPECT_EQ(r.finished_subagents(), p.finished_subagents());
  EXPECT_EQ(r.tool_calls(), p.tool_calls());
  EXPECT_EQ(r.total_steps(), p.total_steps());
  EXPECT_EQ(r.critical_steps(), p.critical_steps());
  EXPECT_EQ(r.usage().total_tokens(), p.usage().total_tokens());
  // Event for event the same log (timings aside), with nothing missing and nothing twice.
  EXPECT_EQ(Identities(events), Identities(reference));
  EXPECT_EQ(events.size(), reference.size() + 1);  // + RUN_RESUMED
  second.Stop();

  // Each tool call ran once, except those the kill caught between start and journal: they
  // ran again under the same key (attempts 2), and nothing journaled before ran again.
  const std::map<std::string, json> results = Journal(id, "t/");
  // Every call that reached a tool is journaled once, as in the uninterrupted run.
  EXPECT_EQ(results.size(), Journal(plain.run_id(), "t/").size());
  // (The coordinator's spawn_subagents is not journaled: it runs again, its sub-agents
  // answered from the journal.)
  size_t world_calls = 0;
  for (const auto& ev : events) {
    world_calls += ev.kind() == EventKind::EVENT_KIND_TOOL_RESULT && !ev.parent_agent().empty();
  }
  EXPECT_EQ(results.size(), world_calls);
  int again = 0;
  for (const auto& [key, entry] : results) {
    auto before = results_before.find(key);
    if (before != results_before.end()) {
      EXPECT_EQ(entry, before->second) << key << " was journaled before the kill and changed";
    } else if (intents_before.count(key)) {
      EXPECT_EQ(entry["attempts"], 2) << key;
      ++again;
    } else {
      EXPECT_EQ(entry["attempts"], 1) << key;
    }
  }
  EXPECT_EQ(again, static_cast<int>(intents_before.size() - results_before.size()));
  const json resumed_payload = json::parse(
      std::find_if(events.begin(), events.end(), [](const SwarmEvent& e) {
        return e.kind() == EventKind::EVENT_KIND_RUN_RESUMED;
      })->payload_json());
  EXPECT_EQ(resumed_payload["journaled_tool_calls"], results_before.size());
  EXPECT_EQ(resumed_payload["unfinished_tool_calls"], again);
}

}  // namespace
}  // namespace tide::e2e
