// Token-weighted cross-entropy: value and log-probs against float64, gradient against
// float64 central finite differences (1e-6 relative), zero-weight tokens, explicit
// normaliser and error cases.
#include "tide/engine/kernels/cross_entropy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace tide::engine {
namespace {

double LogProb(const std::vector<double>& logits, int t, int vocab, int target) {
  double m = -1e300, z = 0;
  for (int i = 0; i < vocab; ++i) m = std::max(m, logits[t * vocab + i]);
  for (int i = 0; i < vocab; ++i) z += std::exp(logits[t * vocab + i] - m);
  return logits[t * vocab + target] - m - std::log(z);
}

double LossDouble(const std::vector<double>& logits, const std::vector<int32_t>& targets,
                  const std::vector<float>& w, int vocab, double norm) {
  double s = 0;
  for (size_t t = 0; t < targets.size(); ++t) s -= w[t] * LogProb(logits, static_cast<int>(t), vocab, targets[t]);
  return s / norm;
}

struct Fixture {
  int tokens = 4, vocab = 9;
  std::vector<float> logits;
  std::vector<int32_t> targets = {3, 0, 8, 5};
  std::vector<float> weights = {1.f, 0.f, -0.5f, 2.f};
  Fixture() {
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.f, 2.f);
    logits.resize(tokens * vocab);
    for (float& v : logits) v = nd(rng);
  }
};

TEST(CrossEntropyTest, LossLogProbsAndGradientMatchFloat64) {
  Fixture f;
  std::vector<float> logp(f.tokens), dl(f.logits.size());
  auto r = CrossEntropyReference(f.logits.data(), f.targets.data(), f.weights.data(), f.tokens, f.vocab, 0.f,
                                 logp.data(), dl.data());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<double> ld(f.logits.begin(), f.logits.end());
  const double norm = 3.5;  // Σ|w|
  EXPECT_NEAR(*r, LossDouble(ld, f.targets, f.weights, f.vocab, norm), 1e-6);
  for (int t = 0; t < f.tokens; ++t) EXPECT_NEAR(logp[t], LogProb(ld, t, f.vocab, f.targets[t]), 1e-6);
  const double h = 1e-6;
  for (size_t i = 0; i < ld.size(); ++i) {
    const double x0 = ld[i];
    ld[i] = x0 + h;
    const double lp = LossDouble(ld, f.targets, f.weights, f.vocab, norm);
    ld[i] = x0 - h;
    const double lm = LossDouble(ld, f.targets, f.weights, f.vocab, norm);
    ld[i] = x0;
    const double fd = (lp - lm) / (2 * h);
    EXPECT_NEAR(dl[i], fd, 1e-6 * (1 + std::fabs(fd))) << i;
  }
}

TEST(CrossEntropyTest, ZeroWeightTokenHasNoGradientButALogProb) {
  Fixture f;
  std::vector<float> logp(f.tokens), dl(f.logits.size(), 123.f);
  ASSERT_TRUE(CrossEntropyReference(f.logits.data(), f.targets.data(), f.weights.data(), f.tokens, f.vocab, 0.f,
                                    logp.data(), dl.data())
                  .ok());
  for (int i = 0; i < f.vocab; ++i) EXPECT_EQ(dl[1 * f.vocab + i], 0.f);
  EXPECT_LT(logp[1], 0.f);
  // Changing the zero-weight token's logits changes nothing else.
  std::vector<float> logits2 = f.logits;
  for (int i = 0; i < f.vocab; ++i) logits2[f.vocab + i] += 3.f * i;
  auto r1 = CrossEntropyReference(f.logits.data(), f.targets.data(), f.weights.data(), f.tokens, f.vocab, 0.f,
                                  nullptr, nullptr);
  auto r2 = CrossEntropyReference(logits2.data(), f.targets.data(), f.weights.data(), f.tokens, f.vocab, 0.f,
                                  nullptr, nullptr);
  EXPECT_EQ(*r1, *r2);
}

TEST(CrossEntropyTest, NormaliserAndDefaults) {
  Fixture f;
  auto by_sum = CrossEntropyReference(f.logits.data(), f.targets.data(), f.weights.data(), f.tokens, f.vocab, 0.f,
                                      nullptr, nullptr);
  auto by_ten = CrossEntropyReference(f.logits.data(), f.targets.data(), f.weights.data(), f.tokens, f.vocab, 10.f,
                                      nullptr, nullptr);
  EXPECT_NEAR(*by_ten, *by_sum * 3.5 / 10.0, 1e-6);
  // Null weights: mean negative log-likelihood.
  std::vector<float> logp(f.tokens);
  auto mean = CrossEntropyReference(f.logits.data(), f.targets.data(), nullptr, f.tokens, f.vocab, 0.f, logp.data(),
                                    nullptr);
  EXPECT_NEAR(*mean, -(logp[0] + logp[1] + logp[2] + logp[3]) / 4.0, 1e-6);
  // All weights zero: loss 0, gradient 0.
  const std::vector<float> zeros(f.tokens, 0.f);
  std::vector<float> dl(f.logits.size(), 5.f);
  auto z = CrossEntropyReference(f.logits.data(), f.targets.data(), zeros.data(), f.tokens, f.vocab, 0.f, nullptr,
                                 dl.data());
  EXPECT_EQ(*z, 0.f);
  for (float v : dl) EXPECT_EQ(v, 0.f);
}

TEST(CrossEntropyTest, RejectsBadTargetsAndWeights) {
  Fixture f;
  std::vector<int32_t> bad = f.targets;
  bad[2] = f.vocab;
  auto r = CrossEntropyReference(f.logits.data(), bad.data(), nullptr, f.tokens, f.vocab, 0.f, nullptr, nullptr);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  bad[2] = -1;
  EXPECT_FALSE(
      CrossEntropyReference(f.logits.data(), bad.data(), nullptr, f.tokens, f.vocab, 0.f, nullptr, nullptr).ok());
  std::vector<float> w = f.weights;
  w[0] = std::numeric_limits<float>::infinity();
  auto inf = CrossEntropyReference(f.logits.data(), f.targets.data(), w.data(), f.tokens, f.vocab, 0.f, nullptr,
                                   nullptr);
  EXPECT_FALSE(inf.ok());
}

}  // namespace
}  // namespace tide::engine
