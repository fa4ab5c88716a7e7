// The research world's question families over its knowledge graph (research_graph.h),
// with the tools search, open and lookup:
//   lookup:    one field of one entity (organisation, person or city); exact;
//   multi-hop: follow `hops` relations (2..4, default 3) from an organisation, then one
//              field of the entity reached; exact;
//   aggregate: sum / average / max / min / earliest / latest / count over `items`
//              organisations; numbers within a relative 1e-4 or an absolute 0.01.
// The prompt says which source wins when sources disagree (the official profile, titled
// exactly with the entity's name; archive items may be outdated).
//
// TaskParams: items 1..200 (lookup, multi-hop: organisations in the world, at least 20;
// aggregate: the organisations aggregated, the world holding twice as many); hops as
// above (0 = default; lookup and aggregate take none); columns must be 0; distractors -1
// (default: 6, or items/2 when larger) or 0..1000: near-name look-alikes, and as many
// outdated archive items, of the entities the question touches first.
//
// Thread safety: an episode is immutable once built; its tools and Verify may be used from
// any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tide/env/question_task.h"
#include "tide/env/research_graph.h"
#include "tide/env/research_tools.h"
#include "tide/env/scalar_answer.h"
#include "tide/env/world.h"

namespace tide::env {

inline constexpr int kDefaultHops = 3;
inline constexpr int kMinHops = 2;
inline constexpr int kMaxHops = 4;
inline constexpr double kAggregateRelativeTolerance = 1e-4;
inline constexpr double kAggregateAbsoluteTolerance = 0.01;

class QuestionEpisode : public Episode {
 public:
  QuestionEpisode(std::shared_ptr<const KnowledgeGraph> graph, QuestionSpec spec, ScalarGold gold);

  std::string world() const override;
  std::string family() const override { return spec_.family; }
  std::string prompt() const override;
  nlohmann::json public_task() const override;
  std::vector<std::shared_ptr<workers::Tool>> tools() const override { return tools_; }
  Verdict Verify(const std::string& answer_text) const override { return VerifyScalar(gold_, answer_text); }

  // For tests and data checks; not shown to agents.
  const KnowledgeGraph& graph() const { return *graph_; }
  const QuestionSpec& spec() const { return spec_; }
  const ScalarGold& gold() const { return gold_; }
  std::string GoldAnswer() const { return FormatScalarAnswer(ScalarJson(gold_)); }

 private:
  std::shared_ptr<const KnowledgeGraph> graph_;
  QuestionSpec spec_;
  ScalarGold gold_;
  std::vector<std::shared_ptr<workers::Tool>> tools_;
};

// True for lookup, multi-hop and aggregate.
bool IsQuestionFamily(const std::string& family);

// INVALID_ARGUMENT naming the bad param (see above).
Result<std::unique_ptr<QuestionEpisode>> ResetQuestion(const TaskParams& params);

}  // namespace tide::env
