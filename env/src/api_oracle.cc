#include "tide/env/api_oracle.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <sstream>

#include "tide/env/api_task.h"
#include "tide/env/api_user.h"
#include "tide/env/oracle_context.h"
#include "tide/workers/swarm_protocol.h"

namespace tide::env {
namespace {

using nlohmann::json;

constexpr int kCoordinatorRounds = 2;  // the first spawn and one for groups that failed
constexpr int kDefaultMaxSubagents = 8;

enum class ErrorKind { kNone, kRetry, kTimeout, kFatal };

ErrorKind KindOf(const PastCall& c) {
  const std::string prefix = "error: ";
  if (c.observation.compare(0, prefix.size(), prefix) != 0) return ErrorKind::kNone;
  const std::string code = c.observation.substr(prefix.size(), 3);
  if (code == "503" || code == "429") return ErrorKind::kRetry;
  if (code == "504") return ErrorKind::kTimeout;
  return ErrorKind::kFatal;
}

json Parsed(const PastCall& c) { return json::parse(c.observation, nullptr, /*allow_exceptions=*/false); }

std::string Quote(const std::string& s) { return json(s).dump(); }

std::string Join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

Result<ApiTaskSpec> FindApiTask(const std::vector<workers::Message>& messages) {
  for (const workers::Message& m : messages) {
    if (m.role != "user") continue;
    Result<ApiTaskSpec> task = ParseApiTask(m.content);
    if (task.ok()) return task;
  }
  return InvalidArgument("no user message holds an api-goal task");
}

const workers::ToolSpec* FindSpec(const workers::PolicyRequest& request, const std::string& name) {
  if (request.tools == nullptr) return nullptr;
  for (const workers::ToolSpec& s : *request.tools) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// The last call matching `match`, and how many of the matching calls failed.
struct Track {
  const PastCall* last = nullptr;
  int failures = 0;
};

template <typename Match>
Track Find(const std::vector<PastCall>& calls, Match match) {
  Track t;
  for (const PastCall& c : calls) {
    if (!c.answered || !match(c)) continue;
    t.last = &c;
    if (KindOf(c) != ErrorKind::kNone) ++t.failures;
  }
  return t;
}

struct Plan {
  std::vector<std::pair<std::string, json>> next;  // calls to make this turn
  std::vector<std::string> failures;
  std::string summary;  // when nothing is left to do
};

// Decides what to do with a tracked call: true when it succeeded; otherwise plans a retry
// (same arguments) or records why the step failed.
bool Settled(const Track& t, const std::string& tool, const json& args, const std::string& what, Plan& plan) {
  if (t.last == nullptr) {
    plan.next.emplace_back(tool, args);
    return false;
  }
  const ErrorKind kind = KindOf(*t.last);
  if (kind == ErrorKind::kNone) return true;
  if (kind == ErrorKind::kFatal || t.failures >= kApiOracleMaxTries) {
    plan.failures.push_back(what + ": " + t.last->observation);
  } else {
    plan.next.emplace_back(tool, args);
  }
  return false;
}

class StepPlanner {
 public:
  StepPlanner(const ApiStep& step, const std::vector<PastCall>& calls, const workers::PolicyRequest& request)
      : s_(step), calls_(calls), request_(request), okey_(step.owner + "_id"), idkey_(step.noun + "_id") {}

  Plan Run() {
    std::optional<std::string> owner = Owner();
    if (!owner) return std::move(plan_);
    if (s_.kind == ApiStepKind::kCreate) {
      Create(*owner);
      return std::move(plan_);
    }
    std::optional<std::vector<json>> items = ListAll(*owner);
    if (!items) return std::move(plan_);
    std::vector<std::string> done;
    for (const json& item : *items) {
      if (!s_.above_field.empty()) {
        const json v = item.value(s_.above_field, json());
        if (!v.is_number() || !(v.get<double>() > static_cast<double>(s_.above))) continue;
      }
      const std::string id = item.value("id", "");
      const bool ok = s_.kind == ApiStepKind::kUpdate ? Update(id) : Transition(id, item.value("status", ""));
      if (ok) done.push_back(id);
    }
    const std::string who = s_.owner + " " + s_.owner_name + " (" + *owner + ")";
    if (done.empty() && plan_.failures.empty()) {
      plan_.summary = "no " + s_.status + " " + s_.noun + " of " + who + " matched, so nothing changed";
    } else if (s_.kind == ApiStepKind::kUpdate) {
      plan_.summary = "set " + s_.field + " to " + s_.value.dump() + " on " + s_.noun + " " + Join(done, ", ") + " of " + who;
    } else {
      plan_.summary = Join(s_.verbs, " then ") + ": " + s_.noun + " " + Join(done, ", ") + " of " + who;
    }
    return std::move(plan_);
  }

 private:
  std::optional<std::string> Owner() {
    const std::string tool = "find_" + s_.owner + "s";
    Track t = Find(calls_, [&](const PastCall& c) {
      return c.call.name == tool && c.arguments.value("name", "") == s_.owner_name;
    });
    if (!Settled(t, tool, {{"name", s_.owner_name}, {"limit", 20}}, "finding " + s_.owner + " " + Quote(s_.owner_name), plan_)) {
      return std::nullopt;
    }
    for (const json& m : Parsed(*t.last).value("matches", json::array())) {
      if (m.value("name", "") == s_.owner_name) return m.value("id", "");
    }
    plan_.failures.push_back("no " + s_.owner + " is named " + Quote(s_.owner_name));
    return std::nullopt;
  }

  std::optional<std::vector<json>> ListAll(const std::string& owner) {
    const std::string tool = "list_" + s_.noun + "s";
    int page_size = 0;
    if (const workers::ToolSpec* spec = FindSpec(request_, tool)) {
      const json max = spec->parameters.value("properties", json::object()).value("page_size", json::object()).value("maximum", json());
      if (max.is_number_integer()) page_size = max.get<int>();
    }
    std::vector<json> items;
    for (int page = 1;;) {
      json args = {{okey_, owner}, {"status", s_.status}, {"page", page}};
      if (page_size > 0) args["page_size"] = page_size;
      Track t = Find(calls_, [&](const PastCall& c) {
        return c.call.name == tool && c.arguments.value(okey_, "") == owner && c.arguments.value("status", "") == s_.status &&
               c.arguments.value("page", 0) == page;
      });
      if (!Settled(t, tool, args, "listing " + s_.noun + "s", plan_)) return std::nullopt;
      const json reply = Parsed(*t.last);
      for (const json& item : reply.value("items", json::array())) items.push_back(item);
      const json next = reply.value("next_page", json());
      if (!next.is_number_integer() || next.get<int>() <= page) return items;
      page = next.get<int>();
    }
  }

  // The record's history of lifecycle calls and reads, replayed to find the next action;
  // `failures` counts failed calls since the last success.
  bool Transition(const std::string& id, std::string status) {
    size_t next = 0;
    bool uncertain = false;
    std::string before;
    int failures = 0;
    const std::string get = "get_" + s_.noun;
    for (const PastCall& c : calls_) {
      if (!c.answered || c.arguments.value(idkey_, "") != id) continue;
      const ErrorKind kind = KindOf(c);
      if (c.call.name == get) {
        if (kind == ErrorKind::kNone) {
          status = Parsed(c).value("status", "");
          if (uncertain && status != before) ++next;
          uncertain = false;
          failures = 0;
        } else if (kind == ErrorKind::kFatal) {
          return Fail(get + " " + id + ": " + c.observation);
        } else {
          ++failures;
        }
      } else if (next < s_.verbs.size() && c.call.name == s_.verbs[next] + "_" + s_.noun) {
        if (kind == ErrorKind::kNone) {
          status = Parsed(c).value("status", "");
          ++next;
          failures = 0;
        } else if (kind == ErrorKind::kTimeout) {
          uncertain = true;
          before = status;
          ++failures;
        } else if (kind == ErrorKind::kRetry) {
          ++failures;
        } else {
          return Fail(c.call.name + " " + id + ": " + c.observation);
        }
      }
    }
    if (next == s_.verbs.size()) return true;
    if (failures >= kApiOracleMaxTries) return Fail("gave up on " + s_.noun + " " + id + " after " + std::to_string(failures) + " failed calls in a row");
    if (uncertain) {
      plan_.next.emplace_back(get, json{{idkey_, id}});
    } else {
      plan_.next.emplace_back(s_.verbs[next] + "_" + s_.noun, json{{idkey_, id}});
    }
    return false;
  }

  bool Update(const std::string& id) {
    bool done = false, uncertain = false;
    int failures = 0;
    const std::string get = "get_" + s_.noun, update = "update_" + s_.noun;
    for (const PastCall& c : calls_) {
      if (!c.answered || c.arguments.value(idkey_, "") != id) continue;
      const ErrorKind kind = KindOf(c);
      if (c.call.name == get && kind == ErrorKind::kNone) {
        if (uncertain) done = Parsed(c).value(s_.field, json()) == s_.value;
        uncertain = false;
        failures = 0;
      } else if (c.call.name == get && kind != ErrorKind::kNone) {
        if (kind == ErrorKind::kFatal) return Fail(get + " " + id + ": " + c.observation);
        ++failures;
      } else if (c.call.name == update) {
        if (kind == ErrorKind::kNone) {
          done = true;
        } else if (kind == ErrorKind::kFatal) {
          return Fail(update + " " + id + ": " + c.observation);
        } else {
          uncertain = kind == ErrorKind::kTimeout;
          ++failures;
        }
      }
    }
    if (done) return true;
    if (failures >= kApiOracleMaxTries) return Fail("gave up on " + s_.noun + " " + id + " after " + std::to_string(failures) + " failed calls in a row");
    if (uncertain) {
      plan_.next.emplace_back(get, json{{idkey_, id}});
    } else {
      plan_.next.emplace_back(update, json{{idkey_, id}, {s_.field, s_.value}});
    }
    return false;
  }

  void Create(const std::string& owner) {
    const std::string tool = "create_" + s_.noun;
    json args = s_.fields;
    args[okey_] = owner;
    // The idempotency key comes from the content, so a retry after a timeout never duplicates.
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char ch : tool + args.dump()) h = (h ^ ch) * 0x100000001b3ULL;
    char key[24];
    std::snprintf(key, sizeof key, "req-%016llx", static_cast<unsigned long long>(h));
    args["request_id"] = key;
    Track t = Find(calls_, [&](const PastCall& c) { return c.call.name == tool && c.arguments.value("request_id", "") == key; });
    // With a request_id, a timed-out create is safe to send again as it is.
    if (t.last != nullptr && KindOf(*t.last) == ErrorKind::kTimeout && t.failures < kApiOracleMaxTries) {
      plan_.next.emplace_back(tool, args);
      return;
    }
    if (!Settled(t, tool, args, tool, plan_)) return;
    plan_.summary = "created " + s_.noun + " " + Parsed(*t.last).value("id", "?") + " for " + s_.owner + " " +
                    s_.owner_name + " (" + owner + ")";
  }

  bool Fail(std::string why) {
    plan_.failures.push_back(std::move(why));
    return false;
  }

  const ApiStep& s_;
  const std::vector<PastCall>& calls_;
  const workers::PolicyRequest& request_;
  const std::string okey_, idkey_;
  Plan plan_;
};

// What a held-back detail is, in words, for the question.
std::string DetailWords(const ApiStep& s, ApiDetail what) {
  switch (what) {
    case ApiDetail::kOwnerName:
      return "the name of the " + s.owner;
    case ApiDetail::kValue:
      return "the " + s.field + " to set";
    case ApiDetail::kThreshold:
      return "the " + s.above_field + " threshold";
  }
  return "it";
}

// Fills the step's held-back details from the user's answers to earlier ask_user calls
// and plans one question for each detail still unknown. True when none is left. The
// oracle learns a detail only from the user, never from the goal.
bool AskForDetails(ApiStep& step, const std::vector<PastCall>& calls, bool can_ask, Plan& plan) {
  const std::vector<ApiHiddenDetail> hidden = step.hidden;
  for (const ApiHiddenDetail& h : hidden) {
    const std::string placeholder = ApiDetailPlaceholder(h.label);
    if (!can_ask) {
      plan.failures.push_back(placeholder + " is held back and no " + kAskUserTool + " tool is offered");
      continue;
    }
    std::optional<json> value;
    int asked = 0;
    for (const PastCall& c : calls) {
      if (!c.answered || c.call.name != kAskUserTool) continue;
      if (DetailLabelsIn(c.arguments.value("question", "")) != std::vector<int>{h.label}) continue;
      ++asked;
      if (KindOf(c) != ErrorKind::kNone) continue;
      if (Result<json> v = ParseUserReply(c.observation); v.ok()) value = *v;
    }
    if (value) {
      if (Status s = RevealDetail(step, h.label, *value); !s.ok()) plan.failures.push_back(s.message());
    } else if (asked >= kApiOracleMaxTries) {
      plan.failures.push_back("the user did not tell " + placeholder + " after " + std::to_string(asked) + " questions");
    } else {
      plan.next.emplace_back(kAskUserTool, json{{"question", "What is " + placeholder + " (" + DetailWords(step, h.what) + ")?"}});
    }
  }
  return step.hidden.empty() && plan.failures.empty();
}

int MaxSubagents(const workers::ToolSpec& spawn) {
  const json max = spawn.parameters.value("properties", json::object()).value("subagents", json::object()).value("maxItems", json());
  return max.is_number_integer() && max.get<int>() > 0 ? max.get<int>() : kDefaultMaxSubagents;
}

workers::Message Calls(const std::vector<std::pair<std::string, json>>& calls, int turn) {
  std::vector<workers::ToolCall> out;
  for (size_t i = 0; i < calls.size(); ++i) {
    out.push_back({"call_" + std::to_string(turn) + "_" + std::to_string(i + 1), calls[i].first, calls[i].second.dump()});
  }
  return workers::Message::Assistant("", std::move(out));
}

}  // namespace

bool IsApiGoalRequest(const workers::PolicyRequest& request) {
  return request.messages != nullptr && FindApiTask(*request.messages).ok();
}

Result<workers::Message> ApiOracleTurn(const workers::PolicyRequest& request, int max_calls) {
  if (FindSpec(request, workers::kSpawnSubagentsTool) != nullptr) return ApiCoordinatorTurn(request);
  return ApiOperatorTurn(request, max_calls);
}

Result<workers::Message> ApiOperatorTurn(const workers::PolicyRequest& request, int max_calls) {
  if (request.messages == nullptr) return InvalidArgument("api oracle: the request has no messages");
  TIDE_ASSIGN_OR_RETURN(ApiTaskSpec task, FindApiTask(*request.messages));
  const std::vector<PastCall> calls = PastCalls(*request.messages);
  std::vector<std::pair<std::string, json>> next;
  std::vector<std::string> lines;
  size_t done = 0;
  const bool can_ask = FindSpec(request, kAskUserTool) != nullptr;
  for (size_t i = 0; i < task.steps.size(); ++i) {
    ApiStep& step = task.steps[i];
    Plan plan;
    if (step.hidden.empty() || AskForDetails(step, calls, can_ask, plan)) plan = StepPlanner(step, calls, request).Run();
    next.insert(next.end(), plan.next.begin(), plan.next.end());
    if (!plan.failures.empty()) {
      lines.push_back(std::to_string(i + 1) + ". failed: " + Join(plan.failures, "; "));
    } else if (plan.next.empty()) {
      lines.push_back(std::to_string(i + 1) + ". done: " + plan.summary);
      ++done;
    }
  }
  const int turn = AssistantTurns(*request.messages) + 1;
  if (!next.empty()) {
    if (max_calls > 0 && next.size() > static_cast<size_t>(max_calls)) next.resize(static_cast<size_t>(max_calls));
    return Calls(next, turn);
  }
  std::ostringstream o;
  o << done << " of " << task.steps.size() << " steps are done through the API.\n" << Join(lines, "\n");
  return workers::Message::Assistant(o.str());
}

Result<workers::Message> ApiCoordinatorTurn(const workers::PolicyRequest& request) {
  if (request.messages == nullptr) return InvalidArgument("api oracle: the request has no messages");
  TIDE_ASSIGN_OR_RETURN(ApiTaskSpec task, FindApiTask(*request.messages));
  const workers::ToolSpec* spawn = FindSpec(request, workers::kSpawnSubagentsTool);
  if (spawn == nullptr) return InvalidArgument("api oracle: the coordinator needs " + std::string(workers::kSpawnSubagentsTool));
  const int turn = AssistantTurns(*request.messages) + 1;
  std::vector<const PastCall*> spawns;
  std::vector<PastCall> calls = PastCalls(*request.messages);
  for (const PastCall& c : calls) {
    if (c.call.name == workers::kSpawnSubagentsTool && c.answered) spawns.push_back(&c);
  }
  auto spawn_call = [&](const std::vector<workers::SubagentTask>& tasks) {
    return Calls({{workers::kSpawnSubagentsTool, workers::SpawnArguments(tasks)}}, turn);
  };
  if (spawns.empty()) {
    const size_t n = task.steps.size();
    const size_t groups = std::min(n, static_cast<size_t>(MaxSubagents(*spawn)));
    std::vector<workers::SubagentTask> tasks;
    for (size_t g = 0; g < groups; ++g) {
      ApiTaskSpec part{task.description, {}, task.forbidden_tools};
      for (size_t i = g * n / groups; i < (g + 1) * n / groups; ++i) part.steps.push_back(task.steps[i]);
      tasks.push_back({"operator-" + std::to_string(g + 1), FormatApiTask(part), {}});
    }
    return spawn_call(tasks);
  }
  // The latest report of every operator, by name; a retry replaces its first report.
  std::vector<std::pair<std::string, std::string>> reports;  // (operator, result)
  std::vector<workers::SubagentTask> retry;
  for (const PastCall* c : spawns) {
    Result<std::vector<workers::SubagentTask>> sent = workers::ParseSpawnArguments(c->arguments, {});
    Result<std::vector<workers::SubagentReport>> got = workers::ParseSubagentReports(c->observation);
    if (!sent.ok() || !got.ok()) continue;
    retry.clear();
    for (const workers::SubagentReport& r : *got) {
      std::string base = r.name.substr(0, r.name.find("-retry"));
      auto it = std::find_if(reports.begin(), reports.end(), [&](const auto& p) { return p.first == base; });
      if (it == reports.end()) {
        reports.emplace_back(base, r.status + ": " + r.result);
      } else {
        it->second = r.status + ": " + r.result;
      }
      const bool failed = r.status != "finished" || r.result.find(". failed: ") != std::string::npos;
      for (const workers::SubagentTask& t : *sent) {
        if (failed && t.name == r.name) retry.push_back({base + "-retry", t.instructions, t.tools});
      }
    }
  }
  if (!retry.empty() && static_cast<int>(spawns.size()) < kCoordinatorRounds) return spawn_call(retry);
  std::ostringstream o;
  o << "The operators report:\n";
  for (const auto& [name, result] : reports) o << "- " << name << ": " << result << "\n";
  return workers::Message::Assistant(o.str());
}

}  // namespace tide::env
