#include "tide/env/corpus.h"

#include <set>

#include <gtest/gtest.h>

#include "tide/env/cell_values.h"
#include "tide/env/research_schema.h"

namespace tide::env {
namespace {

Corpus Make(uint64_t seed, CorpusOptions options = {}) {
  SeededRandom rng(seed);
  return GenerateCorpus(rng, options);
}

bool SameCorpus(const Corpus& a, const Corpus& b) {
  if (a.documents.size() != b.documents.size() || a.task_entities != b.task_entities) return false;
  for (size_t i = 0; i < a.documents.size(); ++i) {
    if (a.documents[i].title != b.documents[i].title || a.documents[i].text != b.documents[i].text) return false;
  }
  return true;
}

TEST(CorpusTest, SameSeedSameCorpusDifferentSeedDifferent) {
  EXPECT_TRUE(SameCorpus(Make(3), Make(3)));
  EXPECT_FALSE(SameCorpus(Make(3), Make(4)));
}

TEST(CorpusTest, SizesFollowTheOptions) {
  CorpusOptions o;
  o.task_entities = 10;
  o.base_entities = 60;
  o.near_names = 15;
  o.news = 7;
  Corpus c = Make(1, o);
  EXPECT_EQ(c.entities.size(), 75u);
  EXPECT_EQ(c.documents.size(), 75u + 7u);
  EXPECT_EQ(c.task_entities.size(), 10u);
  EXPECT_EQ(std::set<int>(c.task_entities.begin(), c.task_entities.end()).size(), 10u);
}

TEST(CorpusTest, NamesAreUniqueAndEveryEntityHasItsProfile) {
  Corpus c = Make(8);
  std::set<std::string> names;
  for (size_t i = 0; i < c.entities.size(); ++i) {
    EXPECT_TRUE(names.insert(NormalizeText(c.entities[i].name)).second) << c.entities[i].name;
    const Document* p = c.ProfileOf(static_cast<int>(i));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->title, c.entities[i].name);
    EXPECT_EQ(c.entities[i].values.size(), ResearchAttributes().size());
  }
}

TEST(CorpusTest, NearNamesImitateTaskEntitiesWithOtherValues) {
  Corpus c = Make(2);
  std::set<int> imitated;
  for (const Entity& e : c.entities) {
    if (e.near_of < 0) continue;
    imitated.insert(e.near_of);
    const Entity& of = c.entities[static_cast<size_t>(e.near_of)];
    EXPECT_NE(e.name, of.name);
    int same = 0;
    for (size_t a = 0; a < e.values.size(); ++a) same += e.values[a] == of.values[a] ? 1 : 0;
    EXPECT_LT(same, 2) << e.name << " vs " << of.name;
  }
  for (int t : c.task_entities) EXPECT_TRUE(imitated.count(t)) << c.entities[static_cast<size_t>(t)].name;
}

TEST(CorpusTest, NewsMentionsAnEntityButIsNotItsProfile) {
  Corpus c = Make(4);
  int news = 0;
  for (const Document& d : c.documents) {
    if (d.is_profile) continue;
    ++news;
    const std::string& name = c.entities[static_cast<size_t>(d.entity)].name;
    EXPECT_NE(d.title, name);
    EXPECT_NE(d.text.find(name), std::string::npos);
  }
  EXPECT_EQ(news, 20);
}

TEST(CorpusTest, DocIdsRoundTrip) {
  Corpus c = Make(6);
  for (const Document& d : c.documents) EXPECT_EQ(c.FindDocument(d.doc_id), &d);
  EXPECT_EQ(c.FindDocument("doc-0000"), nullptr);
  EXPECT_EQ(c.FindDocument("doc-99999"), nullptr);
  EXPECT_EQ(c.FindDocument("nope"), nullptr);
  EXPECT_EQ(c.FindDocument(""), nullptr);
  EXPECT_EQ(DocId(0), "doc-0001");
}

}  // namespace
}  // namespace tide::env
