#include "tide/env/seeded_random.h"

#include <set>

#include <gtest/gtest.h>

namespace tide::env {
namespace {

TEST(SeededRandomTest, SameSeedSameSequence) {
  SeededRandom a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.Below(1000);
    EXPECT_EQ(x, b.Below(1000));
    differs |= x != c.Below(1000);
  }
  EXPECT_TRUE(differs);
}

TEST(SeededRandomTest, KnownFirstValuesOfMt19937_64) {
  // The standard fixes mt19937_64's output: the 10000th value for the default seed is
  // 9981545732273789042; our draws are built on that sequence.
  SeededRandom r(5489);
  uint64_t v = 0;
  for (int i = 0; i < 10000; ++i) v = r.Next();
  EXPECT_EQ(v, 9981545732273789042ULL);
}

TEST(SeededRandomTest, BoundedDrawsStayInRangeAndCoverIt) {
  SeededRandom r(7);
  std::set<int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    int64_t v = r.Range(-3, 3);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 3);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 7u);
}

TEST(SeededRandomTest, SampleGivesDistinctIndices) {
  SeededRandom r(1);
  std::vector<size_t> s = r.Sample(50, 20);
  ASSERT_EQ(s.size(), 20u);
  EXPECT_EQ(std::set<size_t>(s.begin(), s.end()).size(), 20u);
  for (size_t i : s) EXPECT_LT(i, 50u);
}

TEST(SeededRandomTest, ShuffleIsAPermutation) {
  SeededRandom r(3);
  std::vector<int> v = {1, 2, 3, 4, 5, 6, 7, 8};
  r.Shuffle(v);
  std::multiset<int> m(v.begin(), v.end());
  EXPECT_EQ(m, (std::multiset<int>{1, 2, 3, 4, 5, 6, 7, 8}));
}

}  // namespace
}  // namespace tide::env
