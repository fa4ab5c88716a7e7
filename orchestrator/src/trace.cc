#include "tide/orchestrator/trace.h"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

namespace tide::orchestrator {
namespace {

using nlohmann::json;
using tide::v1::EventKind;

// Per-lane bookkeeping while the events are read.
struct LaneState {
  int64_t last_ms = 0;           // the agent's previous event: where its next step starts
  int message_steps = 0;         // assistant messages seen
  int tool_results = 0;
  bool finished = false;
  std::map<std::string, size_t> call_segment;  // tool_call_id → its segment
};

json Payload(const tide::v1::SwarmEvent& ev) { return json::parse(ev.payload_json(), nullptr, false); }

}  // namespace

const char* TraceSegmentKindName(TraceSegmentKind kind) {
  switch (kind) {
    case TraceSegmentKind::kStep: return "step";
    case TraceSegmentKind::kTool: return "tool";
    case TraceSegmentKind::kWait: return "wait";
    case TraceSegmentKind::kQueued: return "queued";
    case TraceSegmentKind::kIdle: return "idle";
  }
  return "step";
}

Result<Trace> BuildTrace(const std::vector<tide::v1::SwarmEvent>& events) {
  Trace t;
  if (events.empty()) return t;
  t.run_id = events[0].run_id();
  t.start_unix_ms = events[0].time_unix_ms();
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].run_id() != t.run_id) {
      return InvalidArgument("event " + std::to_string(i) + " belongs to run \"" + events[i].run_id() +
                             "\", not \"" + t.run_id + "\"");
    }
    if (i > 0 && events[i].seq() <= events[i - 1].seq()) {
      return InvalidArgument("events are not in seq order: seq " + std::to_string(events[i].seq()) + " follows " +
                             std::to_string(events[i - 1].seq()));
    }
    t.duration_ms = std::max(t.duration_ms, events[i].time_unix_ms() - t.start_unix_ms);
  }

  std::vector<LaneState> state;
  std::map<std::string, size_t> by_name;  // an agent's latest lane (a name may start again)
  int coordinator = -1;
  int coordinator_step = 0;        // the coordinator's latest step
  int64_t coordinator_step_ms = 0;
  int64_t coordinator_step_seq = -1;
  std::map<int, size_t> stage_of_step;  // coordinator step → its stage
  bool run_ended = false;

  auto new_lane = [&](const tide::v1::SwarmEvent& ev, int64_t rel) {
    TraceLane lane;
    lane.agent = ev.agent();
    lane.parent = ev.parent_agent();
    lane.status = "running";
    lane.start_ms = lane.end_ms = rel;
    if (!lane.parent.empty()) {
      auto it = stage_of_step.find(coordinator_step);
      if (it == stage_of_step.end()) {
        TraceStage stage;
        stage.coordinator_step = coordinator_step;
        stage.seq = coordinator_step_seq;
        it = stage_of_step.emplace(coordinator_step, t.stages.size()).first;
        t.stages.push_back(stage);
      }
      lane.stage = static_cast<int>(it->second);
      t.stages[it->second].lanes.push_back(t.lanes.size());
      if (coordinator >= 0 && rel > coordinator_step_ms) {
        // Handed out at the coordinator's step, started when a pool thread was free.
        TraceSegment queued;
        queued.kind = TraceSegmentKind::kQueued;
        queued.label = "queued";
        queued.start_ms = coordinator_step_ms;
        queued.end_ms = rel;
        lane.segments.push_back(queued);
      }
    } else if (coordinator < 0) {
      coordinator = static_cast<int>(t.lanes.size());
    }
    by_name[lane.agent] = t.lanes.size();
    t.lanes.push_back(std::move(lane));
    LaneState s;
    s.last_ms = rel;
    state.push_back(std::move(s));
    return t.lanes.size() - 1;
  };

  for (size_t i = 0; i < events.size(); ++i) {
    const tide::v1::SwarmEvent& ev = events[i];
    const int64_t rel = ev.time_unix_ms() - t.start_unix_ms;
    const EventKind kind = ev.kind();
    if (kind == EventKind::EVENT_KIND_RUN_FINISHED || kind == EventKind::EVENT_KIND_RUN_FAILED ||
        kind == EventKind::EVENT_KIND_RUN_CANCELLED) {
      run_ended = true;
    }
    if (ev.agent().empty()) continue;  // run-level events have no lane
    size_t li;
    if (kind == EventKind::EVENT_KIND_AGENT_STARTED || !by_name.count(ev.agent())) {
      li = new_lane(ev, rel);
    } else {
      li = by_name[ev.agent()];
    }
    TraceLane& lane = t.lanes[li];
    LaneState& ls = state[li];
    lane.events.push_back(i);
    lane.end_ms = std::max(lane.end_ms, rel);
    const json p = Payload(ev);
    const bool is_coordinator = static_cast<int>(li) == coordinator;

    if (kind == EventKind::EVENT_KIND_MESSAGE && p.is_object()) {
      const std::string role = p.value("role", "");
      if (role == "assistant") {
        TraceSegment step;
        step.kind = TraceSegmentKind::kStep;
        step.label = "step " + std::to_string(++ls.message_steps);
        step.start_ms = ls.last_ms;
        step.end_ms = rel;
        step.seq = static_cast<int64_t>(ev.seq());
        lane.segments.push_back(step);
        if (is_coordinator) {
          coordinator_step = ls.message_steps;
          coordinator_step_ms = rel;
          coordinator_step_seq = static_cast<int64_t>(ev.seq());
        }
      } else if (role == "tool") {
        // The observation's text: make its tool call's segment open this message.
        auto it = ls.call_segment.find(p.value("tool_call_id", ""));
        if (it != ls.call_segment.end()) lane.segments[it->second].seq = static_cast<int64_t>(ev.seq());
      }
    } else if (kind == EventKind::EVENT_KIND_TOOL_RESULT && p.is_object()) {
      const double ms = p.contains("ms") && p["ms"].is_number() ? p["ms"].get<double>() : 0.0;
      TraceSegment call;
      call.kind = TraceSegmentKind::kTool;
      call.label = p.value("name", "tool");
      call.is_error = p.value("is_error", false);
      call.end_ms = rel;
      call.start_ms = std::max(lane.start_ms, rel - static_cast<int64_t>(ms + 0.5));
      call.seq = static_cast<int64_t>(ev.seq());
      if (is_coordinator) {
        if (auto it = stage_of_step.find(coordinator_step); it != stage_of_step.end()) {
          call.kind = TraceSegmentKind::kWait;
          const size_t n = t.stages[it->second].lanes.size();
          call.label += ": waiting for " + std::to_string(n) + (n == 1 ? " sub-agent" : " sub-agents");
        }
      }
      ++ls.tool_results;
      if (call.is_error) ++t.tool_errors;
      ls.call_segment[p.value("tool_call_id", "")] = lane.segments.size();
      lane.segments.push_back(call);
    } else if (kind == EventKind::EVENT_KIND_AGENT_FINISHED && p.is_object()) {
      ls.finished = true;
      lane.status = p.value("status", "finished");
      const int steps = p.value("steps", ls.message_steps);
      // A step whose model call failed left no message; show it all the same.
      while (ls.message_steps < steps) {
        TraceSegment failed;
        failed.kind = TraceSegmentKind::kStep;
        failed.label = "step " + std::to_string(++ls.message_steps) + " (no reply)";
        failed.start_ms = ls.last_ms;
        failed.end_ms = rel;
        failed.is_error = true;
        failed.seq = static_cast<int64_t>(ev.seq());
        lane.segments.push_back(failed);
      }
      lane.tool_calls = p.value("tool_calls", ls.tool_results);
    }
    ls.last_ms = rel;
  }

  for (size_t li = 0; li < t.lanes.size(); ++li) {
    TraceLane& lane = t.lanes[li];
    lane.steps = state[li].message_steps;
    if (!state[li].finished) {
      lane.tool_calls = state[li].tool_results;
      if (run_ended) lane.status = "unfinished";  // the run ended without this agent's end
    }
    t.total_steps += lane.steps;
    t.tool_calls += lane.tool_calls;
  }

  // Each stage's critical sub-agent: the most steps; of those, the one that ended last.
  for (TraceStage& stage : t.stages) {
    for (size_t li : stage.lanes) {
      const TraceLane& lane = t.lanes[li];
      const TraceLane* best = stage.critical_lane >= 0 ? &t.lanes[stage.critical_lane] : nullptr;
      if (!best || lane.steps > best->steps || (lane.steps == best->steps && lane.end_ms > best->end_ms)) {
        stage.critical_lane = static_cast<int>(li);
      }
      stage.slowest_steps = std::max(stage.slowest_steps, lane.steps);
    }
    if (stage.critical_lane >= 0) t.lanes[stage.critical_lane].critical = true;
  }

  // The steps axis: coordinator steps one after another, each stage as wide as its slowest.
  double x = 0;
  auto place_stage = [&](TraceStage& stage) {
    stage.step_begin = x;
    x += stage.slowest_steps;
  };
  std::vector<bool> placed(t.stages.size(), false);
  if (coordinator >= 0) {
    TraceLane& c = t.lanes[coordinator];
    c.critical = true;
    t.coordinator_steps = c.steps;
    int pending = -1;  // the stage of the step just placed, laid out after its tool calls
    int step = 0;
    for (TraceSegment& seg : c.segments) {
      if (seg.kind == TraceSegmentKind::kStep) {
        if (pending >= 0) place_stage(t.stages[pending]);
        ++step;
        seg.step_begin = x;
        seg.step_end = x + 1;
        seg.critical = true;
        x += 1;
        auto it = stage_of_step.find(step);
        pending = it == stage_of_step.end() ? -1 : static_cast<int>(it->second);
        if (pending >= 0) placed[pending] = true;
      } else if (seg.kind == TraceSegmentKind::kWait && pending >= 0) {
        seg.step_begin = x;
        seg.step_end = x + t.stages[pending].slowest_steps;
      } else {
        seg.step_begin = seg.step_end = x;
      }
    }
    if (pending >= 0) place_stage(t.stages[pending]);
  }
  for (size_t s = 0; s < t.stages.size(); ++s) {
    if (!placed[s]) place_stage(t.stages[s]);  // sub-agents with no coordinator step before them
  }
  t.critical_steps = static_cast<int>(x);

  for (TraceStage& stage : t.stages) {
    for (size_t li : stage.lanes) {
      TraceLane& lane = t.lanes[li];
      const bool critical = static_cast<int>(li) == stage.critical_lane;
      double at = stage.step_begin;
      for (TraceSegment& seg : lane.segments) {
        if (seg.kind == TraceSegmentKind::kStep) {
          seg.step_begin = at;
          seg.step_end = at + 1;
          seg.critical = critical;
          at += 1;
        } else {
          seg.step_begin = seg.step_end = at;
        }
      }
      if (lane.steps < stage.slowest_steps) {
        TraceSegment idle;
        idle.kind = TraceSegmentKind::kIdle;
        idle.label = "done; the stage waits for its slowest sub-agent";
        idle.start_ms = idle.end_ms = lane.end_ms;
        idle.step_begin = at;
        idle.step_end = stage.step_begin + stage.slowest_steps;
        lane.segments.push_back(idle);
      }
    }
  }
  return t;
}

}  // namespace tide::orchestrator
