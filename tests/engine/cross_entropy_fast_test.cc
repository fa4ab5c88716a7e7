#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string_view>
#include <vector>

#include "kernel_test_util.h"
#include "tide/engine/kernels/cross_entropy.h"

namespace tide::engine {
namespace {

using testing::RandomVector;
using testing::SupportedLevels;

double MaxError(const std::vector<float>& out, const std::vector<float>& ref) {
  double err = 0, scale = 1e-30;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(out[i])) return std::numeric_limits<double>::infinity();
    err = std::max(err, std::fabs(static_cast<double>(out[i]) - ref[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(ref[i])));
  }
  return err / scale;
}

TEST(CrossEntropyFastTest, MatchesReferenceAtEveryLevel) {
  std::mt19937 rng(21);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (SimdLevel level : SupportedLevels()) {
    for (int vocab : {1, 7, 16, 33, 1000, 8192}) {
      for (int tokens : {1, 5, 64}) {
        const std::vector<float> logits = RandomVector(rng, static_cast<size_t>(tokens) * vocab, -6.f, 6.f);
        std::vector<int32_t> targets(tokens);
        for (int32_t& t : targets) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
        std::vector<float> weights = RandomVector(rng, tokens, -1.f, 2.f);
        weights[0] = 0.f;  // a masked token: log-prob, no gradient
        std::vector<float> ref_lp(tokens), ref_d(logits.size());
        auto ref = CrossEntropyReference(logits.data(), targets.data(), weights.data(), tokens, vocab, 0.f,
                                         ref_lp.data(), ref_d.data());
        std::vector<float> lp(tokens, nan), d(logits.size(), nan);
        auto fast = CrossEntropyAt(level, logits.data(), targets.data(), weights.data(), tokens, vocab, 0.f,
                                   lp.data(), d.data());
        ASSERT_TRUE(ref.ok() && fast.ok());
        const std::string_view name = SimdLevelName(level);
        EXPECT_NEAR(*fast, *ref, 1e-5 * std::max(1.f, std::fabs(*ref))) << name << " " << tokens << "x" << vocab;
        EXPECT_LT(MaxError(lp, ref_lp), 1e-5) << name << " " << tokens << "x" << vocab;
        EXPECT_LT(MaxError(d, ref_d), 1e-5) << name << " " << tokens << "x" << vocab;
        // dlogits over the logits themselves.
        std::vector<float> in_place = logits;
        auto aliased = CrossEntropyAt(level, in_place.data(), targets.data(), weights.data(), tokens, vocab, 0.f,
                                      nullptr, in_place.data());
        ASSERT_TRUE(aliased.ok());
        EXPECT_EQ(*aliased, *fast);
        EXPECT_EQ(in_place, d);
      }
    }
  }
}

TEST(CrossEntropyFastTest, RejectsWhatTheReferenceRejects) {
  const std::vector<float> logits(6, 0.f);
  const std::vector<int32_t> bad_target = {0, 3};
  auto r = CrossEntropy(logits.data(), bad_target.data(), nullptr, 2, 3, 0.f, nullptr, nullptr);
  ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("target 3 at token 1"), std::string::npos);
  const std::vector<int32_t> targets = {0, 1};
  const std::vector<float> weights = {1.f, std::numeric_limits<float>::infinity()};
  EXPECT_EQ(CrossEntropy(logits.data(), targets.data(), weights.data(), 2, 3, 0.f, nullptr, nullptr).status().code(),
            StatusCode::kInvalidArgument);
  // Uniform logits: loss ln 3 per token.
  auto uniform = CrossEntropy(logits.data(), targets.data(), nullptr, 2, 3, 0.f, nullptr, nullptr);
  ASSERT_TRUE(uniform.ok());
  EXPECT_NEAR(*uniform, std::log(3.0), 1e-6);
}

}  // namespace
}  // namespace tide::engine
