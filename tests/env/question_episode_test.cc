#include "tide/env/question_episode.h"

#include <gtest/gtest.h>

#include "tide/env/lookup_tool.h"
#include "tide/env/research_world.h"

namespace tide::env {
namespace {

std::unique_ptr<QuestionEpisode> Reset(const std::string& family, uint64_t seed, int items = 20, int hops = 0,
                                       int distractors = -1) {
  TaskParams p;
  p.family = family;
  p.seed = seed;
  p.items = items;
  p.hops = hops;
  p.distractors = distractors;
  Result<std::unique_ptr<QuestionEpisode>> e = ResetQuestion(p);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

TEST(QuestionEpisodeTest, SameSeedSameWorldTaskAndAnswer) {
  for (const char* family : {kLookupFamily, kMultiHopFamily, kAggregateFamily}) {
    auto a = Reset(family, 11), b = Reset(family, 11);
    EXPECT_EQ(a->prompt(), b->prompt()) << family;
    EXPECT_EQ(a->public_task(), b->public_task()) << family;
    EXPECT_EQ(a->GoldAnswer(), b->GoldAnswer()) << family;
    ASSERT_EQ(a->graph().documents.size(), b->graph().documents.size());
    for (size_t i = 0; i < a->graph().documents.size(); ++i) {
      EXPECT_EQ(a->graph().documents[i].text, b->graph().documents[i].text);
    }
    EXPECT_NE(Reset(family, 12)->prompt(), a->prompt()) << family;
  }
}

TEST(QuestionEpisodeTest, PromptParsesBackAndTheTaskCarriesARubric) {
  for (const char* family : {kLookupFamily, kMultiHopFamily, kAggregateFamily}) {
    auto e = Reset(family, 3, 8);
    Result<QuestionSpec> q = ParseQuestionTask(e->prompt());
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    EXPECT_EQ(q->family, family);
    EXPECT_EQ(q->attribute, e->spec().attribute);
    EXPECT_EQ(q->path, e->spec().path);
    EXPECT_EQ(q->entities, e->spec().entities);
    nlohmann::json t = e->public_task();
    EXPECT_EQ(t["world"], "research");
    EXPECT_EQ(t["family"], family);
    EXPECT_TRUE(t["rubric"]["criteria"].is_string());
    EXPECT_FALSE(t["rubric"]["expected_tool_pattern"].empty());
    EXPECT_EQ(e->tools().size(), 3u);
    EXPECT_EQ(e->tools()[2]->spec().name, kLookupToolName);
    if (e->gold().type == CellType::kString) {
      EXPECT_EQ(t.dump().find(e->gold().value), std::string::npos) << "the task leaks the answer";
    }
  }
}

TEST(QuestionEpisodeTest, MultiHopFollowsTheRelationsOfTheGraph) {
  for (int hops : {2, 3, 4}) {
    for (uint64_t seed = 1; seed <= 10; ++seed) {
      auto e = Reset(kMultiHopFamily, seed, 20, hops);
      ASSERT_EQ(e->spec().path.size(), static_cast<size_t>(hops));
      const KnowledgeGraph& g = e->graph();
      int at = g.Find(e->spec().entity);
      ASSERT_GE(at, 0);
      for (const std::string& rel : e->spec().path) at = g.entities[static_cast<size_t>(at)].links.at(rel);
      EXPECT_EQ(g.entities[static_cast<size_t>(at)].values.at(e->spec().attribute), e->gold().value);
    }
  }
}

TEST(QuestionEpisodeTest, AggregateGoldHandChecked) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    auto e = Reset(kAggregateFamily, seed, 5);
    const QuestionSpec& q = e->spec();
    ASSERT_EQ(q.entities.size(), 5u);
    std::vector<std::string> v;
    for (const std::string& name : q.entities) {
      v.push_back(e->graph().entities[static_cast<size_t>(e->graph().Find(name))].values.at(q.attribute));
    }
    if (q.operation == "sum") {
      double s = 0;
      for (const std::string& x : v) s += std::stod(x);
      EXPECT_NEAR(std::stod(e->gold().value), s, 1e-6);
    } else if (q.operation == "count") {
      EXPECT_EQ(std::stoi(e->gold().value), std::count(v.begin(), v.end(), q.condition));
      EXPECT_GE(std::stoi(e->gold().value), 1);  // the sector counted is one of theirs
    } else if (q.operation == "earliest") {
      EXPECT_EQ(e->gold().value, *std::min_element(v.begin(), v.end()));
      EXPECT_EQ(e->gold().type, CellType::kDate);
    }
  }
}

TEST(QuestionEpisodeTest, GoldScoresOneAndWrongAnswersLess) {
  for (const char* family : {kLookupFamily, kMultiHopFamily, kAggregateFamily}) {
    for (uint64_t seed = 1; seed <= 30; ++seed) {
      auto e = Reset(family, seed);
      EXPECT_DOUBLE_EQ(e->Verify(e->GoldAnswer()).reward, 1.0) << family << " " << seed;
      nlohmann::json wrong = ScalarJson(e->gold());
      if (wrong.is_number()) {
        wrong = wrong.get<double>() * 1.5 + 7;
      } else if (e->gold().type == CellType::kDate) {
        wrong = e->gold().value == "2000-01-01" ? "2000-01-02" : "2000-01-01";
      } else {
        wrong = wrong.get<std::string>() + " Group";
      }
      EXPECT_LT(e->Verify(FormatScalarAnswer(wrong)).reward, 1.0) << family << " " << seed;
      EXPECT_EQ(e->Verify("I don't know").reward, 0.0);
    }
  }
}

TEST(QuestionEpisodeTest, DistractorsConflictWithTheProfile) {
  auto e = Reset(kLookupFamily, 5, 20, 0, 8);
  int near = 0, archive = 0;
  for (const GraphEntity& x : e->graph().entities) near += x.near_of >= 0;
  for (const Document& d : e->graph().documents) archive += !d.is_profile;
  EXPECT_EQ(near, 8);
  EXPECT_GE(archive, 6);  // an item is skipped only when no other value could be drawn
  // The first archive item is about the entity asked about and contradicts its profile.
  const int target = e->graph().Find(e->spec().entity);
  bool about_target = false;
  for (const Document& d : e->graph().documents) about_target = about_target || (!d.is_profile && d.entity == target);
  EXPECT_TRUE(about_target);
  auto none = Reset(kLookupFamily, 5, 20, 0, 0);
  for (const Document& d : none->graph().documents) EXPECT_TRUE(d.is_profile);
}

TEST(QuestionEpisodeTest, BadParamsNameTheKnob) {
  ResearchWorld w;
  TaskParams p;
  p.family = kMultiHopFamily;
  p.hops = 5;
  EXPECT_NE(w.Reset(p).status().message().find("hops"), std::string::npos);
  p.family = kLookupFamily;
  p.hops = 2;
  EXPECT_NE(w.Reset(p).status().message().find("hops"), std::string::npos);
  p.hops = 0;
  p.columns = 2;
  EXPECT_NE(w.Reset(p).status().message().find("columns"), std::string::npos);
  p.columns = 0;
  p.items = 0;
  EXPECT_NE(w.Reset(p).status().message().find("items"), std::string::npos);
  p.items = 5;
  p.distractors = 1001;
  EXPECT_NE(w.Reset(p).status().message().find("distractors"), std::string::npos);
  p.family = "deep";
  p.distractors = -1;
  Result<std::unique_ptr<Episode>> r = w.Reset(p);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("known: wide, lookup, multi-hop, aggregate"), std::string::npos);
}

TEST(QuestionEpisodeTest, ResearchWorldResetsEveryFamily) {
  ResearchWorld w;
  for (const std::string& family : w.task_families()) {
    TaskParams p;
    p.family = family;
    p.items = 5;
    Result<std::unique_ptr<Episode>> e = w.Reset(p);
    ASSERT_TRUE(e.ok()) << family << ": " << e.status().ToString();
    EXPECT_EQ((*e)->family(), family);
    EXPECT_EQ((*e)->world(), "research");
  }
}

}  // namespace
}  // namespace tide::env
