// The "research" world: a seeded collection of fictional organisations and documents about
// them (corpus.h), searched and read through the `search` and `open` tools
// (research_tools.h). Families lookup, multi-hop and aggregate run over a deeper world
// (organisations, people, cities, relations, a `lookup` tool): see question_episode.h;
// Reset dispatches to them. Task family "wide" (the default): report 1..6 attribute columns
// (default 2, chosen by the seed) for `items` distinct organisations; the prompt is
// FormatWideTask's layout (wide_task.h) and answers are scored by VerifyTable.
//
// TaskParams as this world reads them: items 1..200; columns 0 (= 2) or 1..6;
// distractors -1 (= items) or 0..1000: the number of near-name organisations (each with
// its own profile) and, as many again, news documents mentioning organisations with
// other numbers. The corpus holds max(3 * items, 60) organisations besides those.
//
// Thread safety: ResearchWorld is stateless; a ResearchEpisode is immutable once built and
// its tools and Verify may be used from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tide/env/research_tools.h"
#include "tide/env/table_verifier.h"
#include "tide/env/world.h"

namespace tide::env {

inline constexpr char kResearchWorldName[] = "research";
inline constexpr char kWideFamily[] = "wide";
inline constexpr int kMaxItems = 200;
inline constexpr int kDefaultColumns = 2;
inline constexpr int kMaxDistractors = 1000;

class ResearchEpisode : public Episode {
 public:
  ResearchEpisode(std::shared_ptr<const IndexedCorpus> corpus, std::vector<std::string> columns);

  std::string world() const override { return kResearchWorldName; }
  std::string family() const override { return kWideFamily; }
  std::string prompt() const override;
  nlohmann::json public_task() const override;
  std::vector<std::shared_ptr<workers::Tool>> tools() const override { return tools_; }
  Verdict Verify(const std::string& answer_text) const override;

  // For tests and data checks; not shown to agents.
  const Corpus& corpus() const { return corpus_->corpus; }
  const GoldTable& gold() const { return gold_; }
  std::string GoldAnswer() const;  // a perfect answer: the gold table in a ```json block

 private:
  std::shared_ptr<const IndexedCorpus> corpus_;
  std::vector<std::string> columns_;
  std::vector<std::string> entities_;
  GoldTable gold_;
  std::vector<std::shared_ptr<workers::Tool>> tools_;
};

class ResearchWorld : public World {
 public:
  std::string name() const override { return kResearchWorldName; }
  std::string description() const override;
  std::vector<std::string> task_families() const override;
  Result<std::unique_ptr<Episode>> Reset(const TaskParams& params) const override;
  // Reset of the wide family with the concrete type (tests and tools that need the ground
  // truth); the question families are ResetQuestion's (question_episode.h).
  Result<std::unique_ptr<ResearchEpisode>> ResetResearch(const TaskParams& params) const;
};

}  // namespace tide::env
