// Trace: one stored run laid out for people to read (`tide runs trace`, trace_html.h).
// One lane per agent — the coordinator first, then every sub-agent in the order it started —
// each cut into segments: model steps, tool calls and waits, placed twice: on the wall
// clock (ms since the run's first event) and on a steps axis where the coordinator's steps
// follow each other and every stage (the sub-agents one coordinator step started) is as wide
// as its slowest sub-agent. The steps axis is then exactly the critical path:
// critical_steps = Σ over stages of (coordinator steps + the slowest sub-agent's steps).
//
// Built from the stored events alone (SwarmEvent and its payload_json), so a run that
// failed, was cancelled or is still running is traced as far as it got. Stages are found
// from event order, not from tool names: a sub-agent belongs to the coordinator step whose
// assistant message is the last one stored before its AGENT_STARTED (the coordinator
// waits on its tools, so every sub-agent a step starts is started before its next step).
// This holds for spawn_subagents and for any other tool that starts sub-agents.
//
// Failure: INVALID_ARGUMENT when the events are not one run's log in seq order (another
// run's event, a seq out of order). A payload that is not JSON is kept as raw text.
// Pure functions of their input; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/v1/orchestrator.pb.h"

namespace tide::orchestrator {

enum class TraceSegmentKind {
  kStep,    // the agent's model produced one assistant message
  kTool,    // one tool call, from its start to its result
  kWait,    // the coordinator waiting on the sub-agents of a stage (its spawning tool call)
  kQueued,  // a sub-agent handed out by the coordinator but not yet started (pool queue)
  kIdle,    // steps axis only: a sub-agent done before its stage's slowest one
};
const char* TraceSegmentKindName(TraceSegmentKind kind);

struct TraceSegment {
  TraceSegmentKind kind = TraceSegmentKind::kStep;
  std::string label;       // "step 3", the tool's name, "waiting for 8 sub-agents", …
  int64_t start_ms = 0;    // wall clock, relative to the run's first event
  int64_t end_ms = 0;
  double step_begin = 0;   // steps axis; a tool call is a point at the end of its step
  double step_end = 0;
  int64_t seq = -1;        // the event that shows this segment's message (-1: none)
  bool is_error = false;   // a tool call that returned an error observation
  bool critical = false;   // on the critical path
};

struct TraceLane {
  std::string agent;
  std::string parent;      // empty for the coordinator
  int stage = -1;          // index into Trace::stages; -1 for the coordinator
  std::string status;      // AGENT_FINISHED's status; "running" until then
  int steps = 0;           // model steps taken (AGENT_FINISHED's count once finished)
  int tool_calls = 0;
  bool critical = false;   // the coordinator, and each stage's slowest sub-agent
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  std::vector<TraceSegment> segments;
  std::vector<size_t> events;  // indexes into the event list: everything shown for this lane
};

struct TraceStage {
  int coordinator_step = 0;  // 1-based step of the coordinator that started it
  int64_t seq = -1;          // that step's assistant message
  std::vector<size_t> lanes;  // its sub-agents (indexes into Trace::lanes)
  int critical_lane = -1;    // the slowest: most steps, ties to the one that ended last
  int slowest_steps = 0;
  double step_begin = 0;     // where the stage sits on the steps axis
};

struct Trace {
  std::string run_id;
  int64_t start_unix_ms = 0;  // time of the first event
  int64_t duration_ms = 0;    // first to last event
  std::vector<TraceLane> lanes;  // [0] is the coordinator (present once any event names it)
  std::vector<TraceStage> stages;
  int coordinator_steps = 0;
  int critical_steps = 0;     // computed from the events; the width of the steps axis
  int total_steps = 0;
  int tool_calls = 0;
  int tool_errors = 0;
};

// Lays out `events` (one run's log, in seq order; a prefix of it is fine).
Result<Trace> BuildTrace(const std::vector<tide::v1::SwarmEvent>& events);

}  // namespace tide::orchestrator
