#include "tide/engine/sampler.h"

#include <cmath>
#include <map>

#include <gtest/gtest.h>

namespace tide::engine {
namespace {

TEST(SamplerTest, GreedyPicksTheArgmaxWithItsLogprob) {
  std::mt19937_64 rng(1);
  const std::vector<float> logits = {0.f, 2.f, 1.f, 2.f};
  SampledToken t = SampleToken(logits, {0.f, 0, 1.f}, rng);
  EXPECT_EQ(t.id, 1) << "ties go to the lower id";
  const double z = 1 + 2 * std::exp(2.0) + std::exp(1.0);
  EXPECT_NEAR(t.logprob, 2.0 - std::log(z), 1e-6);
}

TEST(SamplerTest, SameSeedSameTokensAndFrequenciesFollowTheDistribution) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  std::mt19937_64 a(42), b(42);
  std::map<int, int> counts;
  for (int i = 0; i < 20000; ++i) {
    SampledToken x = SampleToken(logits, {}, a), y = SampleToken(logits, {}, b);
    ASSERT_EQ(x.id, y.id);
    ++counts[x.id];
  }
  EXPECT_NEAR(counts[0] / 20000.0, 0.5, 0.02);
  EXPECT_NEAR(counts[1] / 20000.0, 0.3, 0.02);
  EXPECT_NEAR(counts[2] / 20000.0, 0.2, 0.02);
}

TEST(SamplerTest, TopKAndTopPTruncate) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    EXPECT_LT(SampleToken(logits, {1.f, 2, 1.f}, rng).id, 2);
    EXPECT_LT(SampleToken(logits, {1.f, 0, 0.75f}, rng).id, 2) << "0.5 + 0.3 covers top_p 0.75";
  }
  EXPECT_EQ(SampleToken(logits, {1.f, 0, 0.01f}, rng).id, 0);
}

}  // namespace
}  // namespace tide::engine
