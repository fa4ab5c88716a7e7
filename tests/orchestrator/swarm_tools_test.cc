#include "tide/orchestrator/swarm_tools.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "fault_injection.h"
#include "orchestrator_test_util.h"
#include "tide/workers/swarm_protocol.h"
#include "tide/workers/tool_timeout.h"

namespace tide::orchestrator {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
using testing::FaultInjector;
using testing::RecordedEvent;
using testing::RecordingSink;
using testing::Reply;
using testing::ResearchSpec;
using testing::ScriptedPolicy;
using testing::WrappedOracle;
using tide::v1::EventKind;

struct Ran {
  Result<tide::v1::RunResult> result;
  SwarmCounters counters;
};

Ran RunSwarm(const SwarmSpec& spec, workers::Policy* policy, EventSink* sink, std::atomic<bool>* cancelled,
             FaultInjector* faults = nullptr, int threads = 8) {
  boost::asio::thread_pool pool(threads);
  SwarmContext ctx{policy, &pool, sink, cancelled};
  if (faults != nullptr) ctx.wrap_world_tool = [faults](auto tool) { return faults->Wrap(std::move(tool)); };
  Swarm swarm(spec, ctx);
  Result<tide::v1::RunResult> r = swarm.Run();
  pool.join();
  return {std::move(r), swarm.counters()};
}

SwarmSpec CreateAssignSpec(int items = 20, int max_subagents = 8) {
  SwarmSpec spec = ResearchSpec(items, max_subagents);
  spec.swarm_tools = "create_assign";
  return spec;
}

workers::ToolCall Call(const std::string& id, const std::string& tool, const json& args) {
  return {id, tool, args.dump()};
}
workers::ToolCall Create(const std::string& id, const std::string& name, const std::string& prompt,
                         std::vector<std::string> tools = {}) {
  return Call(id, workers::kCreateSubagentTool, workers::CreateArguments({name, prompt, std::move(tools)}));
}
workers::ToolCall Assign(const std::string& id, const std::string& agent, const std::string& task) {
  return Call(id, workers::kAssignTaskTool, workers::AssignArguments({agent, task}));
}

int Turn(const std::vector<workers::Message>& messages) {
  int turn = 0;
  for (const auto& m : messages) turn += m.role == "assistant";
  return turn;
}

// An answer long enough not to be sent back (kMinSubagentResultChars).
std::string LongAnswer(const std::string& text) {
  return text + " " + std::string(workers::kMinSubagentResultChars, '.');
}

// The coordinator's tool results (TOOL_RESULT payloads), in order.
std::vector<json> CoordinatorToolResults(const std::vector<RecordedEvent>& events) {
  std::vector<json> out;
  for (const auto& e : events) {
    if (e.agent == kCoordinatorName && e.kind == EventKind::EVENT_KIND_TOOL_RESULT) out.push_back(e.payload);
  }
  return out;
}

std::map<std::string, json> Finished(const std::vector<RecordedEvent>& events) {
  std::map<std::string, json> out;
  for (const auto& e : events) {
    if (e.kind == EventKind::EVENT_KIND_AGENT_FINISHED) out[e.agent] = e.payload;
  }
  return out;
}

TEST(SwarmToolsTest, OracleSolvesTheTaskWithCreateSubagentAndAssignTask) {
  WrappedOracle policy;
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  Ran ran = RunSwarm(CreateAssignSpec(), &policy, &sink, &cancelled);
  ASSERT_TRUE(ran.result.ok()) << ran.result.status().ToString();
  const tide::v1::RunResult& r = *ran.result;
  EXPECT_TRUE(r.success());
  EXPECT_DOUBLE_EQ(r.item_f1(), 1.0);
  EXPECT_DOUBLE_EQ(r.reward(), 1.0);
  EXPECT_EQ(r.subagents(), 8);
  EXPECT_EQ(r.finished_subagents(), 8);
  EXPECT_EQ(ran.counters.created, 8);

  const auto events = sink.events();
  std::set<std::string> coordinator_tools;
  for (const auto& e : events) {
    if (e.kind == EventKind::EVENT_KIND_AGENT_STARTED && e.agent == kCoordinatorName) {
      for (const auto& t : e.payload.at("tools")) coordinator_tools.insert(t["function"]["name"].get<std::string>());
    }
  }
  EXPECT_EQ(coordinator_tools, (std::set<std::string>{workers::kCreateSubagentTool, workers::kAssignTaskTool}));
  // One turn created and assigned all eight; the answer came in the next.
  const std::map<std::string, json> finished = Finished(events);
  ASSERT_EQ(finished.size(), 9u);
  EXPECT_EQ(finished.at(kCoordinatorName).at("steps"), 2);
  int slowest = 0, total = 2;
  for (const auto& [agent, payload] : finished) {
    EXPECT_EQ(payload.value("status", ""), "finished") << agent;
    if (agent == kCoordinatorName) continue;
    slowest = std::max(slowest, payload.at("steps").get<int>());
    total += payload.at("steps").get<int>();
  }
  EXPECT_EQ(r.critical_steps(), 2 + slowest);
  EXPECT_EQ(r.total_steps(), total);
  // Only the sub-agents' final results reached the coordinator.
  const std::vector<json> results = CoordinatorToolResults(events);
  ASSERT_EQ(results.size(), 16u);
  for (const auto& e : events) {
    if (e.agent != kCoordinatorName || e.kind != EventKind::EVENT_KIND_MESSAGE) continue;
    if (e.payload.value("role", "") != "tool") continue;
    EXPECT_THAT(e.payload.value("content", ""), ::testing::Not(HasSubstr("doc_id")));
  }
}

TEST(SwarmToolsTest, AssignTasksOfOneTurnRunInParallel) {
  std::mutex mu;
  std::condition_variable cv;
  int waiting = 0;
  ScriptedPolicy policy([&](const workers::PolicyRequest& req) -> Result<workers::PolicyResponse> {
    if (req.agent != kCoordinatorName) {
      // Each sub-agent's first step waits for the other to arrive: only possible together.
      std::unique_lock<std::mutex> lock(mu);
      ++waiting;
      cv.notify_all();
      const bool together = cv.wait_for(lock, std::chrono::seconds(10), [&] { return waiting >= 2; });
      return Reply(workers::Message::Assistant(LongAnswer(together ? "together" : "alone")));
    }
    if (Turn(*req.messages) == 0) {
      return Reply(workers::Message::Assistant("", {Create("c1", "a", "you are a"), Create("c2", "b", "you are b"),
                                                     Assign("c3", "a", "task A"), Assign("c4", "b", "task B")}));
    }
    return Reply(workers::Message::Assistant("done"));
  });
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  Ran ran = RunSwarm(CreateAssignSpec(4, 2), &policy, &sink, &cancelled);
  ASSERT_TRUE(ran.result.ok()) << ran.result.status().ToString();
  EXPECT_EQ(ran.result->subagents(), 2);
  EXPECT_EQ(ran.result->critical_steps(), 2 + 1);  // one stage: the two ran side by side
  EXPECT_EQ(ran.result->total_steps(), 2 + 1 + 1);
  std::map<std::string, std::string> tool_messages;  // call id -> content
  for (const auto& e : sink.events()) {
    if (e.agent == kCoordinatorName && e.kind == EventKind::EVENT_KIND_MESSAGE && e.payload.value("role", "") == "tool") {
      tool_messages[e.payload.value("tool_call_id", "")] = e.payload.value("content", "");
    }
  }
  ASSERT_EQ(tool_messages.size(), 4u);
  EXPECT_THAT(tool_messages["c1"], HasSubstr("\"created\":\"a\""));
  for (const char* id : {"c3", "c4"}) {
    Result<std::vector<workers::SubagentReport>> reports = workers::ParseSubagentReports(tool_messages[id]);
    ASSERT_TRUE(reports.ok()) << tool_messages[id];
    ASSERT_EQ(reports->size(), 1u);
    EXPECT_EQ((*reports)[0].status, "finished");
    EXPECT_THAT((*reports)[0].result, ::testing::StartsWith("together")) << id;
  }
}

TEST(SwarmToolsTest, EachAssignmentStartsAFreshContextFromTheSystemPrompt) {
  std::mutex mu;
  std::map<std::string, std::vector<workers::Message>> first;  // agent -> its first context
  ScriptedPolicy policy([&](const workers::PolicyRequest& req) -> Result<workers::PolicyResponse> {
    if (req.agent != kCoordinatorName) {
      std::lock_guard<std::mutex> lock(mu);
      first.emplace(req.agent, *req.messages);
      return Reply(workers::Message::Assistant(LongAnswer("result of " + req.messages->back().content)));
    }
    switch (Turn(*req.messages)) {
      case 0: return Reply(workers::Message::Assistant("", {Create("c1", "a", "SYS-A", {"search"}), Assign("c2", "a", "task 1")}));
      case 1: return Reply(workers::Message::Assistant("", {Assign("c3", "a", "task 2")}));
      default: return Reply(workers::Message::Assistant("done"));
    }
  });
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  Ran ran = RunSwarm(CreateAssignSpec(4, 1), &policy, &sink, &cancelled);
  ASSERT_TRUE(ran.result.ok()) << ran.result.status().ToString();
  EXPECT_EQ(ran.result->subagents(), 2);  // two contexts of one created agent
  EXPECT_EQ(ran.counters.created, 1);
  EXPECT_EQ(ran.result->critical_steps(), 3 + 1 + 1);  // two stages, one after the other

  ASSERT_EQ(first.size(), 2u);
  ASSERT_TRUE(first.count("a"));
  ASSERT_TRUE(first.count("a#2"));
  for (const auto& [agent, task] : std::map<std::string, std::string>{{"a", "task 1"}, {"a#2", "task 2"}}) {
    const auto& msgs = first[agent];
    ASSERT_EQ(msgs.size(), 2u) << agent;  // nothing of the earlier assignment
    EXPECT_EQ(msgs[0].role, "system");
    EXPECT_EQ(msgs[0].content, "SYS-A");
    EXPECT_EQ(msgs[1].content, task);
  }
  for (const auto& e : sink.events()) {
    if (e.kind != EventKind::EVENT_KIND_AGENT_STARTED || e.agent == kCoordinatorName) continue;
    EXPECT_EQ(e.payload.value("agent", ""), "a") << e.agent;
    EXPECT_EQ(e.payload.at("tools").size(), 1u);  // the created agent's tool subset
    EXPECT_EQ(e.parent, kCoordinatorName);
  }
}

TEST(SwarmToolsTest, AShortSubagentResultIsSentBackOnce) {
  ScriptedPolicy policy([&](const workers::PolicyRequest& req) -> Result<workers::PolicyResponse> {
    if (req.agent != kCoordinatorName) {
      const bool asked_again = req.messages->back().content == workers::kContinuePrompt;
      return Reply(workers::Message::Assistant(asked_again ? LongAnswer("the full result") : "ok"));
    }
    if (Turn(*req.messages) == 0) {
      return Reply(workers::Message::Assistant("", {Create("c1", "a", "p"), Assign("c2", "a", "t")}));
    }
    return Reply(workers::Message::Assistant("done"));
  });
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  Ran ran = RunSwarm(CreateAssignSpec(4, 1), &policy, &sink, &cancelled);
  ASSERT_TRUE(ran.result.ok()) << ran.result.status().ToString();
  EXPECT_EQ(ran.counters.reprompted, 1);
  const std::map<std::string, json> finished = Finished(sink.events());
  EXPECT_EQ(finished.at("a").at("steps"), 2);
  EXPECT_EQ(finished.at("a").at("reprompted"), true);
  std::string report;
  for (const auto& e : sink.events()) {
    if (e.agent == kCoordinatorName && e.payload.value("tool_call_id", "") == "c2" &&
        e.kind == EventKind::EVENT_KIND_MESSAGE) {
      report = e.payload.value("content", "");
    }
  }
  EXPECT_THAT(report, HasSubstr("the full result"));
  EXPECT_THAT(report, ::testing::Not(HasSubstr("\"ok\"")));
}

TEST(SwarmToolsTest, BadCreateAndAssignCallsAreErrorObservationsAndTheRunGoesOn) {
  std::atomic<int> subagent_calls{0};
  ScriptedPolicy policy([&](const workers::PolicyRequest& req) -> Result<workers::PolicyResponse> {
    if (req.agent != kCoordinatorName) {
      ++subagent_calls;
      return Reply(workers::Message::Assistant(LongAnswer("fine")));
    }
    if (Turn(*req.messages) == 0) {
      return Reply(workers::Message::Assistant(
          "", {Create("c1", "a", "p"), Create("c2", "b", "p"),
               Create("c3", "c", "p"),                                   // over max_subagents = 2
               Create("c4", "a", "p"),                                   // name taken
               Create("c5", "d", "p", {"fly"}),                          // no such tool for it
               Assign("c6", "zed", "t"),                                 // never created
               Call("c7", "teleport", json::object()),                   // no such coordinator tool
               workers::ToolCall{"c8", workers::kAssignTaskTool, "{oops"},  // not JSON
               Call("c9", workers::kAssignTaskTool, {{"agent", "a"}}),  // no task
               Assign("c10", "a", "t")}));
    }
    return Reply(workers::Message::Assistant("no table"));
  });
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  Ran ran = RunSwarm(CreateAssignSpec(4, 2), &policy, &sink, &cancelled);
  ASSERT_TRUE(ran.result.ok()) << ran.result.status().ToString();  // a wrong answer, still scored
  EXPECT_DOUBLE_EQ(ran.result->item_f1(), 0.0);
  EXPECT_EQ(ran.counters.created, 2);
  EXPECT_EQ(ran.result->subagents(), 1);
  EXPECT_EQ(subagent_calls.load(), 1);

  const std::vector<json> results = CoordinatorToolResults(sink.events());
  ASSERT_EQ(results.size(), 10u);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"none", ""},
      {"none", ""},
      {"failed", "at most 2 sub-agents"},
      {"failed", "\"a\" is already used"},
      {"bad_arguments", "fly"},
      {"failed", "no sub-agent named \"zed\"; create it with create_subagent first (created: a, b)"},
      {"unknown_tool", "unknown tool \"teleport\" (available: create_subagent, assign_task)"},
      {"bad_arguments", "not valid JSON"},
      {"bad_arguments", "task"},
      {"none", ""}};
  int errors = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const json& p = results[i];
    EXPECT_EQ(p.value("tool_call_id", ""), "c" + std::to_string(i + 1));
    EXPECT_EQ(p.value("is_error", false), want[i].first != "none") << p.dump();
    if (want[i].first == "none") continue;
    ++errors;
    EXPECT_EQ(p.value("error", ""), want[i].first) << p.dump();
    EXPECT_THAT(p.value("content", ""), HasSubstr(want[i].second)) << p.dump();
  }
  EXPECT_EQ(ran.counters.tool_errors, errors);
  EXPECT_EQ(Finished(sink.events()).at(kCoordinatorName).at("tool_errors"), errors);
}

TEST(SwarmToolsTest, BadSpawnCallsAreErrorObservationsAndTheRunGoesOn) {
  ScriptedPolicy policy([&](const workers::PolicyRequest& req) -> Result<workers::PolicyResponse> {
    if (req.agent != kCoordinatorName) return Reply(workers::Message::Assistant(LongAnswer("fine")));
    if (Turn(*req.messages) == 0) {
      std::vector<workers::SubagentTask> three = {{"r1", "x", {}}, {"r2", "y", {}}, {"r3", "z", {}}};
      return Reply(workers::Message::Assistant(
          "", {Call("s1", workers::kSpawnSubagentsTool, workers::SpawnArguments(three)),  // over the limit
               Create("s2", "a", "p"),                                                     // not offered
               workers::ToolCall{"s3", workers::kSpawnSubagentsTool, "[1,"},
               Call("s4", workers::kSpawnSubagentsTool, {{"subagents", "everyone"}}),
               Call("s5", workers::kSpawnSubagentsTool,
                    workers::SpawnArguments({{"r1", "x", {}}, {"r2", "y", {}}}))}));
    }
    return Reply(workers::Message::Assistant("no table"));
  });
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  Ran ran = RunSwarm(ResearchSpec(4, 2), &policy, &sink, &cancelled);
  ASSERT_TRUE(ran.result.ok()) << ran.result.status().ToString();
  EXPECT_EQ(ran.result->subagents(), 2);
  EXPECT_EQ(ran.result->finished_subagents(), 2);
  const std::vector<json> results = CoordinatorToolResults(sink.events());
  ASSERT_EQ(results.size(), 5u);
  EXPECT_EQ(results[0].value("error", ""), "bad_arguments");  // maxItems of the schema
  EXPECT_THAT(results[0].value("content", ""), HasSubstr("subagents"));
  EXPECT_EQ(results[1].value("error", ""), "unknown_tool");
  EXPECT_THAT(results[1].value("content", ""), HasSubstr("available: spawn_subagents"));
  EXPECT_EQ(results[2].value("error", ""), "bad_arguments");
  EXPECT_THAT(results[2].value("content", ""), HasSubstr("not valid JSON"));
  EXPECT_EQ(results[3].value("error", ""), "bad_arguments");
  EXPECT_FALSE(results[4].value("is_error", true));
  EXPECT_EQ(ran.counters.tool_errors, 4);
}

TEST(SwarmToolsTest, ASubagentWhosePolicyThrowsFailsAloneAndTheRunGoesOn) {
  ScriptedPolicy policy([&](const workers::PolicyRequest& req) -> Result<workers::PolicyResponse> {
    if (req.agent == "bad") throw std::runtime_error("decoder blew up");
    if (req.agent != kCoordinatorName) return Reply(workers::Message::Assistant(LongAnswer("fine")));
    if (Turn(*req.messages) == 0) {
      return Reply(workers::Message::Assistant(
          "", {Call("s1", workers::kSpawnSubagentsTool, workers::SpawnArguments({{"good", "x", {}}, {"bad", "y", {}}}))}));
    }
    return Reply(workers::Message::Assistant("no table"));
  });
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  Ran ran = RunSwarm(ResearchSpec(4, 2), &policy, &sink, &cancelled);
  ASSERT_TRUE(ran.result.ok()) << ran.result.status().ToString();
  EXPECT_EQ(ran.result->subagents(), 2);
  EXPECT_EQ(ran.result->finished_subagents(), 1);
  const std::map<std::string, json> finished = Finished(sink.events());
  EXPECT_EQ(finished.at("bad").value("status", ""), "failed");
  EXPECT_THAT(finished.at("bad").value("error", ""), HasSubstr("decoder blew up"));
}

TEST(SwarmToolsTest, HundredSpawnedSubagentsAllFinish) {
  WrappedOracle policy;
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  Ran ran = RunSwarm(ResearchSpec(100, 100), &policy, &sink, &cancelled, nullptr, /*threads=*/100);
  ASSERT_TRUE(ran.result.ok()) << ran.result.status().ToString();
  EXPECT_EQ(ran.result->subagents(), 100);
  EXPECT_EQ(ran.result->finished_subagents(), 100);
  EXPECT_DOUBLE_EQ(ran.result->item_f1(), 1.0);
  EXPECT_EQ(Finished(sink.events()).size(), 101u);
}

TEST(SwarmToolsTest, HundredCreatedSubagentsAllFinish) {
  WrappedOracle policy;
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  Ran ran = RunSwarm(CreateAssignSpec(100, 100), &policy, &sink, &cancelled, nullptr, /*threads=*/100);
  ASSERT_TRUE(ran.result.ok()) << ran.result.status().ToString();
  EXPECT_EQ(ran.counters.created, 100);
  EXPECT_EQ(ran.result->subagents(), 100);
  EXPECT_EQ(ran.result->finished_subagents(), 100);
  EXPECT_DOUBLE_EQ(ran.result->item_f1(), 1.0);
}

// Polls until the process-wide count of abandoned tool calls is back to `n` (10 s at most).
bool AbandonedBecomes(int n) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (workers::AbandonedToolCalls() != n) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

TEST(SwarmToolsTest, ARunWithTenPercentOfToolCallsFailingOrHangingCompletes) {
  const int abandoned_before = workers::AbandonedToolCalls();
  // 4% fail, 3% throw, 3% hang (cut off by the 300 ms tool timeout). The first seed whose
  // run has faults of all three kinds (the choice is deterministic: faults follow a hash).
  SwarmSpec spec = ResearchSpec(30, 8);
  spec.tool_timeout_ms = 300;
  std::unique_ptr<FaultInjector> injector;
  std::unique_ptr<RecordingSink> recorded;
  Ran ran{Internal("not run"), {}};
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    injector = std::make_unique<FaultInjector>(seed, 0.04, 0.03, 0.03);
    recorded = std::make_unique<RecordingSink>();
    WrappedOracle policy;
    std::atomic<bool> cancelled{false};
    ran = RunSwarm(spec, &policy, recorded.get(), &cancelled, injector.get());
    ASSERT_TRUE(ran.result.ok()) << "seed " << seed << ": " << ran.result.status().ToString();
    if (injector->failed() > 0 && injector->thrown() > 0 && injector->hung() > 0) break;
    injector->Release();
    ASSERT_TRUE(AbandonedBecomes(abandoned_before));
  }
  FaultInjector& faults = *injector;
  RecordingSink& sink = *recorded;
  EXPECT_EQ(ran.result->finished_subagents(), ran.result->subagents());
  const int injected = faults.failed() + faults.thrown() + faults.hung();
  ASSERT_GT(faults.failed(), 0);
  ASSERT_GT(faults.thrown(), 0);
  ASSERT_GT(faults.hung(), 0);
  EXPECT_GE(injected * 100, faults.calls() * 5) << injected << " of " << faults.calls();
  EXPECT_LE(injected * 100, faults.calls() * 20) << injected << " of " << faults.calls();
  int coordinator_calls = 0;
  for (const auto& e : sink.events()) {
    coordinator_calls += e.agent == kCoordinatorName && e.kind == EventKind::EVENT_KIND_TOOL_RESULT ? 1 : 0;
  }
  EXPECT_EQ(ran.result->tool_calls(), faults.calls() + coordinator_calls);

  // Every fault is visible: an is_error tool result of its kind, and in the counts.
  std::map<std::string, int> kinds;
  int finished_errors = 0, finished_timeouts = 0;
  for (const auto& e : sink.events()) {
    if (e.agent == kCoordinatorName) continue;
    if (e.kind == EventKind::EVENT_KIND_TOOL_RESULT && e.payload.value("is_error", false)) {
      ++kinds[e.payload.value("error", "")];
    }
    if (e.kind == EventKind::EVENT_KIND_AGENT_FINISHED) {
      finished_errors += e.payload.at("tool_errors").get<int>();
      finished_timeouts += e.payload.at("tool_timeouts").get<int>();
    }
  }
  EXPECT_EQ(kinds["failed"], faults.failed() + faults.thrown());
  EXPECT_EQ(kinds["timed_out"], faults.hung());
  EXPECT_EQ(kinds.size(), 2u);
  // The oracle's second spawn for rows still missing is refused (the first used all
  // max_subagents): an error observation of the coordinator's, counted with the rest.
  int coordinator_errors = 0;
  for (const json& p : CoordinatorToolResults(sink.events())) coordinator_errors += p.value("is_error", false) ? 1 : 0;
  EXPECT_EQ(ran.counters.tool_errors, injected + coordinator_errors);
  EXPECT_EQ(ran.counters.tool_timeouts, faults.hung());
  EXPECT_EQ(finished_errors, injected);
  EXPECT_EQ(finished_timeouts, faults.hung());
  // The answers built on failed calls miss cells, but most of the table is right.
  EXPECT_GT(ran.result->item_f1(), 0.5);

  // The hung calls' threads are still blocked in the tool; released, they end.
  EXPECT_EQ(workers::AbandonedToolCalls(), abandoned_before + faults.hung());
  faults.Release();
  EXPECT_TRUE(AbandonedBecomes(abandoned_before));
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

TEST(SwarmToolsTest, CancellingMidRunStopsEveryAssignedSubagent) {
  WrappedOracle policy;
  std::atomic<bool> cancelled{false};
  CancellingSink sink(&cancelled);
  Ran ran = RunSwarm(CreateAssignSpec(), &policy, &sink, &cancelled);
  ASSERT_FALSE(ran.result.ok());
  EXPECT_EQ(ran.result.status().code(), StatusCode::kCancelled) << ran.result.status().ToString();
  int subagents = 0;
  for (const auto& [agent, payload] : Finished(sink.events())) {
    EXPECT_EQ(payload.value("status", ""), "cancelled") << agent;
    if (agent == kCoordinatorName) continue;
    ++subagents;
    EXPECT_EQ(payload.value("steps", -1), 0) << agent;
  }
  // Assignments started before the flag was seen stopped before their first step; those
  // after it never started and are answered as cancelled. Together: all eight.
  EXPECT_GE(subagents, 1);
  int cancelled_assignments = 0;
  for (const json& p : CoordinatorToolResults(sink.events())) {
    cancelled_assignments += p.value("error", "") == "cancelled" ? 1 : 0;
  }
  EXPECT_EQ(subagents + cancelled_assignments, 8);
  EXPECT_EQ(policy.calls(), 1);  // the coordinator's create-and-assign turn only
}

TEST(SwarmToolsTest, CancellationDoesNotWaitForAHungTool) {
  const int abandoned_before = workers::AbandonedToolCalls();
  FaultInjector faults(/*seed=*/1, 0, 0, /*hang_rate=*/1.0);  // every world tool call hangs
  WrappedOracle policy;
  RecordingSink sink;
  std::atomic<bool> cancelled{false};
  SwarmSpec spec = ResearchSpec(4, 2);
  spec.tool_timeout_ms = kMaxToolTimeoutMs;  // only the cancellation can end the wait
  std::thread canceller([&] {
    faults.WaitHanging(1);
    cancelled = true;
  });
  Ran ran = RunSwarm(spec, &policy, &sink, &cancelled, &faults);
  canceller.join();
  ASSERT_FALSE(ran.result.ok());
  EXPECT_EQ(ran.result.status().code(), StatusCode::kCancelled) << ran.result.status().ToString();
  int cancelled_calls = 0;
  for (const auto& e : sink.events()) {
    if (e.kind == EventKind::EVENT_KIND_TOOL_RESULT && e.payload.value("error", "") == "cancelled") ++cancelled_calls;
  }
  EXPECT_GE(cancelled_calls, 1);
  faults.Release();
  EXPECT_TRUE(AbandonedBecomes(abandoned_before));
}

}  // namespace
}  // namespace tide::orchestrator
