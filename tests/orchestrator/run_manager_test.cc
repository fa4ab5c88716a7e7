#include "tide/orchestrator/run_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "../workers/scripted_http_server.h"
#include "orchestrator_test_util.h"
#include "tide/orchestrator/event_replay.h"
#include "tide/orchestrator/store.h"

namespace tide::orchestrator {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
using testing::ResearchSpec;
using testing::WrappedOracle;
using tide::v1::EventKind;
using tide::v1::RunState;
using tide::v1::SwarmEvent;

class RunManagerTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenStore(); }

  void OpenStore() {
    Store::Options opts;
    opts.sync_writes = false;  // keeps the tests fast; durability is store_test's business
    auto store = Store::Open(dir_.path() + "/db", opts);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  std::unique_ptr<RunManager> Manager(std::shared_ptr<workers::Policy> policy = nullptr) {
    RunManager::Options options;
    options.subagent_threads = 16;
    options.policy = std::move(policy);
    auto m = RunManager::Create(store_.get(), options);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  }

  std::vector<SwarmEvent> StoredEvents(const std::string& id, uint64_t from = 0) {
    std::vector<SwarmEvent> out;
    auto rows = store_->ReadEvents(id, from);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok()) return out;
    for (const auto& [seq, bytes] : *rows) {
      SwarmEvent ev;
      EXPECT_TRUE(ev.ParseFromString(bytes)) << seq;
      EXPECT_EQ(ev.seq(), seq);
      out.push_back(ev);
    }
    return out;
  }

  // Blocks until the run has emitted an AGENT_STARTED of a sub-agent (true) or ended (false).
  bool WaitForSubagent(RunManager* m, const std::string& id) {
    bool seen = false;
    (void)m->Watch(id, 0, [&](const SwarmEvent& ev) {
      seen = ev.kind() == EventKind::EVENT_KIND_AGENT_STARTED && ev.agent() != kCoordinatorName;
      return !seen;
    });
    return seen;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

void ExpectWellFormedLog(const std::vector<SwarmEvent>& events, const std::string& id, EventKind last) {
  ASSERT_GE(events.size(), 2u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq(), i) << "gap or reorder at " << i;
    EXPECT_EQ(events[i].run_id(), id);
    EXPECT_FALSE(nlohmann::json::parse(events[i].payload_json(), nullptr, false).is_discarded()) << i;
  }
  EXPECT_EQ(events.front().kind(), EventKind::EVENT_KIND_RUN_STARTED);
  EXPECT_EQ(events.back().kind(), last);
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    EXPECT_NE(events[i].kind(), EventKind::EVENT_KIND_RUN_STARTED) << i;
    EXPECT_NE(events[i].kind(), EventKind::EVENT_KIND_RUN_FINISHED) << i;
  }
}

TEST_F(RunManagerTest, StartWaitSucceedsAndStoresAGaplessLog) {
  auto m = Manager();
  ASSERT_TRUE(m);
  Result<std::string> id = m->Start(ResearchSpec());
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  Result<tide::v1::Run> run = m->Wait(*id);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->state(), RunState::RUN_STATE_SUCCEEDED) << run->result().error();
  EXPECT_DOUBLE_EQ(run->result().item_f1(), 1.0);
  EXPECT_TRUE(run->result().success());
  EXPECT_EQ(run->result().subagents(), 8);
  EXPECT_EQ(run->run_id(), *id);
  EXPECT_EQ(run->request().task_family(), "wide");  // the family actually run is recorded
  EXPECT_EQ(run->request().items(), 20);
  EXPECT_GT(run->finished_unix_ms(), 0);
  EXPECT_GE(run->finished_unix_ms(), run->created_unix_ms());

  const std::vector<SwarmEvent> events = StoredEvents(*id);
  ExpectWellFormedLog(events, *id, EventKind::EVENT_KIND_RUN_FINISHED);
  EXPECT_EQ(run->num_events(), events.size());
  auto finished = nlohmann::json::parse(events.back().payload_json());
  EXPECT_DOUBLE_EQ(finished.value("item_f1", 0.0), 1.0);

  // The stored record is the same as what Get returns.
  auto bytes = store_->GetRun(*id);
  ASSERT_TRUE(bytes.ok());
  tide::v1::Run stored;
  ASSERT_TRUE(stored.ParseFromString(*bytes));
  EXPECT_EQ(stored.state(), RunState::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(stored.num_events(), events.size());
  Result<tide::v1::Run> got = m->Get(*id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->SerializeAsString(), stored.SerializeAsString());
}

TEST_F(RunManagerTest, WatchReplaysFromAnySeq) {
  auto m = Manager();
  ASSERT_TRUE(m);
  Result<std::string> id = m->Start(ResearchSpec(6, 3));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(m->Wait(*id).ok());
  const std::vector<SwarmEvent> all = StoredEvents(*id);
  ASSERT_GT(all.size(), 10u);
  for (uint64_t from : {uint64_t{0}, uint64_t{1}, uint64_t{all.size() / 2}, uint64_t{all.size() - 1},
                        uint64_t{all.size()}, uint64_t{all.size() + 100}}) {
    std::vector<SwarmEvent> got;
    Status s = m->Watch(*id, from, [&](const SwarmEvent& ev) {
      got.push_back(ev);
      return true;
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
    const size_t want = from >= all.size() ? 0 : all.size() - from;
    ASSERT_EQ(got.size(), want) << "from " << from;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].SerializeAsString(), all[from + i].SerializeAsString()) << "from " << from << " i " << i;
    }
  }
}

TEST_F(RunManagerTest, LiveWatchSeesEveryEventInOrder) {
  auto m = Manager(std::make_shared<WrappedOracle>(std::chrono::milliseconds(20)));
  ASSERT_TRUE(m);
  Result<std::string> id = m->Start(ResearchSpec(8, 4));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  // Two watchers: one from the start, one from seq 3; both follow the run live.
  std::vector<SwarmEvent> a, b;
  std::thread other([&] {
    Status s = m->Watch(*id, 3, [&](const SwarmEvent& ev) {
      b.push_back(ev);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
  });
  Status s = m->Watch(*id, 0, [&](const SwarmEvent& ev) {
    a.push_back(ev);
    return true;
  });
  other.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectWellFormedLog(a, *id, EventKind::EVENT_KIND_RUN_FINISHED);
  const std::vector<SwarmEvent> stored = StoredEvents(*id);
  ASSERT_EQ(a.size(), stored.size());
  ASSERT_EQ(b.size(), stored.size() - 3);
  for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(b[i].seq(), i + 3);
  Result<tide::v1::Run> run = m->Get(*id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state(), RunState::RUN_STATE_SUCCEEDED);
}

TEST_F(RunManagerTest, WatchStopsWhenTheWatcherDoes) {
  auto m = Manager(std::make_shared<WrappedOracle>(std::chrono::milliseconds(50)));
  ASSERT_TRUE(m);
  Result<std::string> id = m->Start(ResearchSpec(8, 4));
  ASSERT_TRUE(id.ok());
  int n = 0;
  Status s = m->Watch(*id, 0, [&](const SwarmEvent&) { return ++n < 2; });
  EXPECT_EQ(s.code(), StatusCode::kCancelled);
  EXPECT_EQ(n, 2);
  // A stop callback ends a watch that is waiting for live events.
  const auto start = std::chrono::steady_clock::now();
  s = m->Watch(*id, 0, [](const SwarmEvent&) { return true; },
               [&] { return std::chrono::steady_clock::now() - start > std::chrono::milliseconds(30); });
  Result<tide::v1::Run> run = m->Get(*id);
  ASSERT_TRUE(run.ok());
  if (run->state() == RunState::RUN_STATE_RUNNING) {
    EXPECT_EQ(s.code(), StatusCode::kCancelled) << s.ToString();
  }
  ASSERT_TRUE(m->Wait(*id).ok());
}

TEST_F(RunManagerTest, UnknownRunIsNotFound) {
  auto m = Manager();
  ASSERT_TRUE(m);
  Status s = m->Watch("run-nope", 0, [](const SwarmEvent&) { return true; });
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("run-nope"));
  Result<tide::v1::Run> got = m->Get("run-nope");
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(got.status().message(), HasSubstr("run-nope"));
  EXPECT_EQ(m->Cancel("run-nope", "why").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(m->Wait("run-nope").status().code(), StatusCode::kNotFound);
}

TEST_F(RunManagerTest, ListIsNewestFirst) {
  auto m = Manager();
  ASSERT_TRUE(m);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    SwarmSpec spec = ResearchSpec(4, 2);
    spec.seed = 100 + i;
    Result<std::string> id = m->Start(spec);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    ASSERT_TRUE(m->Wait(*id).ok());
    ids.push_back(*id);
  }
  Result<std::vector<tide::v1::Run>> all = m->List(0);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].run_id(), ids[2]);
  EXPECT_EQ((*all)[1].run_id(), ids[1]);
  EXPECT_EQ((*all)[2].run_id(), ids[0]);
  EXPECT_EQ((*all)[0].request().seed(), 102u);
  for (const auto& r : *all) EXPECT_EQ(r.state(), RunState::RUN_STATE_SUCCEEDED);
  Result<std::vector<tide::v1::Run>> two = m->List(2);
  ASSERT_TRUE(two.ok());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[0].run_id(), ids[2]);
  EXPECT_EQ((*two)[1].run_id(), ids[1]);
}

TEST_F(RunManagerTest, BadSpecIsRejectedAndNothingIsStored) {
  auto m = Manager();
  ASSERT_TRUE(m);
  SwarmSpec spec = ResearchSpec();
  spec.max_subagents = 0;
  Result<std::string> id = m->Start(spec);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(id.status().message(), HasSubstr("max_subagents"));
  spec = ResearchSpec();
  spec.world = "nope";
  id = m->Start(spec);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kNotFound);
  spec = ResearchSpec();
  spec.items = 0;
  EXPECT_EQ(m->Start(spec).status().code(), StatusCode::kInvalidArgument);

  auto runs = store_->ListRuns(0);
  ASSERT_TRUE(runs.ok());
  EXPECT_TRUE(runs->empty());
  auto listed = m->List(0);
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

TEST_F(RunManagerTest, EachRunDecodesThroughThePolicyItAsksFor) {
  // An OpenAI-compatible server whose model answers at once without calling a tool.
  std::atomic<int> asked{0};
  std::string model_seen;
  workers::testing::ScriptedHttpServer server([&](const workers::testing::ScriptedRequest& req, int) {
    ++asked;
    model_seen = nlohmann::json::parse(req.body)["model"].get<std::string>();
    const nlohmann::json answer = {
        {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", "No table today."}}}}}},
        {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 4}}}};
    return workers::testing::ScriptedResponse{200, answer.dump()};
  });
  RunManager::Options options;
  options.subagent_threads = 4;
  auto created = RunManager::Create(store_.get(), options);
  ASSERT_TRUE(created.ok());
  auto& m = *created;

  SwarmSpec spec = ResearchSpec();
  spec.policy = "engine";  // no served model here
  Result<std::string> refused = m->Start(spec);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("--model"));

  spec.policy = "openai";
  spec.base_url = server.url();
  spec.model = "remote-model";
  Result<std::string> id = m->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  Result<tide::v1::Run> run = m->Wait(*id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->request().policy(), "openai");
  EXPECT_EQ(run->request().model(), "remote-model");
  EXPECT_GE(asked.load(), 1);
  EXPECT_EQ(model_seen, "remote-model");
  bool answered = false;
  for (const SwarmEvent& ev : StoredEvents(*id)) {
    answered = answered || (ev.kind() == EventKind::EVENT_KIND_MESSAGE && ev.agent() == kCoordinatorName &&
                            ev.payload_json().find("No table today.") != std::string::npos);
  }
  EXPECT_TRUE(answered) << "the coordinator's reply should be the remote model's";

  // The oracle still serves runs that ask for it, on the same manager.
  Result<std::string> oracle = m->Start(ResearchSpec());
  ASSERT_TRUE(oracle.ok());
  Result<tide::v1::Run> oracle_run = m->Wait(*oracle);
  ASSERT_TRUE(oracle_run.ok());
  EXPECT_EQ(oracle_run->state(), RunState::RUN_STATE_SUCCEEDED);
  EXPECT_TRUE(oracle_run->result().success());
}

TEST_F(RunManagerTest, CancelStopsARunningRun) {
  auto m = Manager(std::make_shared<WrappedOracle>(std::chrono::milliseconds(100)));
  ASSERT_TRUE(m);
  Result<std::string> id = m->Start(ResearchSpec());
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(WaitForSubagent(m.get(), *id)) << "the run ended before a sub-agent started";
  Result<RunState> state = m->Cancel(*id, "the test had seen enough");
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(*state, RunState::RUN_STATE_RUNNING);  // asked to stop; it stops at its next step
  Result<tide::v1::Run> run = m->Wait(*id);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->state(), RunState::RUN_STATE_CANCELLED);
  EXPECT_THAT(run->result().error(), HasSubstr("the test had seen enough"));

  const std::vector<SwarmEvent> events = StoredEvents(*id);
  ExpectWellFormedLog(events, *id, EventKind::EVENT_KIND_RUN_CANCELLED);
  EXPECT_THAT(events.back().payload_json(), HasSubstr("the test had seen enough"));
  EXPECT_EQ(run->num_events(), events.size());
  // Cancelling a finished run leaves it as it is.
  state = m->Cancel(*id, "again");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, RunState::RUN_STATE_CANCELLED);
  EXPECT_EQ(StoredEvents(*id).size(), events.size());
}

TEST_F(RunManagerTest, CancelOfAFinishedRunKeepsItSucceeded) {
  auto m = Manager();
  ASSERT_TRUE(m);
  Result<std::string> id = m->Start(ResearchSpec(4, 2));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(m->Wait(*id).ok());
  Result<RunState> state = m->Cancel(*id, "too late");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, RunState::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(m->Get(*id)->state(), RunState::RUN_STATE_SUCCEEDED);
}

TEST_F(RunManagerTest, DeadlineEndsTheRunFailed) {
  auto m = Manager(std::make_shared<WrappedOracle>(std::chrono::milliseconds(100)));
  ASSERT_TRUE(m);
  SwarmSpec spec = ResearchSpec();
  spec.timeout_s = 0.05;
  Result<std::string> id = m->Start(spec);
  ASSERT_TRUE(id.ok());
  Result<tide::v1::Run> run = m->Wait(*id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state(), RunState::RUN_STATE_FAILED);
  EXPECT_THAT(run->result().error(), HasSubstr("DEADLINE_EXCEEDED"));
  ExpectWellFormedLog(StoredEvents(*id), *id, EventKind::EVENT_KIND_RUN_FAILED);
}

// A run that fails after working still reports what it spent (tokens, calls, steps).
TEST_F(RunManagerTest, AFailedRunReportsWhatItSpent) {
  auto m = Manager();
  ASSERT_TRUE(m);
  SwarmSpec spec = ResearchSpec();
  spec.max_tokens = 2000;  // the run needs far more
  Result<std::string> id = m->Start(spec);
  ASSERT_TRUE(id.ok());
  Result<tide::v1::Run> run = m->Wait(*id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state(), RunState::RUN_STATE_FAILED);
  EXPECT_THAT(run->result().error(), HasSubstr("budget_exhausted"));
  EXPECT_GE(run->result().usage().total_tokens(), 2000u);
  EXPECT_GT(run->result().tool_calls(), 0);
  EXPECT_GT(run->result().subagents(), 0);
  EXPECT_GT(run->result().wall_s(), 0.0);
}

TEST_F(RunManagerTest, ConcurrentRunsKeepSeparateGaplessLogs) {
  auto m = Manager();
  ASSERT_TRUE(m);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    SwarmSpec spec = ResearchSpec(8, 4);
    spec.seed = 1 + i;
    Result<std::string> id = m->Start(spec);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    ids.push_back(*id);
  }
  for (const auto& id : ids) {
    Result<tide::v1::Run> run = m->Wait(id);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(run->state(), RunState::RUN_STATE_SUCCEEDED) << run->result().error();
    EXPECT_DOUBLE_EQ(run->result().item_f1(), 1.0);
    const auto events = StoredEvents(id);
    ExpectWellFormedLog(events, id, EventKind::EVENT_KIND_RUN_FINISHED);
    EXPECT_EQ(run->num_events(), events.size());
  }
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());  // ids are unique
}

// Identities of a log's events (timings aside), without the resume marker.
std::multiset<std::string> Identities(const std::vector<SwarmEvent>& events) {
  std::multiset<std::string> out;
  for (const auto& ev : events) {
    if (ev.kind() == EventKind::EVENT_KIND_RUN_RESUMED) continue;
    out.insert(EventIdentity(ev.kind(), ev.agent(), ev.parent_agent(), nlohmann::json::parse(ev.payload_json())));
  }
  return out;
}

TEST_F(RunManagerTest, DestroyingTheManagerSuspendsRunsAndTheNextOneResumesThem) {
  SwarmSpec spec = ResearchSpec(8, 4);
  spec.tool_latency_ms = 30;
  std::string id;
  {
    auto m = Manager();
    ASSERT_TRUE(m);
    Result<std::string> started = m->Start(spec);
    ASSERT_TRUE(started.ok());
    id = *started;
    int results = 0;
    (void)m->Watch(id, 0, [&](const SwarmEvent& ev) {
      results += ev.kind() == EventKind::EVENT_KIND_TOOL_RESULT;
      return results < 4;
    });
    ASSERT_EQ(results, 4);
  }  // suspends: nothing more is recorded, the run stays RUNNING
  const std::vector<SwarmEvent> before = StoredEvents(id);
  tide::v1::Run left;
  ASSERT_TRUE(left.ParseFromString(*store_->GetRun(id)));
  EXPECT_EQ(left.state(), RunState::RUN_STATE_RUNNING);
  for (const auto& ev : before) {
    EXPECT_NE(ev.kind(), EventKind::EVENT_KIND_RUN_CANCELLED);
    EXPECT_THAT(ev.payload_json(), ::testing::Not(HasSubstr("cancelled"))) << ev.agent() << " recorded its suspension";
  }

  auto policy = std::make_shared<WrappedOracle>();
  auto m = Manager(policy);
  ASSERT_TRUE(m);
  std::vector<SwarmEvent> watched;  // replayed, then followed live across the resume
  ASSERT_TRUE(m->Watch(id, 0, [&](const SwarmEvent& ev) {
                 watched.push_back(ev);
                 return true;
               }).ok());
  const int resumed_calls = policy->calls();
  Result<tide::v1::Run> run = m->Get(id);
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(run->state(), RunState::RUN_STATE_SUCCEEDED) << run->result().error();
  EXPECT_EQ(run->resumes(), 1);
  EXPECT_DOUBLE_EQ(run->result().item_f1(), 1.0);
  const std::vector<SwarmEvent> events = StoredEvents(id);
  ExpectWellFormedLog(events, id, EventKind::EVENT_KIND_RUN_FINISHED);
  ASSERT_EQ(watched.size(), events.size());
  EXPECT_EQ(run->num_events(), events.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(events[i].SerializeAsString(), before[i].SerializeAsString());
  ASSERT_EQ(events[before.size()].kind(), EventKind::EVENT_KIND_RUN_RESUMED);
  const auto marker = nlohmann::json::parse(events[before.size()].payload_json());
  EXPECT_EQ(marker["resume"], 1);
  EXPECT_EQ(marker["stored_events"], before.size());

  // Against the same spec run without interruption: the same result, the same events.
  Result<std::string> plain_id = m->Start(spec);
  ASSERT_TRUE(plain_id.ok());
  Result<tide::v1::Run> plain = m->Wait(*plain_id);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(run->result().answer_json(), plain->result().answer_json());
  EXPECT_EQ(run->result().tool_calls(), plain->result().tool_calls());
  EXPECT_EQ(run->result().total_steps(), plain->result().total_steps());
  EXPECT_EQ(run->result().critical_steps(), plain->result().critical_steps());
  EXPECT_EQ(run->result().usage().total_tokens(), plain->result().usage().total_tokens());
  EXPECT_EQ(Identities(events), Identities(StoredEvents(*plain_id)));
  // The policy was asked only what the journal did not know.
  EXPECT_EQ(resumed_calls, plain->result().total_steps() - marker["journaled_policy_calls"].get<int>());
  EXPECT_GT(marker["journaled_policy_calls"].get<int>(), 0);
}

TEST_F(RunManagerTest, ARunThatCannotResumeIsMarkedFailedNamingWhy) {
  // What an earlier process left behind: a run still RUNNING that asked for the served
  // model (this manager has none), and a finished one.
  tide::v1::Run left;
  left.set_run_id("run-left");
  left.set_state(RunState::RUN_STATE_RUNNING);
  SwarmSpec spec = ResearchSpec();
  spec.policy = "engine";
  *left.mutable_request() = SpecToProto(spec);
  left.set_created_unix_ms(1000);
  ASSERT_TRUE(store_->PutRun("run-left", left.SerializeAsString()).ok());
  for (uint64_t seq = 0; seq < 2; ++seq) {
    SwarmEvent ev;
    ev.set_run_id("run-left");
    ev.set_seq(seq);
    ev.set_kind(seq == 0 ? EventKind::EVENT_KIND_RUN_STARTED : EventKind::EVENT_KIND_AGENT_STARTED);
    ev.set_payload_json("{}");
    ASSERT_TRUE(store_->AppendEvent("run-left", seq, ev.SerializeAsString()).ok());
  }
  tide::v1::Run done = left;
  done.set_run_id("run-done");
  done.set_state(RunState::RUN_STATE_SUCCEEDED);
  ASSERT_TRUE(store_->PutRun("run-done", done.SerializeAsString()).ok());

  for (int round = 0; round < 2; ++round) {  // a second start-up changes nothing more
    auto m = Manager();
    ASSERT_TRUE(m);
    Result<tide::v1::Run> run = m->Get("run-left");
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(run->state(), RunState::RUN_STATE_FAILED);
    EXPECT_THAT(run->result().error(), HasSubstr("cannot resume"));
    EXPECT_THAT(run->result().error(), HasSubstr("policy \"engine\""));
    EXPECT_EQ(run->num_events(), 3u);
    const auto events = StoredEvents("run-left");
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[0].kind(), EventKind::EVENT_KIND_RUN_STARTED);  // kept
    EXPECT_EQ(events[2].kind(), EventKind::EVENT_KIND_RUN_FAILED);
    EXPECT_EQ(m->Get("run-done")->state(), RunState::RUN_STATE_SUCCEEDED);
    EXPECT_TRUE(StoredEvents("run-done").empty());
    int n = 0;
    EXPECT_TRUE(m->Watch("run-left", 0, [&](const SwarmEvent&) { return ++n > 0; }).ok());
    EXPECT_EQ(n, 3);
  }
}

TEST_F(RunManagerTest, CreateNeedsAStore) {
  EXPECT_EQ(RunManager::Create(nullptr).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tide::orchestrator
