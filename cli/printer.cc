#include "printer.h"

#include <cstdio>
#include <ctime>
#include <map>
#include <string>

namespace tide::cli {
namespace {

using nlohmann::json;
using tide::v1::EventKind;

std::string Clip(std::string s, size_t n) {
  for (char& c : s) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  if (s.size() > n) s = s.substr(0, n - 3) + "...";
  return s;
}

std::string Fixed(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, x);
  return buf;
}

json Payload(const tide::v1::SwarmEvent& ev) { return json::parse(ev.payload_json(), nullptr, false); }

std::string TimeOf(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace

const char* RunStateName(tide::v1::RunState state) {
  switch (state) {
    case tide::v1::RUN_STATE_RUNNING: return "running";
    case tide::v1::RUN_STATE_SUCCEEDED: return "succeeded";
    case tide::v1::RUN_STATE_FAILED: return "failed";
    case tide::v1::RUN_STATE_CANCELLED: return "cancelled";
    default: return "unknown";
  }
}

void PrintEventLine(std::ostream& out, const tide::v1::SwarmEvent& ev) {
  const json p = Payload(ev);
  switch (ev.kind()) {
    case EventKind::EVENT_KIND_RUN_STARTED: {
      const json r = p.value("request", json::object());
      out << "run " << ev.run_id() << ": world " << r.value("world", "?") << ", seed " << r.value("seed", "0")
          << ", " << r.value("items", 0) << " items, up to " << r.value("max_subagents", 0) << " sub-agents, policy "
          << r.value("policy", "?") << "\n";
      break;
    }
    case EventKind::EVENT_KIND_AGENT_STARTED:
      if (ev.parent_agent().empty()) {
        out << "  " << ev.agent() << " started\n";
      } else {
        std::string tools;
        for (const auto& t : p.value("tools", json::array())) {
          tools += (tools.empty() ? "" : ",") + t["function"].value("name", "?");
        }
        out << "    " << ev.agent() << " started (tools: " << tools << ")\n";
      }
      break;
    case EventKind::EVENT_KIND_MESSAGE:
      if (ev.parent_agent().empty() && p.value("role", "") == "assistant") {
        for (const auto& c : p.value("tool_calls", json::array())) {
          const json args = json::parse(c["function"].value("arguments", "{}"), nullptr, false);
          std::string what = c["function"].value("name", "?");
          if (args.is_object() && args.contains("subagents") && args["subagents"].is_array()) {
            what += " (" + std::to_string(args["subagents"].size()) + " sub-agents)";
          }
          out << "  " << ev.agent() << " calls " << what << "\n";
        }
        if (!p.value("tool_calls", json::array()).empty()) break;
        out << "  " << ev.agent() << " answers: " << Clip(p["content"].is_string() ? p["content"].get<std::string>() : "", 100) << "\n";
      }
      break;
    case EventKind::EVENT_KIND_AGENT_FINISHED:
      out << (ev.parent_agent().empty() ? "  " : "    ") << ev.agent() << " " << p.value("status", "?") << " after "
          << p.value("steps", 0) << " steps, " << p.value("tool_calls", 0) << " tool calls\n";
      break;
    case EventKind::EVENT_KIND_RUN_FAILED:
      out << "run failed: " << p.value("error", "?") << "\n";
      break;
    case EventKind::EVENT_KIND_RUN_CANCELLED:
      out << "run cancelled: " << p.value("reason", "?") << "\n";
      break;
    default:
      break;
  }
}

json RunJson(const tide::v1::Run& run) {
  const auto& r = run.result();
  const double finish_rate = r.subagents() > 0 ? static_cast<double>(r.finished_subagents()) / r.subagents() : 0.0;
  json j = {{"run_id", run.run_id()},
            {"state", RunStateName(run.state())},
            {"world", run.request().world()},
            {"seed", run.request().seed()},
            {"items", run.request().items()},
            {"subagents", r.subagents()},
            {"finished_subagents", r.finished_subagents()},
            {"finish_rate", finish_rate},
            {"item_f1", r.item_f1()},
            {"success", r.success()},
            {"reward", r.reward()},
            {"critical_steps", r.critical_steps()},
            {"total_steps", r.total_steps()},
            {"tool_calls", r.tool_calls()},
            {"tokens", r.usage().total_tokens()},
            {"wall_s", r.wall_s()},
            {"events", run.num_events()}};
  if (!r.error().empty()) j["error"] = r.error();
  return j;
}

void PrintRunSummary(std::ostream& out, const tide::v1::Run& run) {
  const auto& r = run.result();
  out << "run " << run.run_id() << " " << RunStateName(run.state()) << "\n";
  if (run.state() != tide::v1::RUN_STATE_SUCCEEDED) {
    if (!r.error().empty()) out << "  error: " << r.error() << "\n";
    return;
  }
  out << "  verified: item_f1 " << Fixed(r.item_f1(), 3) << ", success " << (r.success() ? "yes" : "no")
      << ", reward " << Fixed(r.reward(), 3) << "\n";
  out << "  sub-agents " << r.subagents() << " (" << r.finished_subagents() << " finished), steps "
      << r.total_steps() << " total / " << r.critical_steps() << " critical, tool calls " << r.tool_calls()
      << ", tokens " << r.usage().total_tokens() << ", wall " << Fixed(r.wall_s(), 3) << " s, events "
      << run.num_events() << "\n";
}

void PrintRunTable(std::ostream& out, const std::vector<tide::v1::Run>& runs) {
  char line[256];
  std::snprintf(line, sizeof(line), "%-34s %-10s %-19s %-9s %5s %5s %9s %7s %8s\n", "RUN", "STATE", "CREATED (UTC)",
                "WORLD", "SEED", "ITEMS", "SUBAGENTS", "ITEM_F1", "WALL_S");
  out << line;
  for (const auto& run : runs) {
    std::snprintf(line, sizeof(line), "%-34s %-10s %-19s %-9s %5llu %5d %9d %7.3f %8.3f\n", run.run_id().c_str(),
                  RunStateName(run.state()), TimeOf(run.created_unix_ms()).c_str(), run.request().world().c_str(),
                  static_cast<unsigned long long>(run.request().seed()), run.request().items(),
                  run.result().subagents(), run.result().item_f1(), run.result().wall_s());
    out << line;
  }
  if (runs.empty()) out << "(no runs)\n";
}

void PrintTrajectoryTree(std::ostream& out, const tide::v1::Run& run, const std::vector<tide::v1::SwarmEvent>& events) {
  struct Node {
    std::string instructions, status, result;
    int steps = 0, tool_calls = 0, messages = 0;
  };
  std::vector<std::string> order;
  std::map<std::string, Node> subs;
  Node coordinator;
  std::string answer;
  for (const auto& ev : events) {
    const json p = Payload(ev);
    const bool is_sub = !ev.parent_agent().empty();
    if (is_sub && !subs.count(ev.agent())) order.push_back(ev.agent());
    Node& n = is_sub ? subs[ev.agent()] : coordinator;
    if (ev.kind() == EventKind::EVENT_KIND_AGENT_STARTED) n.instructions = p.value("instructions", "");
    if (ev.kind() == EventKind::EVENT_KIND_MESSAGE) {
      ++n.messages;
      if (!is_sub && p.value("role", "") == "assistant" && p.value("tool_calls", json::array()).empty() &&
          p["content"].is_string()) {
        answer = p["content"].get<std::string>();
      }
    }
    if (ev.kind() == EventKind::EVENT_KIND_AGENT_FINISHED) {
      n.status = p.value("status", "");
      n.steps = p.value("steps", 0);
      n.tool_calls = p.value("tool_calls", 0);
      n.result = p.value("result", "");
    }
  }
  PrintRunSummary(out, run);
  out << "coordinator: " << (coordinator.status.empty() ? "running" : coordinator.status) << ", "
      << coordinator.steps << " steps, " << coordinator.tool_calls << " tool calls, " << coordinator.messages
      << " messages in its context\n";
  for (size_t i = 0; i < order.size(); ++i) {
    const Node& n = subs[order[i]];
    const bool last = i + 1 == order.size();
    out << (last ? "└─ " : "├─ ") << order[i] << ": " << (n.status.empty() ? "running" : n.status) << ", " << n.steps
        << " steps, " << n.tool_calls << " tool calls, " << n.messages << " messages\n";
    const char* bar = last ? "   " : "│  ";
    out << bar << "   task:   " << Clip(n.instructions, 96) << "\n";
    out << bar << "   result: " << Clip(n.result, 96) << "\n";
  }
  if (!answer.empty()) out << "answer: " << Clip(answer, 160) << "\n";
}

}  // namespace tide::cli
