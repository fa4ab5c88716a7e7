#include "tide/env/research_world.h"

#include <algorithm>

#include "tide/env/question_episode.h"
#include "tide/env/research_schema.h"
#include "tide/env/seeded_random.h"
#include "tide/env/wide_task.h"

namespace tide::env {
namespace {

constexpr char kRubric[] =
    "Rows are aligned on \"entity\" (case and spacing ignored). Each cell is checked by type: strings "
    "exactly after normalising case and spacing; integers exactly; numbers within a relative 1e-3; dates "
    "as calendar days. item_f1 is the F1 of correct cells over answered and expected cells; the answer "
    "succeeds when every cell is right and no extra rows are given.";

nlohmann::json CellJson(CellType type, const std::string& canonical) {
  if (type == CellType::kString || type == CellType::kDate) return canonical;
  return CellFromText(type, canonical);
}

}  // namespace

ResearchEpisode::ResearchEpisode(std::shared_ptr<const IndexedCorpus> corpus, std::vector<std::string> columns)
    : corpus_(std::move(corpus)), columns_(std::move(columns)) {
  const Corpus& c = corpus_->corpus;
  for (const std::string& name : columns_) {
    gold_.columns.push_back({name, FindResearchAttribute(name)->type});
  }
  for (int e : c.task_entities) {
    const Entity& entity = c.entities[static_cast<size_t>(e)];
    entities_.push_back(entity.name);
    gold_.keys.push_back(entity.name);
    std::vector<std::string> row;
    for (const std::string& name : columns_) {
      row.push_back(entity.values[static_cast<size_t>(ResearchAttributeIndex(name))]);
    }
    gold_.cells.push_back(std::move(row));
  }
  tools_ = {MakeSearchTool(corpus_), MakeOpenTool(corpus_)};
}

std::string ResearchEpisode::prompt() const {
  return "You are researching fictional organisations in a private document collection. Use the search "
         "and open tools; each organisation has a profile document titled with its exact name.\n\n" +
         FormatWideTask(entities_, columns_);
}

nlohmann::json ResearchEpisode::public_task() const {
  nlohmann::json columns = nlohmann::json::array();
  for (const GoldColumn& c : gold_.columns) {
    columns.push_back({{"name", c.name},
                       {"type", CellTypeName(c.type)},
                       {"description", FindResearchAttribute(c.name)->description}});
  }
  return {{"world", kResearchWorldName}, {"family", kWideFamily},   {"items", entities_.size()},
          {"key", kEntityKey},           {"entities", entities_},   {"columns", columns},
          {"rubric", kRubric},           {"documents", corpus_->corpus.documents.size()}};
}

Verdict ResearchEpisode::Verify(const std::string& answer_text) const { return VerifyTable(gold_, answer_text); }

std::string ResearchEpisode::GoldAnswer() const {
  nlohmann::json rows = nlohmann::json::array();
  for (size_t r = 0; r < gold_.keys.size(); ++r) {
    nlohmann::json row = {{kEntityKey, gold_.keys[r]}};
    for (size_t c = 0; c < gold_.columns.size(); ++c) {
      row[gold_.columns[c].name] = CellJson(gold_.columns[c].type, gold_.cells[r][c]);
    }
    rows.push_back(std::move(row));
  }
  return "```json\n" + rows.dump(1) + "\n```";
}

std::string ResearchWorld::description() const {
  return "Fictional organisations and documents about them (profiles, near-name look-alikes, news); tools "
         "search and open; family \"wide\": report attribute columns for many organisations as a table. "
         "Families \"lookup\", \"multi-hop\" and \"aggregate\": one value about organisations, people and "
         "cities linked by relations, with conflicting archive items and a partial lookup tool.";
}

std::vector<std::string> ResearchWorld::task_families() const {
  return {kWideFamily, kLookupFamily, kMultiHopFamily, kAggregateFamily};
}

Result<std::unique_ptr<ResearchEpisode>> ResearchWorld::ResetResearch(const TaskParams& params) const {
  if (!params.family.empty() && params.family != kWideFamily) {
    std::string known;
    for (const std::string& f : task_families()) known += (known.empty() ? "" : ", ") + f;
    return InvalidArgument("family: unknown task family \"" + params.family + "\" for world \"" +
                           kResearchWorldName + "\" (known: " + known + ")");
  }
  if (params.items < 1 || params.items > kMaxItems) {
    return InvalidArgument("items must be in 1.." + std::to_string(kMaxItems) + ", got " +
                           std::to_string(params.items));
  }
  const int attrs = static_cast<int>(ResearchAttributes().size());
  if (params.columns < 0 || params.columns > attrs) {
    return InvalidArgument("columns must be 0 (default " + std::to_string(kDefaultColumns) + ") or 1.." +
                           std::to_string(attrs) + ", got " + std::to_string(params.columns));
  }
  if (params.distractors < -1 || params.distractors > kMaxDistractors) {
    return InvalidArgument("distractors must be -1 (default) or 0.." + std::to_string(kMaxDistractors) +
                           ", got " + std::to_string(params.distractors));
  }
  SeededRandom rng(params.seed);
  CorpusOptions options;
  options.task_entities = params.items;
  options.base_entities = std::max(3 * params.items, 60);
  options.near_names = params.distractors < 0 ? params.items : params.distractors;
  options.news = options.near_names;
  auto corpus = std::make_shared<const IndexedCorpus>(GenerateCorpus(rng, options));

  const int ncol = params.columns == 0 ? kDefaultColumns : params.columns;
  std::vector<size_t> picked = rng.Sample(ResearchAttributes().size(), static_cast<size_t>(ncol));
  std::sort(picked.begin(), picked.end());
  std::vector<std::string> columns;
  for (size_t i : picked) columns.push_back(ResearchAttributes()[i].name);
  return std::make_unique<ResearchEpisode>(std::move(corpus), std::move(columns));
}

Result<std::unique_ptr<Episode>> ResearchWorld::Reset(const TaskParams& params) const {
  if (IsQuestionFamily(params.family)) {
    TIDE_ASSIGN_OR_RETURN(std::unique_ptr<QuestionEpisode> episode, ResetQuestion(params));
    return std::unique_ptr<Episode>(std::move(episode));
  }
  TIDE_ASSIGN_OR_RETURN(std::unique_ptr<ResearchEpisode> episode, ResetResearch(params));
  return std::unique_ptr<Episode>(std::move(episode));
}

}  // namespace tide::env
