// BuildTrace: lanes, stages, segments on both axes and the critical path for a known event
// log; a real swarm's trace agrees with its RunResult; malformed logs are errors.
#include "tide/orchestrator/trace.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "orchestrator_test_util.h"
#include "tide/orchestrator/run_manager.h"
#include "tide/orchestrator/store.h"
#include "trace_test_util.h"

namespace tide::orchestrator {
namespace {

using testing::EventLog;

std::vector<const TraceSegment*> OfKind(const TraceLane& lane, TraceSegmentKind kind) {
  std::vector<const TraceSegment*> out;
  for (const auto& s : lane.segments) {
    if (s.kind == kind) out.push_back(&s);
  }
  return out;
}

TEST(TraceTest, LanesStagesAndCriticalPathOfAKnownRun) {
  const EventLog log = EventLog::TwoStages();
  Result<Trace> r = BuildTrace(log.events());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Trace& t = *r;
  EXPECT_EQ(t.run_id, "run-test");
  EXPECT_EQ(t.start_unix_ms, EventLog::kT0);
  EXPECT_EQ(t.duration_ms, 31);
  ASSERT_EQ(t.lanes.size(), 5u);
  const std::vector<std::string> names = {"coordinator", "a", "b", "c", "d"};
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(t.lanes[i].agent, names[i]);

  EXPECT_EQ(t.coordinator_steps, 3);
  EXPECT_EQ(t.critical_steps, 8);  // 3 + b's 4 + d's 1
  EXPECT_EQ(t.total_steps, 11);
  EXPECT_EQ(t.tool_calls, 6);
  EXPECT_EQ(t.tool_errors, 1);

  ASSERT_EQ(t.stages.size(), 2u);
  EXPECT_EQ(t.stages[0].coordinator_step, 1);
  EXPECT_EQ(t.stages[0].lanes, (std::vector<size_t>{1, 2, 3}));
  EXPECT_EQ(t.stages[0].critical_lane, 2);  // b
  EXPECT_EQ(t.stages[0].slowest_steps, 4);
  EXPECT_EQ(t.stages[0].step_begin, 1);
  EXPECT_EQ(t.stages[1].coordinator_step, 2);
  EXPECT_EQ(t.stages[1].lanes, (std::vector<size_t>{4}));
  EXPECT_EQ(t.stages[1].critical_lane, 4);  // d
  EXPECT_EQ(t.stages[1].step_begin, 6);     // after step 2 at [5, 6)

  const std::vector<bool> critical = {true, false, true, false, true};
  for (size_t i = 0; i < critical.size(); ++i) EXPECT_EQ(t.lanes[i].critical, critical[i]) << names[i];
  EXPECT_EQ(t.lanes[1].stage, 0);
  EXPECT_EQ(t.lanes[4].stage, 1);
  EXPECT_EQ(t.lanes[2].status, "finished");
  EXPECT_EQ(t.lanes[2].steps, 4);
  EXPECT_EQ(t.lanes[2].tool_calls, 3);
}

TEST(TraceTest, CoordinatorSegmentsOnBothAxes) {
  const Trace t = BuildTrace(EventLog::TwoStages().events()).value();
  const TraceLane& c = t.lanes[0];
  const auto steps = OfKind(c, TraceSegmentKind::kStep);
  ASSERT_EQ(steps.size(), 3u);
  // A step runs from the agent's previous event to its assistant message.
  EXPECT_EQ(steps[0]->start_ms, 1);
  EXPECT_EQ(steps[0]->end_ms, 5);
  EXPECT_EQ(steps[1]->start_ms, 23);
  EXPECT_EQ(steps[1]->end_ms, 25);
  EXPECT_EQ(steps[2]->start_ms, 28);
  EXPECT_EQ(steps[2]->end_ms, 30);
  EXPECT_EQ(steps[0]->label, "step 1");
  for (const auto* s : steps) EXPECT_TRUE(s->critical);
  EXPECT_EQ(steps[0]->step_begin, 0);
  EXPECT_EQ(steps[1]->step_begin, 5);  // after stage 1's 4 steps
  EXPECT_EQ(steps[2]->step_begin, 7);
  EXPECT_EQ(steps[2]->step_end, 8);

  // The spawning calls are waits spanning their stage, and open their observation.
  const auto waits = OfKind(c, TraceSegmentKind::kWait);
  ASSERT_EQ(waits.size(), 2u);
  EXPECT_EQ(waits[0]->start_ms, 5);
  EXPECT_EQ(waits[0]->end_ms, 23);
  EXPECT_EQ(waits[0]->label, "spawn_subagents: waiting for 3 sub-agents");
  EXPECT_EQ(waits[1]->label, "spawn_subagents: waiting for 1 sub-agent");
  EXPECT_EQ(waits[0]->step_begin, 1);
  EXPECT_EQ(waits[0]->step_end, 5);
  const EventLog log = EventLog::TwoStages();  // kept alive: ev refers into it
  const auto& ev = log.events();
  ASSERT_GE(waits[0]->seq, 0);
  EXPECT_EQ(ev[waits[0]->seq].kind(), tide::v1::EVENT_KIND_MESSAGE);
  EXPECT_NE(ev[waits[0]->seq].payload_json().find("call-s1"), std::string::npos);
  EXPECT_TRUE(OfKind(c, TraceSegmentKind::kTool).empty());
}

TEST(TraceTest, SubagentSegmentsQueuedToolsAndIdle) {
  const Trace t = BuildTrace(EventLog::TwoStages().events()).value();
  const TraceLane& b = t.lanes[2];
  const auto b_steps = OfKind(b, TraceSegmentKind::kStep);
  ASSERT_EQ(b_steps.size(), 4u);
  EXPECT_EQ(b_steps[0]->start_ms, 6);
  EXPECT_EQ(b_steps[0]->end_ms, 8);
  for (size_t i = 0; i < b_steps.size(); ++i) {
    EXPECT_EQ(b_steps[i]->step_begin, 1 + i);
    EXPECT_TRUE(b_steps[i]->critical);
  }
  const auto b_tools = OfKind(b, TraceSegmentKind::kTool);
  ASSERT_EQ(b_tools.size(), 3u);
  EXPECT_EQ(b_tools[0]->label, "search");
  EXPECT_TRUE(b_tools[0]->is_error);
  EXPECT_EQ(b_tools[0]->end_ms, 12);
  EXPECT_EQ(b_tools[0]->start_ms, 9);  // 12 - 3.2 ms, rounded
  EXPECT_EQ(b_tools[0]->step_begin, 2);  // a point at the end of step 1
  EXPECT_FALSE(b_tools[1]->is_error);
  EXPECT_TRUE(OfKind(b, TraceSegmentKind::kIdle).empty());  // the slowest never idles

  const TraceLane& a = t.lanes[1];
  const auto a_steps = OfKind(a, TraceSegmentKind::kStep);
  ASSERT_EQ(a_steps.size(), 2u);
  EXPECT_FALSE(a_steps[0]->critical);
  const auto idle = OfKind(a, TraceSegmentKind::kIdle);
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_EQ(idle[0]->step_begin, 3);
  EXPECT_EQ(idle[0]->step_end, 5);

  const TraceLane& c = t.lanes[3];
  const auto queued = OfKind(c, TraceSegmentKind::kQueued);
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0]->start_ms, 5);  // handed out at the coordinator's step 1
  EXPECT_EQ(queued[0]->end_ms, 9);
  EXPECT_EQ(c.start_ms, 9);
  EXPECT_EQ(c.end_ms, 11);
}

TEST(TraceTest, EveryAgentEventIsListedOnItsLane) {
  const EventLog log = EventLog::TwoStages();
  const Trace t = BuildTrace(log.events()).value();
  size_t listed = 0;
  for (const auto& lane : t.lanes) {
    for (size_t e : lane.events) {
      EXPECT_EQ(log.events()[e].agent(), lane.agent);
      ++listed;
    }
  }
  EXPECT_EQ(listed, log.events().size() - 2);  // all but RUN_STARTED and RUN_FINISHED
}

TEST(TraceTest, ARunStillRunningAndAFailedStep) {
  EventLog log = EventLog::TwoStages();
  // Cut the log inside stage 1: b has not finished, nor has the coordinator.
  log.mutable_events().resize(19);
  Trace t = BuildTrace(log.events()).value();
  ASSERT_EQ(t.lanes.size(), 4u);
  EXPECT_EQ(t.lanes[0].status, "running");
  EXPECT_EQ(t.lanes[2].status, "running");
  EXPECT_EQ(t.lanes[2].steps, 2);
  EXPECT_EQ(t.critical_steps, 1 + 2);

  // A step whose model call failed leaves no message, only the count in AGENT_FINISHED.
  EventLog failed;
  failed.Started("coordinator", "", 0, "task");
  failed.Add(tide::v1::EVENT_KIND_AGENT_FINISHED, "coordinator", "", 4,
             {{"status", "failed"}, {"steps", 1}, {"tool_calls", 0}, {"result", ""}, {"error", "policy down"}});
  failed.Add(tide::v1::EVENT_KIND_RUN_FAILED, "", "", 5, {{"error", "policy down"}});
  t = BuildTrace(failed.events()).value();
  ASSERT_EQ(t.lanes.size(), 1u);
  EXPECT_EQ(t.lanes[0].status, "failed");
  ASSERT_EQ(t.lanes[0].segments.size(), 1u);
  EXPECT_TRUE(t.lanes[0].segments[0].is_error);
  EXPECT_EQ(t.lanes[0].segments[0].label, "step 1 (no reply)");
  EXPECT_EQ(t.critical_steps, 1);
}

TEST(TraceTest, AnEmptyLogIsAnEmptyTrace) {
  const Trace t = BuildTrace({}).value();
  EXPECT_TRUE(t.lanes.empty());
  EXPECT_EQ(t.critical_steps, 0);
}

TEST(TraceTest, MalformedLogsAreErrors) {
  EventLog log = EventLog::TwoStages();
  log.mutable_events()[4].set_run_id("other-run");
  Result<Trace> r = BuildTrace(log.events());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("other-run"), std::string::npos);

  log = EventLog::TwoStages();
  std::swap(log.mutable_events()[3], log.mutable_events()[4]);
  r = BuildTrace(log.events());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("seq order"), std::string::npos);

  // A payload that is not JSON does not stop the trace.
  log = EventLog::TwoStages();
  log.mutable_events()[2].set_payload_json("{not json");
  EXPECT_TRUE(BuildTrace(log.events()).ok());
}

// A real oracle swarm: the trace computed from the stored events matches the RunResult.
TEST(TraceTest, ARealRunAgreesWithItsResult) {
  testing::TempDir dir;
  Store::Options opts;
  opts.sync_writes = false;
  auto store = Store::Open(dir.path() + "/db", opts).value();
  auto manager = RunManager::Create(store.get()).value();
  const std::string id = manager->Start(testing::ResearchSpec(12, 4)).value();
  const tide::v1::Run run = manager->Wait(id).value();
  ASSERT_EQ(run.state(), tide::v1::RUN_STATE_SUCCEEDED) << run.result().error();
  std::vector<tide::v1::SwarmEvent> events;
  ASSERT_TRUE(manager->Watch(id, 0, [&](const tide::v1::SwarmEvent& ev) {
    events.push_back(ev);
    return true;
  }).ok());
  const Trace t = BuildTrace(events).value();
  EXPECT_EQ(t.critical_steps, run.result().critical_steps());
  EXPECT_EQ(t.total_steps, run.result().total_steps());
  EXPECT_EQ(t.tool_calls, run.result().tool_calls());
  EXPECT_EQ(static_cast<int>(t.lanes.size()), 1 + run.result().subagents());
  ASSERT_FALSE(t.stages.empty());
  int in_stages = 0;
  for (const auto& s : t.stages) {
    in_stages += static_cast<int>(s.lanes.size());
    ASSERT_GE(s.critical_lane, 0);
    EXPECT_TRUE(t.lanes[s.critical_lane].critical);
    EXPECT_EQ(t.lanes[s.critical_lane].steps, s.slowest_steps);
  }
  EXPECT_EQ(in_stages, run.result().subagents());
}

}  // namespace
}  // namespace tide::orchestrator
