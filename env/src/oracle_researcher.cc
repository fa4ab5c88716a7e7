// The oracle's researcher role (see oracle.h): search, open the exact-title profile, read.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tide/env/cell_values.h"
#include "tide/env/oracle.h"
#include "tide/env/oracle_context.h"
#include "tide/env/profile_reader.h"
#include "tide/env/research_tools.h"

namespace tide::env {
namespace {

bool Offers(const workers::PolicyRequest& request, const std::string& tool) {
  if (request.tools == nullptr) return false;
  for (const workers::ToolSpec& spec : *request.tools) {
    if (spec.name == tool) return true;
  }
  return false;
}

std::string StringArg(const nlohmann::json& args, const char* name) {
  auto it = args.find(name);
  return it != args.end() && it->is_string() ? it->get<std::string>() : "";
}

// The doc_id of the first hit titled exactly `entity` in a search observation.
std::optional<std::string> ExactHit(const std::string& observation, const std::string& entity) {
  nlohmann::json hits = nlohmann::json::parse(observation, nullptr, /*allow_exceptions=*/false);
  if (!hits.is_array()) return std::nullopt;
  const std::string want = NormalizeText(entity);
  for (const nlohmann::json& h : hits) {
    if (!h.is_object()) continue;
    std::string title = StringArg(h, "title"), id = StringArg(h, "doc_id");
    if (!id.empty() && NormalizeText(title) == want) return id;
  }
  return std::nullopt;
}

// The document text of an open observation ({"title","text"} JSON, or plain text).
std::string DocumentText(const std::string& observation) {
  nlohmann::json doc = nlohmann::json::parse(observation, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object()) {
    auto t = doc.find("text");
    if (t != doc.end() && t->is_string()) return t->get<std::string>();
  }
  return observation;
}

struct EntityProgress {
  std::vector<const PastCall*> searches;  // searches for this entity, in order
  std::optional<std::string> hit;         // exact-title doc_id, once found
  const PastCall* opened = nullptr;       // the open of `hit`
};

workers::ToolCall NewCall(int turn, int k, const std::string& tool, const nlohmann::json& args) {
  return {"call_" + std::to_string(turn) + "_" + std::to_string(k), tool, args.dump()};
}

}  // namespace

Result<workers::Message> OracleResearcherTurn(const workers::PolicyRequest& request, int max_calls) {
  if (request.messages == nullptr) return InvalidArgument("oracle: the request has no messages");
  const std::vector<workers::Message>& messages = *request.messages;
  Result<WideTaskSpec> task = FindWideTask(messages);
  if (!task.ok()) {
    return workers::Message::Assistant("I could not read a wide task in the instructions (" +
                                       task.status().message() + "), so I have no table to report.");
  }
  const bool can_search = Offers(request, kSearchToolName), can_open = Offers(request, kOpenToolName);
  const std::vector<PastCall> calls = PastCalls(messages);

  std::map<std::string, EntityProgress> progress;  // by normalised entity name
  for (const PastCall& c : calls) {
    if (c.call.name == kSearchToolName) {
      progress[NormalizeText(StringArg(c.arguments, "query"))].searches.push_back(&c);
    }
  }
  for (auto& [key, p] : progress) {
    for (const PastCall* s : p.searches) {
      if (!p.hit && s->answered) p.hit = ExactHit(s->observation, key);
    }
  }
  for (const PastCall& c : calls) {
    if (c.call.name != kOpenToolName) continue;
    std::string id = StringArg(c.arguments, "doc_id");
    for (auto& [key, p] : progress) {
      if (p.hit && *p.hit == id && p.opened == nullptr) p.opened = &c;
    }
  }

  const int turn = AssistantTurns(messages) + 1;
  std::vector<workers::ToolCall> next;
  std::map<std::string, nlohmann::json> rows;
  for (const std::string& entity : task->entities) {
    EntityProgress& p = progress[NormalizeText(entity)];
    const int k = static_cast<int>(next.size()) + 1;
    if (p.searches.empty()) {
      if (can_search) next.push_back(NewCall(turn, k, kSearchToolName, {{"query", entity}}));
    } else if (!p.hit) {
      if (can_search && p.searches.size() < 2) {
        next.push_back(NewCall(turn, k, kSearchToolName, {{"query", entity}, {"limit", kSearchMaxLimit}}));
      }
    } else if (p.opened == nullptr) {
      if (can_open) next.push_back(NewCall(turn, k, kOpenToolName, {{"doc_id", *p.hit}}));
    } else if (p.opened->answered) {
      const std::string text = DocumentText(p.opened->observation);
      nlohmann::json row = nlohmann::json::object();
      for (const std::string& column : task->columns) row[column] = ReadAttribute(text, entity, column);
      rows[entity] = std::move(row);
    }
  }
  if (max_calls > 0 && static_cast<int>(next.size()) > max_calls) next.resize(static_cast<size_t>(max_calls));
  if (!next.empty()) return workers::Message::Assistant("", std::move(next));
  return workers::Message::Assistant(FormatAnswerTable(*task, rows));
}

}  // namespace tide::env
