// A hand-written event log of a two-stage run, shared by the trace and trace-page tests,
// and a helper to run a real swarm and read its stored events back.
//
// The run (times in ms from the first event):
//   coordinator  step 1 (1→5) spawns a, b, c (18 ms wait); step 2 (23→25) spawns d;
//                step 3 (28→30) answers.
//   stage 1      a: 2 steps, 1 tool call; b: 4 steps, 3 tool calls (the first an error) —
//                the slowest; c: queued 5→9, then 1 step.
//   stage 2      d: 1 step.
//   critical steps = 3 (coordinator) + 4 (b) + 1 (d) = 8; total steps 11; tool calls 6.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/v1/orchestrator.pb.h"

namespace tide::orchestrator::testing {

class EventLog {
 public:
  static constexpr int64_t kT0 = 1'700'000'000'000;

  explicit EventLog(std::string run_id = "run-test") : run_id_(std::move(run_id)) {}

  void Add(tide::v1::EventKind kind, const std::string& agent, const std::string& parent, int64_t at,
           const nlohmann::json& payload) {
    tide::v1::SwarmEvent ev;
    ev.set_run_id(run_id_);
    ev.set_seq(events_.size());
    ev.set_kind(kind);
    ev.set_agent(agent);
    ev.set_parent_agent(parent);
    ev.set_time_unix_ms(kT0 + at);
    ev.set_payload_json(payload.dump());
    events_.push_back(ev);
  }
  void Started(const std::string& agent, const std::string& parent, int64_t at, const std::string& instructions) {
    Add(tide::v1::EVENT_KIND_AGENT_STARTED, agent, parent, at,
        {{"role", parent.empty() ? "coordinator" : "subagent"}, {parent.empty() ? "task" : "instructions", instructions},
         {"tools", nlohmann::json::array({{{"type", "function"}, {"function", {{"name", "search"}}}}})}});
  }
  void Message(const std::string& agent, const std::string& parent, int64_t at, const std::string& role,
               const std::string& content) {
    Add(tide::v1::EVENT_KIND_MESSAGE, agent, parent, at, {{"role", role}, {"content", content}});
  }
  // An assistant message calling `calls` ({id, name} pairs).
  void Calls(const std::string& agent, const std::string& parent, int64_t at,
             const std::vector<std::pair<std::string, std::string>>& calls, const std::string& args = "{}") {
    nlohmann::json tc = nlohmann::json::array();
    for (const auto& [id, name] : calls) {
      tc.push_back({{"id", id}, {"type", "function"}, {"function", {{"name", name}, {"arguments", args}}}});
    }
    Add(tide::v1::EVENT_KIND_MESSAGE, agent, parent, at, {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", tc}});
  }
  // The TOOL_RESULT event and the tool message that follows it, as the agent loop stores them.
  void Result(const std::string& agent, const std::string& parent, int64_t at, const std::string& id,
              const std::string& name, double ms, bool is_error, const std::string& content) {
    Add(tide::v1::EVENT_KIND_TOOL_RESULT, agent, parent, at,
        {{"tool_call_id", id}, {"name", name}, {"is_error", is_error}, {"ms", ms}});
    Add(tide::v1::EVENT_KIND_MESSAGE, agent, parent, at, {{"role", "tool"}, {"content", content}, {"tool_call_id", id}});
  }
  void Finished(const std::string& agent, const std::string& parent, int64_t at, int steps, int tool_calls,
                const std::string& result) {
    Add(tide::v1::EVENT_KIND_AGENT_FINISHED, agent, parent, at,
        {{"status", "finished"}, {"steps", steps}, {"tool_calls", tool_calls}, {"result", result},
         {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 5}, {"total_tokens", 15}}}});
  }

  const std::vector<tide::v1::SwarmEvent>& events() const { return events_; }
  std::vector<tide::v1::SwarmEvent>& mutable_events() { return events_; }

  // The two-stage run described above; `answer` is the coordinator's final message.
  static EventLog TwoStages(const std::string& answer = "the answer") {
    const std::string c = "coordinator";
    EventLog log;
    log.Add(tide::v1::EVENT_KIND_RUN_STARTED, "", "", 0, {{"request", {{"world", "research"}}}});
    log.Started(c, "", 1, "find the facts");
    log.Message(c, "", 1, "system", "You are the coordinator.");
    log.Message(c, "", 1, "user", "Find the facts.");
    log.Calls(c, "", 5, {{"call-s1", "spawn_subagents"}});
    for (const char* a : {"a", "b"}) {
      log.Started(a, c, 6, std::string("part ") + a);
      log.Message(a, c, 6, "system", "You are a sub-agent.");
    }
    log.Calls("b", c, 8, {{"b1", "search"}});
    log.Started("c", c, 9, "part c");
    log.Calls("a", c, 10, {{"a1", "search"}});
    log.Message("c", c, 11, "assistant", "c's result");
    log.Finished("c", c, 11, 1, 0, "c's result");
    log.Result("b", c, 12, "b1", "search", 3.2, true, "error: search backend down");
    log.Result("a", c, 14, "a1", "search", 4.0, false, "doc-1 doc-2");
    log.Calls("b", c, 15, {{"b2", "open"}});
    log.Message("a", c, 16, "assistant", "a's result");
    log.Finished("a", c, 16, 2, 1, "a's result");
    log.Result("b", c, 17, "b2", "open", 2.0, false, "document text");
    log.Calls("b", c, 20, {{"b3", "open"}});
    log.Result("b", c, 21, "b3", "open", 1.0, false, "more text");
    log.Message("b", c, 22, "assistant", "b's result");
    log.Finished("b", c, 22, 4, 3, "b's result");
    log.Result(c, "", 23, "call-s1", "spawn_subagents", 18.0, false, "{\"results\":[]}");
    log.Calls(c, "", 25, {{"call-s2", "spawn_subagents"}});
    log.Started("d", c, 26, "part d");
    log.Message("d", c, 27, "assistant", "d's result");
    log.Finished("d", c, 27, 1, 0, "d's result");
    log.Result(c, "", 28, "call-s2", "spawn_subagents", 3.0, false, "{\"results\":[]}");
    log.Message(c, "", 30, "assistant", answer);
    log.Finished(c, "", 30, 3, 2, answer);
    log.Add(tide::v1::EVENT_KIND_RUN_FINISHED, "", "", 31, {{"critical_steps", 8}});
    return log;
  }

 private:
  std::string run_id_;
  std::vector<tide::v1::SwarmEvent> events_;
};

}  // namespace tide::orchestrator::testing
