#include "tide/env/research_world.h"

#include <gtest/gtest.h>

#include "tide/env/wide_task.h"

namespace tide::env {
namespace {

std::unique_ptr<ResearchEpisode> Reset(TaskParams p) {
  Result<std::unique_ptr<ResearchEpisode>> e = ResearchWorld().ResetResearch(p);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

TEST(ResearchWorldTest, SameSeedSamePromptAndCorpus) {
  TaskParams p;
  p.seed = 17;
  auto a = Reset(p), b = Reset(p);
  EXPECT_EQ(a->prompt(), b->prompt());
  EXPECT_EQ(a->public_task(), b->public_task());
  ASSERT_EQ(a->corpus().documents.size(), b->corpus().documents.size());
  for (size_t i = 0; i < a->corpus().documents.size(); ++i) {
    EXPECT_EQ(a->corpus().documents[i].text, b->corpus().documents[i].text);
  }
  p.seed = 18;
  EXPECT_NE(Reset(p)->prompt(), a->prompt());
}

TEST(ResearchWorldTest, PromptIsAParseableWideTask) {
  TaskParams p;
  p.seed = 5;
  p.items = 7;
  p.columns = 3;
  auto e = Reset(p);
  Result<WideTaskSpec> spec = ParseWideTask(e->prompt());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->entities.size(), 7u);
  EXPECT_EQ(spec->columns.size(), 3u);
  EXPECT_EQ(e->gold().keys, spec->entities);
  nlohmann::json t = e->public_task();
  EXPECT_EQ(t["family"], "wide");
  EXPECT_EQ(t["items"], 7);
  EXPECT_EQ(t["columns"].size(), 3u);
  EXPECT_TRUE(t.contains("rubric"));
  for (size_t c = 0; c < e->gold().columns.size(); ++c) {
    if (e->gold().columns[c].type != CellType::kString) continue;
    EXPECT_EQ(t.dump().find(e->gold().cells[0][c]), std::string::npos) << "the task leaks an answer";
  }
}

TEST(ResearchWorldTest, DefaultsAndSizes) {
  TaskParams p;
  auto e = Reset(p);
  EXPECT_EQ(e->world(), "research");
  EXPECT_EQ(e->family(), "wide");
  EXPECT_EQ(e->gold().columns.size(), 2u);
  EXPECT_EQ(e->gold().keys.size(), 20u);
  EXPECT_EQ(e->corpus().entities.size(), 60u + 20u);      // base + near-names
  EXPECT_EQ(e->corpus().documents.size(), 80u + 20u);     // profiles + news
  EXPECT_EQ(e->tools().size(), 2u);
  p.items = 50;
  p.distractors = 0;
  auto big = Reset(p);
  EXPECT_EQ(big->corpus().entities.size(), 150u);
  EXPECT_EQ(big->corpus().documents.size(), 150u);
}

TEST(ResearchWorldTest, GoldAnswerVerifiesAndEmptyAnswerDoesNot) {
  TaskParams p;
  p.seed = 3;
  p.columns = 6;
  auto e = Reset(p);
  Verdict v = e->Verify(e->GoldAnswer());
  EXPECT_TRUE(v.success) << v.details.dump(1);
  EXPECT_DOUBLE_EQ(v.reward, 1.0);
  EXPECT_EQ(e->Verify("no idea").reward, 0.0);
}

TEST(ResearchWorldTest, BadParamsAreInvalidArgumentNamingThem) {
  ResearchWorld w;
  TaskParams p;
  p.family = "deep";
  Result<std::unique_ptr<Episode>> r = w.Reset(p);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("\"deep\""), std::string::npos);
  EXPECT_NE(r.status().message().find("known: wide"), std::string::npos);
  for (int items : {0, 201, -3}) {
    TaskParams q;
    q.items = items;
    Result<std::unique_ptr<Episode>> bad = w.Reset(q);
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find("items"), std::string::npos);
  }
  TaskParams c;
  c.columns = 7;
  EXPECT_NE(w.Reset(c).status().message().find("columns"), std::string::npos);
  TaskParams d;
  d.distractors = -2;
  EXPECT_NE(w.Reset(d).status().message().find("distractors"), std::string::npos);
  TaskParams ok;
  ok.items = 200;
  EXPECT_TRUE(w.Reset(ok).ok());
}

}  // namespace
}  // namespace tide::env
