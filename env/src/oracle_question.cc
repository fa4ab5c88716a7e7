// The oracle's turns for the research world's question families (oracle_families.h).
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "oracle_family_util.h"
#include "tide/env/answer_table.h"
#include "tide/env/cell_values.h"
#include "tide/env/graph_schema.h"
#include "tide/env/lookup_tool.h"
#include "tide/env/oracle.h"
#include "tide/env/oracle_families.h"
#include "tide/env/profile_reader.h"
#include "tide/env/question_task.h"
#include "tide/env/research_tools.h"
#include "tide/env/scalar_answer.h"
#include "tide/env/wide_task.h"

namespace tide::env {
namespace {

using family_util::NewCall;
using family_util::StringArg;

// What the calls so far say about one entity.
struct EntityState {
  const PastCall* lookup = nullptr;
  std::vector<const PastCall*> searches;
  std::optional<std::string> hit;  // exact-title doc_id
  const PastCall* opened = nullptr;
};

class Progress {
 public:
  explicit Progress(const std::vector<PastCall>& calls) {
    for (const PastCall& c : calls) {
      if (c.call.name == kLookupToolName) {
        EntityState& s = state_[NormalizeText(StringArg(c.arguments, "entity"))];
        if (s.lookup == nullptr) s.lookup = &c;
      } else if (c.call.name == kSearchToolName) {
        state_[NormalizeText(StringArg(c.arguments, "query"))].searches.push_back(&c);
      }
    }
    for (auto& [key, s] : state_) {
      for (const PastCall* c : s.searches) {
        if (!s.hit && c->answered) s.hit = ExactHit(c->observation, key);
      }
    }
    for (const PastCall& c : calls) {
      if (c.call.name != kOpenToolName) continue;
      const std::string id = StringArg(c.arguments, "doc_id");
      for (auto& [key, s] : state_) {
        if (s.hit && *s.hit == id && s.opened == nullptr) s.opened = &c;
      }
    }
  }

  // The field's value: a JSON value when known, null when it cannot be found; nullopt
  // while a call is still needed (then *next is that call, or empty when it is pending).
  std::optional<nlohmann::json> Resolve(const std::string& entity, const std::string& field,
                                        std::optional<std::pair<std::string, nlohmann::json>>* next) {
    EntityState& s = state_[NormalizeText(entity)];
    next->reset();
    if (s.lookup == nullptr) {
      *next = {{kLookupToolName, {{"entity", entity}}}};
      return std::nullopt;
    }
    if (!s.lookup->answered) return std::nullopt;
    nlohmann::json record = nlohmann::json::parse(s.lookup->observation, nullptr, false);
    if (record.is_object() && record.contains("fields") && record["fields"].is_object()) {
      auto v = record["fields"].find(field);
      if (v != record["fields"].end() && !v->is_null()) return *v;
    }
    if (s.searches.empty()) {
      *next = {{kSearchToolName, {{"query", entity}}}};
      return std::nullopt;
    }
    if (!s.hit) {
      if (s.searches.size() < 2) {
        if (s.searches.back()->answered) *next = {{kSearchToolName, {{"query", entity}, {"limit", kSearchMaxLimit}}}};
        return std::nullopt;
      }
      return s.searches.back()->answered ? std::optional<nlohmann::json>(nullptr) : std::nullopt;
    }
    if (s.opened == nullptr) {
      *next = {{kOpenToolName, {{"doc_id", *s.hit}}}};
      return std::nullopt;
    }
    if (!s.opened->answered) return std::nullopt;
    const GraphField* f = FindGraphField(field);
    if (f == nullptr) return nlohmann::json();
    std::optional<std::string> raw = ReadTemplatedText(DocumentText(s.opened->observation), entity, f->templates);
    if (!raw) return nlohmann::json();
    return CellFromText(f->relation ? CellType::kString : f->type, *raw);
  }

 private:
  static std::optional<std::string> ExactHit(const std::string& observation, const std::string& key) {
    nlohmann::json hits = nlohmann::json::parse(observation, nullptr, false);
    if (!hits.is_array()) return std::nullopt;
    for (const nlohmann::json& h : hits) {
      if (!h.is_object()) continue;
      const std::string id = StringArg(h, "doc_id");
      if (!id.empty() && NormalizeText(StringArg(h, "title")) == key) return id;
    }
    return std::nullopt;
  }

  static std::string DocumentText(const std::string& observation) {
    nlohmann::json doc = nlohmann::json::parse(observation, nullptr, false);
    if (doc.is_object() && doc.contains("text") && doc["text"].is_string()) return doc["text"].get<std::string>();
    return observation;
  }

  std::map<std::string, EntityState> state_;
};

std::string ValueText(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// The operation over the values found (nulls are values not found and are skipped).
nlohmann::json Aggregate(const QuestionSpec& q, const std::vector<nlohmann::json>& values) {
  if (q.operation == "count") {
    int64_t n = 0;
    for (const nlohmann::json& v : values) n += !v.is_null() && NormalizeText(ValueText(v)) == NormalizeText(q.condition);
    return n;
  }
  if (q.operation == "earliest" || q.operation == "latest") {
    std::vector<std::string> dates;
    for (const nlohmann::json& v : values) {
      if (std::optional<std::string> d = v.is_null() ? std::nullopt : NormalizeDate(ValueText(v))) dates.push_back(*d);
    }
    if (dates.empty()) return nullptr;
    return q.operation == "earliest" ? *std::min_element(dates.begin(), dates.end())
                                     : *std::max_element(dates.begin(), dates.end());
  }
  std::vector<double> nums;
  for (const nlohmann::json& v : values) {
    if (std::optional<double> d = v.is_null() ? std::nullopt : ParseNumberText(ValueText(v))) nums.push_back(*d);
  }
  if (nums.empty()) return nullptr;
  double sum = 0;
  for (double x : nums) sum += x;
  if (q.operation == "sum") return sum;
  if (q.operation == "average") return sum / static_cast<double>(nums.size());
  return q.operation == "max" ? *std::max_element(nums.begin(), nums.end()) : *std::min_element(nums.begin(), nums.end());
}

Result<workers::Message> ResearcherTurn(const QuestionSpec& q, const workers::PolicyRequest& request, int max_calls) {
  const std::vector<workers::Message>& messages = *request.messages;
  const std::vector<PastCall> calls = PastCalls(messages);  // Progress points into it
  Progress progress(calls);
  const int turn = AssistantTurns(messages) + 1;
  std::vector<workers::ToolCall> next;
  std::optional<std::pair<std::string, nlohmann::json>> call;
  auto add = [&] {
    if (call && family_util::Offers(request, call->first)) {
      next.push_back(NewCall(turn, static_cast<int>(next.size()) + 1, call->first, call->second));
    }
  };
  bool pending = false;
  nlohmann::json answer;
  if (q.family == kAggregateFamily) {
    std::vector<nlohmann::json> values;
    for (const std::string& e : q.entities) {
      std::optional<nlohmann::json> v = progress.Resolve(e, q.attribute, &call);
      if (!v) {
        pending = true;
        add();
      }
      values.push_back(v.value_or(nullptr));
    }
    answer = Aggregate(q, values);
  } else {
    std::string at = q.entity;
    std::vector<std::string> fields = q.path;
    fields.push_back(q.attribute);
    for (size_t i = 0; i < fields.size(); ++i) {
      std::optional<nlohmann::json> v = progress.Resolve(at, fields[i], &call);
      if (!v) {
        pending = true;
        add();
        break;
      }
      if (v->is_null() || i + 1 == fields.size()) {
        answer = *v;
        break;
      }
      at = ValueText(*v);
    }
  }
  if (max_calls > 0 && static_cast<int>(next.size()) > max_calls) next.resize(static_cast<size_t>(max_calls));
  if (!next.empty()) return workers::Message::Assistant("", std::move(next));
  if (pending) return workers::Message::Assistant("I could not make the calls this task needs with the tools offered.\n" +
                                                  FormatScalarAnswer(nullptr));
  return workers::Message::Assistant(FormatScalarAnswer(answer));
}

Result<workers::Message> CoordinatorTurn(const QuestionSpec& q, const std::string& task_text,
                                         const workers::PolicyRequest& request) {
  const std::vector<workers::Message>& messages = *request.messages;
  int spawns = 0;
  std::vector<workers::SubagentReport> reports = family_util::SpawnReports(PastCalls(messages), &spawns);
  const int turn = AssistantTurns(messages) + 1;
  std::vector<workers::SubagentTask> tasks;
  nlohmann::json answer;
  if (q.family == kAggregateFamily) {
    std::map<std::string, nlohmann::json> found;  // normalised entity -> value
    for (const workers::SubagentReport& r : reports) {
      Result<nlohmann::json> rows = ExtractJsonTable(r.result, kEntityKey);
      if (!rows.ok()) continue;
      for (const nlohmann::json& row : *rows) {
        const nlohmann::json* key = FindField(row, kEntityKey);
        const nlohmann::json* v = FindField(row, q.attribute);
        if (key != nullptr && key->is_string() && v != nullptr && !v->is_null()) {
          found.emplace(NormalizeText(key->get<std::string>()), *v);
        }
      }
    }
    std::vector<std::string> missing;
    std::vector<nlohmann::json> values;
    for (const std::string& e : q.entities) {
      auto it = found.find(NormalizeText(e));
      if (it == found.end()) missing.push_back(e);
      values.push_back(it == found.end() ? nlohmann::json() : it->second);
    }
    if (!missing.empty() && spawns < kOracleSpawnRounds) {
      const size_t groups = std::min<size_t>(missing.size(), static_cast<size_t>(family_util::SpawnCap(request)));
      for (size_t g = 0; g < groups; ++g) {
        const size_t begin = missing.size() * g / groups, end = missing.size() * (g + 1) / groups;
        std::vector<std::string> part(missing.begin() + static_cast<std::ptrdiff_t>(begin),
                                      missing.begin() + static_cast<std::ptrdiff_t>(end));
        tasks.push_back({"researcher-" + std::to_string(turn) + "-" + std::to_string(g + 1),
                         FormatWideSubtask(part, {q.attribute}),
                         {kSearchToolName, kOpenToolName}});
      }
    } else {
      answer = Aggregate(q, values);
    }
  } else {
    return family_util::DelegateWholeTask(task_text, request);
  }
  if (!tasks.empty()) {
    return workers::Message::Assistant(
        "", {NewCall(turn, 1, workers::kSpawnSubagentsTool, workers::SpawnArguments(tasks))});
  }
  return workers::Message::Assistant(FormatScalarAnswer(answer));
}

}  // namespace

std::optional<Result<workers::Message>> OracleQuestionTurn(const workers::PolicyRequest& request, int max_calls) {
  if (request.messages == nullptr) return std::nullopt;
  const std::string text = family_util::FirstUserText(*request.messages);
  Result<QuestionSpec> q = ParseQuestionTask(text);
  if (!q.ok()) return std::nullopt;
  if (family_util::Offers(request, workers::kSpawnSubagentsTool)) return CoordinatorTurn(*q, text, request);
  return ResearcherTurn(*q, request, max_calls);
}

std::optional<Result<workers::Message>> OracleFamilyTurn(const workers::PolicyRequest& request, int max_calls) {
  if (std::optional<Result<workers::Message>> r = OracleQuestionTurn(request, max_calls)) return r;
  return OracleComputeTurn(request, max_calls);
}

}  // namespace tide::env
