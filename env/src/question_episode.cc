#include "tide/env/question_episode.h"

#include <algorithm>
#include <cstdio>

#include "tide/env/lookup_tool.h"
#include "tide/env/research_world.h"

namespace tide::env {
namespace {

constexpr int kDefaultQuestionDistractors = 6;

const char* Rubric(const std::string& family) {
  if (family == kAggregateFamily) {
    return "One value: the operation over the organisations listed. Numbers are right within a relative 1e-4 "
           "or an absolute 0.01, integers (count) exactly, dates as calendar days. When sources disagree, the "
           "official profile (titled exactly with the entity's name) wins over archive items.";
  }
  return "One value, checked exactly: names after normalising case and spacing, integers exactly, numbers "
         "within a relative 1e-3, dates as calendar days. When sources disagree, the official profile (titled "
         "exactly with the entity's name) wins over archive items.";
}

nlohmann::json ToolPattern(const QuestionSpec& q) {
  if (q.family == kAggregateFamily) {
    return {"for each organisation: lookup(name); where the field is missing, search(name) and open the "
            "exact-title profile (parallel calls)",
            "compute the " + q.operation + " of the values and answer"};
  }
  nlohmann::json steps = nlohmann::json::array();
  std::string at = q.entity;
  for (const std::string& rel : q.path) {
    steps.push_back("lookup or search+open the profile of the current entity, read its " + rel + "; continue from it");
  }
  steps.push_back("read " + q.attribute + " from lookup(entity), or from its exact-title profile when missing");
  steps.push_back("answer with {\"answer\": value}");
  return steps;
}

std::string Number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6f", v);
  return buf;
}

// The gold answer of an aggregate over `members`.
ScalarGold AggregateGold(const KnowledgeGraph& g, const QuestionSpec& q, const std::vector<int>& members) {
  ScalarGold gold;
  gold.type = QuestionAnswerType(q);
  gold.relative_tolerance = kAggregateRelativeTolerance;
  gold.absolute_tolerance = kAggregateAbsoluteTolerance;
  std::vector<std::string> texts;
  for (int m : members) texts.push_back(g.entities[static_cast<size_t>(m)].values.at(q.attribute));
  if (q.operation == "count") {
    gold.value = std::to_string(std::count(texts.begin(), texts.end(), q.condition));
  } else if (q.operation == "earliest") {
    gold.value = *std::min_element(texts.begin(), texts.end());  // ISO dates sort as text
  } else if (q.operation == "latest") {
    gold.value = *std::max_element(texts.begin(), texts.end());
  } else {
    std::vector<double> v;
    for (const std::string& t : texts) v.push_back(*ParseNumberText(t));
    double sum = 0;
    for (double x : v) sum += x;
    if (q.operation == "sum") gold.value = Number(sum);
    if (q.operation == "average") gold.value = Number(sum / static_cast<double>(v.size()));
    auto pick = q.operation == "max" ? std::max_element(v.begin(), v.end()) : std::min_element(v.begin(), v.end());
    if (q.operation == "max" || q.operation == "min") gold.value = texts[static_cast<size_t>(pick - v.begin())];
  }
  return gold;
}

// A walk of `hops` relations from an organisation through distinct entities; the visited
// entities (start first) in `visited`. False when the graph has no such walk from `start`.
bool Walk(SeededRandom& rng, const KnowledgeGraph& g, int start, int hops, std::vector<std::string>* path,
          std::vector<int>* visited) {
  path->clear();
  *visited = {start};
  int at = start;
  for (int h = 0; h < hops; ++h) {
    std::vector<std::pair<std::string, int>> options;
    for (const auto& [field, target] : g.entities[static_cast<size_t>(at)].links) {
      if (std::find(visited->begin(), visited->end(), target) == visited->end()) options.push_back({field, target});
    }
    if (options.empty()) return false;
    const auto& [field, target] = options[rng.Below(options.size())];
    path->push_back(field);
    visited->push_back(target);
    at = target;
  }
  return true;
}

}  // namespace

QuestionEpisode::QuestionEpisode(std::shared_ptr<const KnowledgeGraph> graph, QuestionSpec spec, ScalarGold gold)
    : graph_(std::move(graph)), spec_(std::move(spec)), gold_(std::move(gold)) {
  Corpus corpus;
  corpus.documents = graph_->documents;
  auto indexed = std::make_shared<const IndexedCorpus>(std::move(corpus));
  tools_ = {MakeSearchTool(indexed), MakeOpenTool(indexed), MakeLookupTool(graph_)};
}

std::string QuestionEpisode::world() const { return kResearchWorldName; }

std::string QuestionEpisode::prompt() const {
  return "You are researching fictional organisations, people and cities in a private document collection and "
         "a partial lookup database. Use the search, open and lookup tools. Each entity has an official profile "
         "titled with its exact name; when sources disagree, the official profile wins (archive items may be "
         "out of date).\n\n" +
         FormatQuestionTask(spec_);
}

nlohmann::json QuestionEpisode::public_task() const {
  nlohmann::json t = {{"world", kResearchWorldName},
                      {"family", spec_.family},
                      {"question", QuestionSentence(spec_)},
                      {"attribute", spec_.attribute},
                      {"answer_type", CellTypeName(gold_.type)},
                      {"documents", graph_->documents.size()},
                      {"rubric",
                       {{"criteria", Rubric(spec_.family)},
                        {"expected_tool_pattern", ToolPattern(spec_)},
                        {"tools", {kSearchToolName, kOpenToolName, kLookupToolName}}}}};
  if (spec_.family == kAggregateFamily) {
    t["operation"] = spec_.operation;
    t["entities"] = spec_.entities;
    t["items"] = spec_.entities.size();
    if (!spec_.condition.empty()) t["condition"] = spec_.condition;
  } else {
    t["entity"] = spec_.entity;
    t["path"] = spec_.path;
    t["hops"] = spec_.path.size();
  }
  return t;
}

bool IsQuestionFamily(const std::string& family) {
  return family == kLookupFamily || family == kMultiHopFamily || family == kAggregateFamily;
}

Result<std::unique_ptr<QuestionEpisode>> ResetQuestion(const TaskParams& params) {
  const std::string& family = params.family;
  if (!IsQuestionFamily(family)) return InvalidArgument("family: \"" + family + "\" is not a question family");
  if (params.items < 1 || params.items > kMaxItems) {
    return InvalidArgument("items must be in 1.." + std::to_string(kMaxItems) + ", got " + std::to_string(params.items));
  }
  if (params.columns != 0) {
    return InvalidArgument("columns: the " + family + " family has no columns (must be 0), got " +
                           std::to_string(params.columns));
  }
  if (params.distractors < -1 || params.distractors > kMaxDistractors) {
    return InvalidArgument("distractors must be -1 (default) or 0.." + std::to_string(kMaxDistractors) + ", got " +
                           std::to_string(params.distractors));
  }
  int hops = 0;
  if (family == kMultiHopFamily) {
    hops = params.hops == 0 ? kDefaultHops : params.hops;
    if (hops < kMinHops || hops > kMaxHops) {
      return InvalidArgument("hops must be 0 (default " + std::to_string(kDefaultHops) + ") or " +
                             std::to_string(kMinHops) + ".." + std::to_string(kMaxHops) + ", got " +
                             std::to_string(params.hops));
    }
  } else if (params.hops != 0) {
    return InvalidArgument("hops: the " + family + " family has no hops (must be 0), got " + std::to_string(params.hops));
  }

  SeededRandom rng(params.seed);
  const bool aggregate = family == kAggregateFamily;
  GraphOptions options;
  options.organisations = std::max(aggregate ? 2 * params.items : params.items, 20);
  options.people = options.organisations / 2 + 5;
  options.cities = options.organisations / 4 + 5;
  auto graph = std::make_shared<KnowledgeGraph>(GenerateGraph(rng, options));
  const std::vector<int> orgs = graph->OfKind(EntityKind::kOrganisation);

  QuestionSpec q;
  q.family = family;
  std::vector<int> touched;
  ScalarGold gold;
  if (family == kLookupFamily) {
    const uint64_t k = rng.Below(4);  // half organisations, a quarter each people and cities
    const EntityKind kind = k < 2 ? EntityKind::kOrganisation : k == 2 ? EntityKind::kPerson : EntityKind::kCity;
    const int e = rng.Pick(graph->OfKind(kind));
    const GraphEntity& entity = graph->entities[static_cast<size_t>(e)];
    std::vector<std::string> fields;
    for (const auto& [field, value] : entity.values) fields.push_back(field);
    q.entity = entity.name;
    q.attribute = rng.Pick(fields);
    touched = {e};
  } else if (family == kMultiHopFamily) {
    std::vector<int> visited;
    bool found = false;
    for (int attempt = 0; attempt < 200 && !found; ++attempt) {
      found = Walk(rng, *graph, rng.Pick(orgs), hops, &q.path, &visited);
    }
    if (!found) return Internal("multi-hop: no walk of " + std::to_string(hops) + " relations in the graph");
    const GraphEntity& last = graph->entities[static_cast<size_t>(visited.back())];
    std::vector<std::string> attrs;
    for (const GraphField* f : FieldsOf(last.kind)) {
      if (!f->relation) attrs.push_back(f->name);
    }
    q.entity = graph->entities[static_cast<size_t>(visited.front())].name;
    q.attribute = rng.Pick(attrs);
    touched = visited;
  } else {
    for (size_t i : rng.Sample(orgs.size(), static_cast<size_t>(params.items))) touched.push_back(orgs[i]);
    q.operation = rng.Pick(AggregateOperations());
    if (q.operation == "count") {
      q.attribute = "sector";
      q.condition = graph->entities[static_cast<size_t>(rng.Pick(touched))].values.at("sector");
    } else if (q.operation == "earliest" || q.operation == "latest") {
      q.attribute = "founded";
    } else {
      q.attribute = rng.Chance(1, 2) ? "employees" : "revenue";
    }
    for (int e : touched) q.entities.push_back(graph->entities[static_cast<size_t>(e)].name);
    gold = AggregateGold(*graph, q, touched);
  }
  if (!aggregate) {
    const GraphEntity& last = graph->entities[static_cast<size_t>(touched.back())];
    gold.type = QuestionAnswerType(q);
    gold.value = last.values.at(q.attribute);
  }
  const int distractors = params.distractors >= 0 ? params.distractors
                                                  : std::max(kDefaultQuestionDistractors, params.items / 2);
  AddDistractors(rng, *graph, touched, distractors, distractors);
  BuildDocuments(rng, *graph);
  return std::make_unique<QuestionEpisode>(std::move(graph), std::move(q), std::move(gold));
}

}  // namespace tide::env
