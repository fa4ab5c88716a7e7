#include "tide/rl/trajectory_export.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../orchestrator/orchestrator_test_util.h"
#include "tide/orchestrator/run_manager.h"
#include "tide/orchestrator/store.h"
#include "tide/workers/message.h"
#include "tide/workers/swarm_protocol.h"

namespace tide::rl {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
using orchestrator::RunManager;
using orchestrator::Store;
using orchestrator::SwarmSpec;
using tide::v1::SwarmEvent;

// One real swarm run (oracle, research seed 7), recorded by RunManager in a Store, shared by
// the tests of this file.
class TrajectoryExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new orchestrator::testing::TempDir();
    Store::Options opts;
    opts.sync_writes = false;
    auto store = Store::Open(dir_->path() + "/db", opts);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value().release();
    auto manager = RunManager::Create(store_);
    ASSERT_TRUE(manager.ok()) << manager.status().ToString();
    SwarmSpec spec;
    spec.world = "research";
    spec.seed = 7;
    spec.items = 20;
    spec.max_subagents = 8;
    Result<std::string> id = (*manager)->Start(spec);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    Result<tide::v1::Run> run = (*manager)->Wait(*id);
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    run_ = new tide::v1::Run(*run);
    // Read the run back from the store, as an exporter in another process would.
    auto rows = store_->ReadEvents(*id, 0);
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    events_ = new std::vector<SwarmEvent>();
    for (const auto& [seq, bytes] : *rows) {
      SwarmEvent ev;
      ASSERT_TRUE(ev.ParseFromString(bytes));
      events_->push_back(ev);
    }
    auto stored = store_->GetRun(*id);
    ASSERT_TRUE(stored.ok());
    ASSERT_TRUE(run_->ParseFromString(*stored));
  }
  static void TearDownTestSuite() {
    delete events_;
    delete run_;
    delete store_;
    delete dir_;
  }

  void SetUp() override {
    ASSERT_NE(run_, nullptr);
    ASSERT_EQ(run_->state(), tide::v1::RUN_STATE_SUCCEEDED) << run_->result().error();
  }

  static std::set<std::string> CalledTools(const json& messages) {
    std::set<std::string> names;
    for (const auto& m : messages) {
      if (!m.contains("tool_calls")) continue;
      for (const auto& c : m["tool_calls"]) names.insert(c["function"]["name"].get<std::string>());
    }
    return names;
  }

  static orchestrator::testing::TempDir* dir_;
  static Store* store_;
  static tide::v1::Run* run_;
  static std::vector<SwarmEvent>* events_;
};

orchestrator::testing::TempDir* TrajectoryExportTest::dir_ = nullptr;
Store* TrajectoryExportTest::store_ = nullptr;
tide::v1::Run* TrajectoryExportTest::run_ = nullptr;
std::vector<SwarmEvent>* TrajectoryExportTest::events_ = nullptr;

TEST_F(TrajectoryExportTest, OneExamplePerAgent) {
  Result<std::vector<json>> out = ExportTrajectories(*run_, *events_);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(run_->result().subagents(), 8);
  ASSERT_EQ(out->size(), 1u + 8u);
  EXPECT_EQ((*out)[0]["agent"], "coordinator");
  EXPECT_EQ((*out)[0]["role_in_swarm"], "coordinator");
  std::set<std::string> agents;
  for (const auto& ex : *out) {
    agents.insert(ex["agent"].get<std::string>());
    EXPECT_EQ(ex["run_id"], run_->run_id());
    EXPECT_DOUBLE_EQ(ex["reward"].get<double>(), run_->result().reward());
    EXPECT_EQ(ex["task_family"], "wide");
    if (ex["agent"] != "coordinator") {
      EXPECT_EQ(ex["role_in_swarm"], "subagent");
    }
  }
  EXPECT_EQ(agents.size(), out->size());  // no agent twice
}

TEST_F(TrajectoryExportTest, ExamplesAreOpenAIConversationsWithTools) {
  Result<std::vector<json>> out = ExportTrajectories(*run_, *events_);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  for (const auto& ex : *out) {
    const std::string agent = ex["agent"];
    const json& messages = ex["messages"];
    ASSERT_TRUE(messages.is_array()) << agent;
    ASSERT_GE(messages.size(), 3u) << agent;
    EXPECT_EQ(messages[0]["role"], "system") << agent;
    EXPECT_EQ(messages[1]["role"], "user") << agent;
    EXPECT_EQ(messages.back()["role"], "assistant") << agent;  // the final answer
    EXPECT_FALSE(messages.back().contains("tool_calls") && !messages.back()["tool_calls"].empty()) << agent;
    for (const auto& m : messages) {
      Result<workers::Message> parsed = workers::MessageFromJson(m);
      EXPECT_TRUE(parsed.ok()) << agent << ": " << parsed.status().ToString() << " " << m.dump();
    }
    ASSERT_TRUE(ex["tools"].is_array()) << agent;
    ASSERT_FALSE(ex["tools"].empty()) << agent;
    for (const auto& t : ex["tools"]) {
      EXPECT_TRUE(workers::ToolSpecFromJson(t).ok()) << t.dump();
      EXPECT_EQ(t.value("type", ""), "function") << t.dump();
    }
    // The messages are the agent's stored context, all of it and in order.
    int stored = 0;
    for (const auto& ev : *events_) stored += ev.agent() == agent && ev.kind() == tide::v1::EVENT_KIND_MESSAGE;
    EXPECT_EQ(static_cast<int>(messages.size()), stored) << agent;
  }
}

TEST_F(TrajectoryExportTest, CoordinatorExampleHoldsSpawnsAndReportsOnly) {
  Result<std::vector<json>> out = ExportTrajectories(*run_, *events_);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const json& coordinator = (*out)[0];
  ASSERT_EQ(coordinator["agent"], "coordinator");
  EXPECT_EQ(CalledTools(coordinator["messages"]), (std::set<std::string>{workers::kSpawnSubagentsTool}));
  std::set<std::string> tools;
  for (const auto& t : coordinator["tools"]) tools.insert(t["function"]["name"].get<std::string>());
  EXPECT_EQ(tools, (std::set<std::string>{workers::kSpawnSubagentsTool}));

  std::set<std::string> spawn_ids;
  for (const auto& m : coordinator["messages"]) {
    if (!m.contains("tool_calls")) continue;
    for (const auto& c : m["tool_calls"]) spawn_ids.insert(c["id"].get<std::string>());
  }
  int reports = 0;
  for (const auto& m : coordinator["messages"]) {
    if (m["role"] != "tool") continue;
    ++reports;
    EXPECT_TRUE(spawn_ids.count(m["tool_call_id"].get<std::string>()));
    Result<std::vector<workers::SubagentReport>> parsed = workers::ParseSubagentReports(m["content"]);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_FALSE(parsed->empty());
    EXPECT_THAT(m["content"].get<std::string>(), ::testing::Not(HasSubstr("doc_id")));
  }
  EXPECT_GE(reports, 1);

  // The sub-agents' examples hold the searching and reading, and never spawn.
  for (size_t i = 1; i < out->size(); ++i) {
    const json& ex = (*out)[i];
    const std::set<std::string> called = CalledTools(ex["messages"]);
    EXPECT_TRUE(called.count("search")) << ex["agent"];
    EXPECT_FALSE(called.count(workers::kSpawnSubagentsTool)) << ex["agent"];
    for (const auto& t : ex["tools"]) EXPECT_NE(t["function"]["name"], workers::kSpawnSubagentsTool);
    // Nothing of the coordinator's context: its system prompt is not in here.
    EXPECT_NE(ex["messages"][0]["content"], coordinator["messages"][0]["content"]);
  }
}

TEST_F(TrajectoryExportTest, OnlySucceededRunsExport) {
  for (auto state : {tide::v1::RUN_STATE_RUNNING, tide::v1::RUN_STATE_FAILED, tide::v1::RUN_STATE_CANCELLED,
                     tide::v1::RUN_STATE_UNSPECIFIED}) {
    tide::v1::Run run = *run_;
    run.set_state(state);
    Result<std::vector<json>> out = ExportTrajectories(run, *events_);
    ASSERT_FALSE(out.ok()) << tide::v1::RunState_Name(state);
    EXPECT_EQ(out.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_THAT(out.status().message(), HasSubstr(run_->run_id()));
  }
}

TEST_F(TrajectoryExportTest, CorruptPayloadIsDataLoss) {
  std::vector<SwarmEvent> events = *events_;
  bool corrupted = false;
  for (auto& ev : events) {
    if (ev.kind() == tide::v1::EVENT_KIND_MESSAGE) {
      ev.set_payload_json("{not json");
      corrupted = true;
      break;
    }
  }
  ASSERT_TRUE(corrupted);
  Result<std::vector<json>> out = ExportTrajectories(*run_, events);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kDataLoss);
}

TEST_F(TrajectoryExportTest, NoEventsNoExamples) {
  Result<std::vector<json>> out = ExportTrajectories(*run_, {});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->empty());
}

}  // namespace
}  // namespace tide::rl
