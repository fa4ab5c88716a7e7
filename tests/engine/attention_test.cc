// Causal GQA attention: forward against a float64 twin (with and without a KV prefix),
// prefix/full consistency, and the backward pass against float64 central finite
// differences of the twin. Tolerances: forward 1e-6 relative (one f32 rounding of a
// double computation); backward 1e-5 relative per element (f32 inputs and outputs,
// double accumulation; FD truncation error ~h² ≈ 1e-12).
#include "tide/engine/kernels/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace tide::engine {
namespace {

using Vec = std::vector<double>;

Vec AttentionDouble(const AttentionShape& s, const Vec& q, const Vec& k, const Vec& v) {
  const int d = s.head_dim, group = s.heads / s.kv_heads;
  Vec out(static_cast<size_t>(s.tokens) * s.heads * d, 0.0);
  for (int t = 0; t < s.tokens; ++t) {
    for (int h = 0; h < s.heads; ++h) {
      const int n = s.past + t + 1, kh = h / group;
      Vec sc(n);
      double m = -1e300, z = 0;
      for (int j = 0; j < n; ++j) {
        double dot = 0;
        for (int i = 0; i < d; ++i) dot += q[(t * s.heads + h) * d + i] * k[(j * s.kv_heads + kh) * d + i];
        sc[j] = dot * s.scale;
        m = std::max(m, sc[j]);
      }
      for (double& x : sc) z += (x = std::exp(x - m));
      for (int j = 0; j < n; ++j) {
        for (int i = 0; i < d; ++i) out[(t * s.heads + h) * d + i] += sc[j] / z * v[(j * s.kv_heads + kh) * d + i];
      }
    }
  }
  return out;
}

std::vector<float> Random(std::mt19937& rng, size_t n, float sd) {
  std::normal_distribution<float> nd(0.f, sd);
  std::vector<float> x(n);
  for (float& f : x) f = nd(rng);
  return x;
}

Vec AsDoubles(const std::vector<float>& x) { return Vec(x.begin(), x.end()); }

struct Case {
  AttentionShape s;
  std::vector<float> q, k, v;
};

Case MakeCase(int tokens, int past, int heads, int kv_heads, int d, unsigned seed) {
  std::mt19937 rng(seed);
  Case c;
  c.s = AttentionShape{tokens, past, heads, kv_heads, d, static_cast<float>(1.0 / std::sqrt(double(d)))};
  c.q = Random(rng, static_cast<size_t>(tokens) * heads * d, 1.f);
  c.k = Random(rng, static_cast<size_t>(past + tokens) * kv_heads * d, 1.f);
  c.v = Random(rng, c.k.size(), 1.f);
  return c;
}

TEST(AttentionTest, ForwardMatchesFloat64Twin) {
  for (int past : {0, 3}) {
    Case c = MakeCase(5, past, 4, 2, 8, 10 + past);
    std::vector<float> out(c.q.size()), lse(5 * 4);
    AttentionForwardReference(c.s, c.q.data(), c.k.data(), c.v.data(), out.data(), lse.data());
    const Vec ref = AttentionDouble(c.s, AsDoubles(c.q), AsDoubles(c.k), AsDoubles(c.v));
    for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], ref[i], 1e-6 * (1 + std::fabs(ref[i])));
  }
}

TEST(AttentionTest, FirstTokenCopiesItsValueAndPrefixMatchesFull) {
  // Full block of 6 tokens vs the last 2 computed after a prefix of 4: same rows.
  Case full = MakeCase(6, 0, 4, 1, 4, 3);
  std::vector<float> out_full(full.q.size());
  AttentionForwardReference(full.s, full.q.data(), full.k.data(), full.v.data(), out_full.data(), nullptr);
  for (int h = 0; h < 4; ++h) {
    for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(out_full[h * 4 + i], full.v[i]);  // one kv head
  }
  AttentionShape tail = full.s;
  tail.tokens = 2;
  tail.past = 4;
  std::vector<float> out_tail(2 * 16);
  AttentionForwardReference(tail, full.q.data() + 4 * 16, full.k.data(), full.v.data(), out_tail.data(), nullptr);
  for (size_t i = 0; i < out_tail.size(); ++i) EXPECT_EQ(out_tail[i], out_full[4 * 16 + i]);
}

TEST(AttentionTest, BackwardMatchesFiniteDifferences) {
  for (int past : {0, 2}) {
    Case c = MakeCase(3, past, 4, 2, 4, 20 + past);
    const size_t nq = c.q.size(), nk = c.k.size();
    std::mt19937 rng(99);
    const std::vector<float> r = Random(rng, nq, 1.f);
    std::vector<float> out(nq), lse(3 * 4), dq(nq), dk(nk), dv(nk);
    AttentionForwardReference(c.s, c.q.data(), c.k.data(), c.v.data(), out.data(), lse.data());
    AttentionBackwardReference(c.s, c.q.data(), c.k.data(), c.v.data(), out.data(), lse.data(), r.data(), dq.data(),
                               dk.data(), dv.data());
    Vec q = AsDoubles(c.q), k = AsDoubles(c.k), v = AsDoubles(c.v);
    auto loss = [&]() {
      const Vec o = AttentionDouble(c.s, q, k, v);
      double s = 0;
      for (size_t i = 0; i < o.size(); ++i) s += r[i] * o[i];
      return s;
    };
    const double h = 1e-6;
    auto check = [&](Vec& x, const std::vector<float>& grad, const char* name) {
      for (size_t i = 0; i < x.size(); ++i) {
        const double x0 = x[i];
        x[i] = x0 + h;
        const double lp = loss();
        x[i] = x0 - h;
        const double lm = loss();
        x[i] = x0;
        const double fd = (lp - lm) / (2 * h);
        EXPECT_NEAR(grad[i], fd, 1e-5 * (1 + std::fabs(fd))) << name << "[" << i << "] past=" << past;
      }
    };
    check(q, dq, "dq");
    check(k, dk, "dk");
    check(v, dv, "dv");
  }
}

}  // namespace
}  // namespace tide::engine
