#include "tide/orchestrator/swarm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "orchestrator_test_util.h"
#include "tide/workers/swarm_protocol.h"

namespace tide::orchestrator {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
using testing::RecordedEvent;
using testing::RecordingSink;
using testing::Reply;
using testing::ScriptedPolicy;
using testing::ResearchSpec;
using testing::WrappedOracle;
using tide::v1::EventKind;

Result<tide::v1::RunResult> RunSwarm(const SwarmSpec& spec, workers::Policy* policy, EventSink* sink,
                                     std::atomic<bool>* cancelled) {
  boost::asio::thread_pool pool(8);
  Swarm swarm(spec, SwarmContext{policy, &pool, sink, cancelled});
  Result<tide::v1::RunResult> r = swarm.Run();
  pool.join();
  return r;
}

// A message payload's content ("" when null, as for an assistant turn with only tool calls).
std::string Content(const json& message) {
  auto it = message.find("content");
  return it != message.end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<RecordedEvent> Of(const std::vector<RecordedEvent>& events, const std::string& agent) {
  std::vector<RecordedEvent> out;
  for (const auto& e : events) {
    if (e.agent == agent) out.push_back(e);
  }
  return out;
}

// The spawn_subagents calls of the coordinator, in order: (call id, sub-agent names).
std::vector<std::pair<std::string, std::vector<std::string>>> SpawnCalls(const std::vector<RecordedEvent>& events) {
  std::vector<std::pair<std::string, std::vector<std::string>>> calls;
  for (const auto& e : Of(events, kCoordinatorName)) {
    if (e.kind != EventKind::EVENT_KIND_MESSAGE || e.payload.value("role", "") != "assistant") continue;
    if (!e.payload.contains("tool_calls")) continue;
    for (const auto& c : e.payload["tool_calls"]) {
      if (c["function"]["name"] != workers::kSpawnSubagentsTool) continue;
      json args = json::parse(c["function"]["arguments"].get<std::string>());
      std::vector<std::string> names;
      for (const auto& s : args["subagents"]) names.push_back(s["name"].get<std::string>());
      calls.emplace_back(c["id"].get<std::string>(), names);
    }
  }
  return calls;
}

// steps of each agent, from its AGENT_FINISHED event.
std::map<std::string, int> FinishedSteps(const std::vector<RecordedEvent>& events) {
  std::map<std::string, int> steps;
  for (const auto& e : events) {
    if (e.kind == EventKind::EVENT_KIND_AGENT_FINISHED) steps[e.agent] = e.payload.at("steps").get<int>();
  }
  return steps;
}

TEST(SwarmTest, OracleSolvesTheResearchTask) {
  WrappedOracle policy;
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  Result<tide::v1::RunResult> r = RunSwarm(ResearchSpec(), &policy, &sink, &cancelled);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->success());
  EXPECT_DOUBLE_EQ(r->item_f1(), 1.0);
  EXPECT_GT(r->reward(), 0.0);
  EXPECT_EQ(r->subagents(), 8);
  EXPECT_EQ(r->finished_subagents(), 8);
  EXPECT_FALSE(r->answer_json().empty());
  EXPECT_GT(r->usage().total_tokens(), 0);
  EXPECT_EQ(r->usage().total_tokens(), r->usage().prompt_tokens() + r->usage().completion_tokens());

  const std::vector<RecordedEvent> events = sink.events();
  const std::map<std::string, int> steps = FinishedSteps(events);
  ASSERT_EQ(steps.size(), 9u);  // the coordinator and 8 sub-agents
  ASSERT_TRUE(steps.count(kCoordinatorName));
  const auto calls = SpawnCalls(events);
  ASSERT_FALSE(calls.empty());
  // critical_steps: the coordinator's steps plus, for each spawn stage, its slowest sub-agent.
  int critical = steps.at(kCoordinatorName);
  int total = 0;
  for (const auto& [agent, n] : steps) total += n;
  for (const auto& [id, names] : calls) {
    int slowest = 0;
    for (const auto& n : names) {
      ASSERT_TRUE(steps.count(n)) << n;
      slowest = std::max(slowest, steps.at(n));
    }
    critical += slowest;
  }
  EXPECT_EQ(r->critical_steps(), critical);
  EXPECT_EQ(r->total_steps(), total);
  EXPECT_LT(r->critical_steps(), r->total_steps());  // the sub-agents ran in parallel
  // Every agent starts with AGENT_STARTED and ends with AGENT_FINISHED.
  for (const auto& [agent, n] : steps) {
    const auto mine = Of(events, agent);
    ASSERT_GE(mine.size(), 2u);
    EXPECT_EQ(mine.front().kind, EventKind::EVENT_KIND_AGENT_STARTED) << agent;
    EXPECT_EQ(mine.back().kind, EventKind::EVENT_KIND_AGENT_FINISHED) << agent;
    EXPECT_EQ(mine.back().payload.value("status", ""), "finished") << agent;
  }
  EXPECT_EQ(cancelled.load(), false);
}

TEST(SwarmTest, WorldToolsAnswerAfterTheSimulatedLatency) {
  WrappedOracle policy;
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  SwarmSpec spec = ResearchSpec();
  spec.items = 2;
  spec.max_subagents = 1;
  spec.tool_latency_ms = 60;
  Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink, &cancelled);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->success());
  int world_calls = 0;
  for (const auto& e : sink.events()) {
    if (e.kind == EventKind::EVENT_KIND_TOOL_RESULT && e.payload.value("name", "") != workers::kSpawnSubagentsTool) {
      ++world_calls;
      EXPECT_GE(e.payload.value("ms", 0.0), 60.0) << e.payload.dump();
    }
  }
  EXPECT_GE(world_calls, 4);  // a search and an open per entity
}

TEST(SwarmTest, CoordinatorContextHoldsOnlyTheSubagentReports) {
  WrappedOracle policy;
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  Result<tide::v1::RunResult> r = RunSwarm(ResearchSpec(), &policy, &sink, &cancelled);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::vector<RecordedEvent> events = sink.events();

  std::set<std::string> spawn_ids;
  std::set<std::string> subagents;
  for (const auto& [id, names] : SpawnCalls(events)) {
    spawn_ids.insert(id);
    subagents.insert(names.begin(), names.end());
  }
  ASSERT_EQ(subagents.size(), 8u);

  // The sub-agents' own tool observations (search hits, opened documents).
  std::vector<std::string> observations;
  int subagent_tool_messages = 0;
  for (const auto& e : events) {
    if (e.agent == kCoordinatorName || e.agent.empty()) continue;
    EXPECT_TRUE(subagents.count(e.agent)) << "unexpected agent " << e.agent;
    EXPECT_EQ(e.parent, kCoordinatorName) << e.agent;  // every sub-agent event is tagged
    if (e.kind == EventKind::EVENT_KIND_MESSAGE && e.payload.value("role", "") == "tool") {
      ++subagent_tool_messages;
      observations.push_back(Content(e.payload));
    }
  }
  ASSERT_GT(subagent_tool_messages, 0);

  int coordinator_tool_messages = 0;
  for (const auto& e : Of(events, kCoordinatorName)) {
    EXPECT_EQ(e.parent, "");
    if (e.kind == EventKind::EVENT_KIND_TOOL_RESULT) {
      EXPECT_EQ(e.payload.value("name", ""), workers::kSpawnSubagentsTool);
    }
    if (e.kind != EventKind::EVENT_KIND_MESSAGE) continue;
    const std::string role = e.payload.value("role", "");
    const std::string content = Content(e.payload);
    if (role == "assistant" && e.payload.contains("tool_calls")) {
      for (const auto& c : e.payload["tool_calls"]) {
        EXPECT_EQ(c["function"]["name"], workers::kSpawnSubagentsTool);
      }
    }
    if (role == "tool") {
      ++coordinator_tool_messages;
      // Only spawn reports: {"results": [...]}, answering a spawn call; no search/open result.
      EXPECT_TRUE(spawn_ids.count(e.payload.value("tool_call_id", ""))) << content;
      Result<std::vector<workers::SubagentReport>> reports = workers::ParseSubagentReports(content);
      EXPECT_TRUE(reports.ok()) << reports.status().ToString();
      EXPECT_THAT(content, ::testing::Not(HasSubstr("doc_id")));
    }
    for (const auto& obs : observations) {
      if (obs.size() < 20) continue;
      EXPECT_EQ(content.find(obs), std::string::npos) << "a sub-agent's observation leaked into the coordinator";
    }
  }
  EXPECT_EQ(coordinator_tool_messages, static_cast<int>(spawn_ids.size()));
}

TEST(SwarmTest, SubagentsGetOnlyTheirInstructionsAndToolSubset) {
  std::mutex mu;
  std::map<std::string, std::vector<workers::Message>> first_request;  // sub-agent -> its first context
  ScriptedPolicy policy([&](const workers::PolicyRequest& req) -> Result<workers::PolicyResponse> {
    const std::vector<workers::Message>& msgs = *req.messages;
    if (req.agent != kCoordinatorName) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_request.count(req.agent)) first_request[req.agent] = msgs;
      }
      return Reply(workers::Message::Assistant("report of " + req.agent));
    }
    int turn = 0;
    for (const auto& m : msgs) turn += m.role == "assistant";
    auto spawn = [&](const std::string& id, std::vector<workers::SubagentTask> tasks) {
      return Reply(workers::Message::Assistant(
          "", {{id, workers::kSpawnSubagentsTool, workers::SpawnArguments(tasks).dump()}}));
    };
    switch (turn) {
      case 0:
        return spawn("call_1", {{"r1", "find A", {"search"}}, {"r2", "find B", {}}});
      case 1:  // over the run's limit of 3
        return spawn("call_2", {{"r3", "find C", {}}, {"r4", "find D", {}}});
      case 2:  // a name already used in this run
        return spawn("call_3", {{"r1", "again", {}}});
      default:
        return Reply(workers::Message::Assistant("no table at all"));
    }
  });
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  SwarmSpec spec = ResearchSpec(6, 3);
  Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink, &cancelled);
  // A wrong answer is still a scored run.
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->success());
  EXPECT_DOUBLE_EQ(r->item_f1(), 0.0);
  EXPECT_EQ(r->subagents(), 2);
  EXPECT_EQ(r->finished_subagents(), 2);
  // Each sub-agent's short report was sent back once for the full result (2 steps each).
  EXPECT_EQ(r->total_steps(), 4 + 2 + 2);
  EXPECT_EQ(r->critical_steps(), 4 + 2);  // one stage ran; the refused calls add nothing
  EXPECT_EQ(r->answer_json(), "no table at all");

  // Each sub-agent saw a system prompt and its instructions, nothing of the coordinator.
  ASSERT_EQ(first_request.size(), 2u);
  for (const auto& [name, want] : std::map<std::string, std::string>{{"r1", "find A"}, {"r2", "find B"}}) {
    const auto& msgs = first_request[name];
    ASSERT_EQ(msgs.size(), 2u) << name;
    EXPECT_EQ(msgs[0].role, "system");
    EXPECT_EQ(msgs[1].role, "user");
    EXPECT_EQ(msgs[1].content, want);
  }

  const std::vector<RecordedEvent> events = sink.events();
  std::map<std::string, std::set<std::string>> tools;
  for (const auto& e : events) {
    if (e.kind != EventKind::EVENT_KIND_AGENT_STARTED) continue;
    for (const auto& t : e.payload.at("tools")) tools[e.agent].insert(t["function"]["name"].get<std::string>());
  }
  EXPECT_EQ(tools["r1"], (std::set<std::string>{"search"}));
  EXPECT_EQ(tools["r2"], (std::set<std::string>{"search", "open"}));
  EXPECT_EQ(tools[kCoordinatorName], (std::set<std::string>{workers::kSpawnSubagentsTool}));
  EXPECT_FALSE(tools.count("r3"));
  EXPECT_FALSE(tools.count("r4"));

  std::map<std::string, std::string> observations;  // tool_call_id -> content
  for (const auto& e : Of(events, kCoordinatorName)) {
    if (e.kind == EventKind::EVENT_KIND_MESSAGE && e.payload.value("role", "") == "tool") {
      observations[e.payload.value("tool_call_id", "")] = Content(e.payload);
    }
  }
  ASSERT_EQ(observations.size(), 3u);
  Result<std::vector<workers::SubagentReport>> reports = workers::ParseSubagentReports(observations["call_1"]);
  ASSERT_TRUE(reports.ok()) << observations["call_1"];
  ASSERT_EQ(reports->size(), 2u);
  EXPECT_EQ((*reports)[0].name, "r1");
  EXPECT_EQ((*reports)[0].result, "report of r1");
  EXPECT_EQ((*reports)[0].status, "finished");
  EXPECT_EQ((*reports)[1].result, "report of r2");
  EXPECT_THAT(observations["call_2"], HasSubstr("at most 3"));
  EXPECT_THAT(observations["call_3"], HasSubstr("already used"));
}

TEST(SwarmTest, EverySinkFailureFailsTheRun) {
  const SwarmSpec spec = ResearchSpec(6, 3);
  int total = 0;
  {
    WrappedOracle policy;
    RecordingSink sink;
    std::atomic<bool> cancelled{false};
    Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink, &cancelled);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    total = sink.emits();
  }
  ASSERT_GT(total, 20);
  // Whichever event cannot be stored (the first, one of a sub-agent's, the last), the run
  // must not report success.
  for (int n = 1; n <= total; ++n) {
    WrappedOracle policy;
    RecordingSink sink(n);
    std::atomic<bool> cancelled{false};
    Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink, &cancelled);
    ASSERT_TRUE(sink.failed()) << "emit " << n;
    ASSERT_FALSE(r.ok()) << "the run succeeded although emit " << n << " of " << total << " failed";
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr("disk full")) << "emit " << n;
  }
}

TEST(SwarmTest, AfterASinkFailureTheRunStopsAtOnce) {
  const SwarmSpec spec = ResearchSpec(20, 8);
  for (int n : {1, 2, 8, 15}) {
    RecordingSink sink(n, /*fail_forever=*/true);
    WrappedOracle policy(std::chrono::milliseconds(0), [&] { return sink.failed(); });
    std::atomic<bool> cancelled{false};
    Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink, &cancelled);
    ASSERT_FALSE(r.ok()) << "emit " << n;
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
    // An agent already past its cancellation check may take one more step; nothing more.
    EXPECT_LE(policy.calls_after(), 1 + spec.max_subagents) << "emit " << n;
    if (n == 1) {
      EXPECT_EQ(policy.calls(), 0);  // the coordinator could not even be recorded
    }
    EXPECT_EQ(static_cast<int>(sink.events().size()), n - 1);
  }
}

TEST(SwarmTest, CancelledBeforeRunIsCancelled) {
  WrappedOracle policy;
  RecordingSink sink;
  std::atomic<bool> cancelled{true};
  Result<tide::v1::RunResult> r = RunSwarm(ResearchSpec(), &policy, &sink, &cancelled);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled) << r.status().ToString();
  EXPECT_EQ(policy.calls(), 0);
  const auto events = sink.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, EventKind::EVENT_KIND_AGENT_FINISHED);
  EXPECT_EQ(events.back().payload.value("status", ""), "cancelled");
  for (const auto& e : events) EXPECT_EQ(e.agent, kCoordinatorName);
}

// Cancels the run as soon as the first sub-agent has started.
class CancellingSink : public RecordingSink {
 public:
  explicit CancellingSink(std::atomic<bool>* flag) : flag_(flag) {}
  Status Emit(EventKind kind, const std::string& agent, const std::string& parent, const json& payload) override {
    if (kind == EventKind::EVENT_KIND_AGENT_STARTED && agent != kCoordinatorName) flag_->store(true);
    return RecordingSink::Emit(kind, agent, parent, payload);
  }

 private:
  std::atomic<bool>* flag_;
};

TEST(SwarmTest, CancellingMidRunStopsEverySubagent) {
  WrappedOracle policy;
  std::atomic<bool> cancelled{false};
  CancellingSink sink(&cancelled);
  Result<tide::v1::RunResult> r = RunSwarm(ResearchSpec(), &policy, &sink, &cancelled);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled) << r.status().ToString();
  const auto events = sink.events();
  int subagents = 0;
  for (const auto& e : events) {
    if (e.kind != EventKind::EVENT_KIND_AGENT_FINISHED || e.agent == kCoordinatorName) continue;
    ++subagents;
    EXPECT_EQ(e.payload.value("status", ""), "cancelled") << e.agent;
    EXPECT_EQ(e.payload.value("steps", -1), 0) << e.agent;
  }
  EXPECT_GT(subagents, 0);
  EXPECT_EQ(policy.calls(), 1);  // the coordinator's spawn turn only
}

TEST(SwarmTest, DeadlineStopsASlowRun) {
  WrappedOracle policy(std::chrono::milliseconds(100));
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  SwarmSpec spec = ResearchSpec();
  spec.timeout_s = 0.05;
  Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink, &cancelled);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr("deadline"));
  EXPECT_TRUE(cancelled.load());  // the watchdog stopped every agent through the flag
  EXPECT_LE(policy.calls(), 1 + spec.max_subagents);
}

TEST(SwarmTest, UnusedDeadlineDoesNotDelayTheRun) {
  WrappedOracle policy;
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  SwarmSpec spec = ResearchSpec();
  spec.timeout_s = 120;
  const auto start = std::chrono::steady_clock::now();
  Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink, &cancelled);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->item_f1(), 1.0);
  EXPECT_LT(s, 30.0);  // the watchdog ends with the run, not at its deadline
  EXPECT_FALSE(cancelled.load());
}

TEST(SwarmTest, PolicyFailureFailsTheRun) {
  ScriptedPolicy policy([](const workers::PolicyRequest&) -> Result<workers::PolicyResponse> {
    return Unavailable("model server down");
  });
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  Result<tide::v1::RunResult> r = RunSwarm(ResearchSpec(), &policy, &sink, &cancelled);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("model server down"));
}

TEST(SwarmTest, UnknownWorldIsNotFound) {
  WrappedOracle policy;
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  SwarmSpec spec = ResearchSpec();
  spec.world = "atlantis";
  Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink, &cancelled);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(sink.events().empty());
}

// The AGENT_FINISHED statuses of a run, by agent.
std::map<std::string, std::string> EndStatuses(const std::vector<RecordedEvent>& events) {
  std::map<std::string, std::string> out;
  for (const auto& e : events) {
    if (e.kind == EventKind::EVENT_KIND_AGENT_FINISHED) out[e.agent] = e.payload.value("status", "");
  }
  return out;
}

TEST(SwarmBudgetTest, ASpentTokenBudgetEndsTheRunBudgetExhausted) {
  WrappedOracle policy;
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  SwarmSpec spec = ResearchSpec();
  spec.max_tokens = 2000;  // the run needs far more
  Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink, &cancelled);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr("budget_exhausted"));
  EXPECT_THAT(r.status().message(), HasSubstr("token budget of 2000"));
  const auto statuses = EndStatuses(sink.events());
  EXPECT_EQ(statuses.at(kCoordinatorName), "budget_exhausted");
  int stopped = 0;
  for (const auto& [agent, status] : statuses) stopped += status == "budget_exhausted" ? 1 : 0;
  EXPECT_GT(stopped, 1);  // sub-agents stopped too, not only the coordinator
}

TEST(SwarmBudgetTest, ASpentToolCallBudgetRefusesCallsAndEndsTheRun) {
  WrappedOracle policy;
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  SwarmSpec spec = ResearchSpec();
  spec.max_tool_calls = 10;
  Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink, &cancelled);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr("budget_exhausted: the run's tool-call budget of 10 is spent"));
  int ran = 0, refused = 0;
  for (const auto& e : sink.events()) {
    if (e.kind != EventKind::EVENT_KIND_TOOL_RESULT) continue;
    if (e.payload.value("error", "") == "budget_exhausted") {
      ++refused;
    } else {
      ++ran;
    }
  }
  EXPECT_EQ(ran, 10);  // the spawn call and nine world calls; never one more
  EXPECT_GT(refused, 0);
  EXPECT_EQ(EndStatuses(sink.events()).at(kCoordinatorName), "budget_exhausted");
}

TEST(SwarmBudgetTest, ARunWithinItsBudgetsFinishes) {
  tide::v1::RunResult unbounded;
  {
    WrappedOracle policy;
    RecordingSink sink;
    std::atomic<bool> cancelled{false};
    Result<tide::v1::RunResult> r = RunSwarm(ResearchSpec(), &policy, &sink, &cancelled);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    unbounded = *r;
  }
  WrappedOracle policy;
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  SwarmSpec spec = ResearchSpec();
  spec.max_tool_calls = unbounded.tool_calls();  // exactly what the run uses
  spec.max_tokens = unbounded.usage().total_tokens();
  Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink, &cancelled);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->item_f1(), 1.0);
  EXPECT_EQ(r->tool_calls(), unbounded.tool_calls());
}

}  // namespace
}  // namespace tide::orchestrator
