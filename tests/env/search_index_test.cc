#include "tide/env/search_index.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

std::vector<Document> Docs() {
  std::vector<Document> d(4);
  d[0].title = "Orvana Dynamics Group";
  d[0].text = "Orvana Dynamics Group is not Orvana Dynamics. Orvana Dynamics Orvana Dynamics.";
  d[1].title = "Orvana Dynamics";
  d[1].text = "A company in shipping.";
  d[2].title = "Belmi Labs";
  d[2].text = "Belmi Labs makes sensors; it once bought a stake in Orvana Dynamics.";
  d[3].title = "Weather";
  d[3].text = "Rain.";
  return d;
}

TEST(SearchIndexTest, Tokenize) {
  EXPECT_EQ(SearchIndex::Tokenize("Orvana-Dynamics, 2021!"),
            (std::vector<std::string>{"orvana", "dynamics", "2021"}));
  EXPECT_TRUE(SearchIndex::Tokenize(" .,; ").empty());
}

TEST(SearchIndexTest, ExactTitleRanksFirstEvenAgainstManyMentions) {
  SearchIndex index(Docs());
  std::vector<SearchHit> hits = index.Search("orvana  DYNAMICS", 10);
  ASSERT_GE(hits.size(), 3u);
  EXPECT_EQ(hits[0].doc, 1u);
  EXPECT_EQ(hits[1].doc, 0u);  // many mentions beat one
  for (const SearchHit& h : hits) EXPECT_NE(h.doc, 3u);  // no shared word, no hit
}

TEST(SearchIndexTest, Bm25PrefersRareTermsAndHonoursLimit) {
  SearchIndex index(Docs());
  std::vector<SearchHit> hits = index.Search("sensors orvana", 1);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].doc, 2u);  // "sensors" is rare
  EXPECT_TRUE(index.Search("", 5).empty());
  EXPECT_TRUE(index.Search("zzz", 5).empty());
}

TEST(SearchIndexTest, ScoresDescend) {
  SearchIndex index(Docs());
  std::vector<SearchHit> hits = index.Search("orvana dynamics labs", 10);
  for (size_t i = 1; i < hits.size(); ++i) EXPECT_GE(hits[i - 1].score, hits[i].score);
}

}  // namespace
}  // namespace tide::env
