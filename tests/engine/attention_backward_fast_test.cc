#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "tide/engine/kernels/attention.h"
#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine {
namespace {

using testing::RandomVector;
using testing::SupportedLevels;

// max |out - ref| / max(1, max |ref|) over the whole tensor; NaN anywhere fails.
double RelativeError(const std::vector<float>& out, const std::vector<float>& ref) {
  double diff = 0.0, norm = 1.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(out[i])) return std::numeric_limits<double>::infinity();
    diff = std::max(diff, std::abs(static_cast<double>(out[i]) - ref[i]));
    norm = std::max(norm, std::abs(static_cast<double>(ref[i])));
  }
  return diff / norm;
}

struct Case {
  int tokens, past, heads, kv_heads, head_dim;
};

// GQA ratios 1, 2, 4; head_dim with and without vector tails; prefixes that straddle the
// 64-key blocks; query counts around the 16- and 32-query blocks; 300 tokens for many
// blocks (and every thread of the pool).
const Case kCases[] = {
    {1, 0, 4, 2, 32},   {1, 0, 1, 1, 4},    {2, 0, 8, 8, 64},   {5, 2, 4, 2, 32},  {17, 0, 8, 8, 20},
    {16, 63, 4, 1, 12}, {33, 64, 6, 3, 20}, {1, 200, 8, 2, 64}, {70, 5, 6, 3, 7},  {64, 64, 4, 2, 24},
    {70, 0, 8, 8, 64},  {45, 130, 6, 3, 32}, {300, 0, 4, 2, 32}, {300, 40, 6, 3, 20}, {40, 0, 4, 2, 1},
};

struct Inputs {
  std::vector<float> q, k, v, out, lse, dout;
};

Inputs MakeInputs(std::mt19937& rng, const AttentionShape& s, float qk_range) {
  const int total = s.past + s.tokens;
  const size_t qn = static_cast<size_t>(s.tokens) * s.heads * s.head_dim;
  const size_t kvn = static_cast<size_t>(total) * s.kv_heads * s.head_dim;
  Inputs in;
  in.q = RandomVector(rng, qn, -qk_range, qk_range);
  in.k = RandomVector(rng, kvn, -qk_range, qk_range);
  in.v = RandomVector(rng, kvn, -1.0f, 1.0f);
  in.dout = RandomVector(rng, qn, -1.0f, 1.0f);
  in.out.resize(qn);
  in.lse.resize(static_cast<size_t>(s.tokens) * s.heads);
  AttentionForwardReference(s, in.q.data(), in.k.data(), in.v.data(), in.out.data(), in.lse.data());
  return in;
}

struct Grads {
  std::vector<float> dq, dk, dv;
};

Grads Poisoned(const AttentionShape& s) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const size_t kvn = static_cast<size_t>(s.past + s.tokens) * s.kv_heads * s.head_dim;
  return {std::vector<float>(static_cast<size_t>(s.tokens) * s.heads * s.head_dim, nan),
          std::vector<float>(kvn, nan), std::vector<float>(kvn, nan)};
}

Grads RunReference(const AttentionShape& s, const Inputs& in) {
  Grads g = Poisoned(s);
  AttentionBackwardReference(s, in.q.data(), in.k.data(), in.v.data(), in.out.data(), in.lse.data(),
                             in.dout.data(), g.dq.data(), g.dk.data(), g.dv.data());
  return g;
}

Grads RunFast(SimdLevel level, const AttentionShape& s, const Inputs& in) {
  Grads g = Poisoned(s);
  AttentionBackwardAt(level, s, in.q.data(), in.k.data(), in.v.data(), in.out.data(), in.lse.data(),
                      in.dout.data(), g.dq.data(), g.dk.data(), g.dv.data());
  return g;
}

TEST(AttentionBackwardFastTest, MatchesReferenceAtEveryLevel) {
  std::mt19937 rng(41);
  for (const Case& c : kCases) {
    AttentionShape s{c.tokens, c.past, c.heads, c.kv_heads, c.head_dim,
                     1.0f / std::sqrt(static_cast<float>(c.head_dim))};
    // Wide enough that the softmax is peaked for some queries and flat for others.
    const Inputs in = MakeInputs(rng, s, 2.5f);
    const Grads ref = RunReference(s, in);
    for (SimdLevel level : SupportedLevels()) {
      const Grads g = RunFast(level, s, in);
      const std::string where = std::string(SimdLevelName(level)) + " tokens=" + std::to_string(c.tokens) +
                                " past=" + std::to_string(c.past) + " heads=" + std::to_string(c.heads) + "/" +
                                std::to_string(c.kv_heads) + " d=" + std::to_string(c.head_dim);
      EXPECT_LT(RelativeError(g.dq, ref.dq), 1e-5) << "dq " << where;
      EXPECT_LT(RelativeError(g.dk, ref.dk), 1e-5) << "dk " << where;
      EXPECT_LT(RelativeError(g.dv, ref.dv), 1e-5) << "dv " << where;
    }
  }
}

TEST(AttentionBackwardFastTest, LargeScoresStayFinite) {
  // Scores in the hundreds: p = exp(s - lse) must not overflow; most p underflow to 0. An f32
  // score near 200 is only good to about 1e-5 absolute (the fast forward's out is off by as
  // much here), and that error passes straight into p, hence the looser bound.
  constexpr double kTol = 5e-5;
  std::mt19937 rng(42);
  AttentionShape s{37, 90, 4, 2, 16, 1.0f};
  const Inputs in = MakeInputs(rng, s, 6.0f);
  const Grads ref = RunReference(s, in);
  for (SimdLevel level : SupportedLevels()) {
    const Grads g = RunFast(level, s, in);
    EXPECT_LT(RelativeError(g.dq, ref.dq), kTol) << SimdLevelName(level);
    EXPECT_LT(RelativeError(g.dk, ref.dk), kTol) << SimdLevelName(level);
    EXPECT_LT(RelativeError(g.dv, ref.dv), kTol) << SimdLevelName(level);
  }
}

TEST(AttentionBackwardFastTest, DefaultEntryPointUsesBestLevel) {
  std::mt19937 rng(43);
  AttentionShape s{20, 3, 4, 2, 32, 0.17677669f};
  const Inputs in = MakeInputs(rng, s, 1.0f);
  const Grads a = RunFast(DetectSimdLevel(), s, in);
  Grads b = Poisoned(s);
  AttentionBackward(s, in.q.data(), in.k.data(), in.v.data(), in.out.data(), in.lse.data(), in.dout.data(),
                    b.dq.data(), b.dk.data(), b.dv.data());
  EXPECT_EQ(a.dq, b.dq);
  EXPECT_EQ(a.dk, b.dk);
  EXPECT_EQ(a.dv, b.dv);
  AttentionShape empty;
  AttentionBackward(empty, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
}

}  // namespace
}  // namespace tide::engine
