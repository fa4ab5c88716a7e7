#include "tide/rl/grpo_loss.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace tide::rl {
namespace {

std::vector<float> Logs(std::initializer_list<double> probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
  return out;
}

TEST(GrpoLoss, GroupAdvantagesByHand) {
  // Rewards {1, 0, 0, 1}: mean 0.5, deviations ±0.5, sample variance (4 · 0.25) / 3 = 1/3,
  // std = 0.577350; A = ±0.5 / 0.577350 = ±0.866025 (eps 0).
  const std::vector<float> r = {1, 0, 0, 1};
  auto a = GroupAdvantages(r, {.divide_by_std = true, .eps = 0});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_NEAR((*a)[0], 0.866025, 1e-6);
  EXPECT_NEAR((*a)[1], -0.866025, 1e-6);
  // With the default eps 1e-4: 0.5 / 0.577450 = 0.865875.
  auto a_eps = GroupAdvantages(r);
  ASSERT_TRUE(a_eps.ok());
  EXPECT_NEAR((*a_eps)[3], 0.865875, 1e-6);
  // Dr. GRPO: no std, A = r − mean = ±0.5.
  auto dr = GroupAdvantages(r, {.divide_by_std = false});
  ASSERT_TRUE(dr.ok());
  EXPECT_FLOAT_EQ((*dr)[0], 0.5f);
  EXPECT_FLOAT_EQ((*dr)[2], -0.5f);
  // Rewards {3, 1, 2}: mean 2, sample std sqrt((1 + 1 + 0) / 2) = 1: A = {1, −1, 0}.
  auto b = GroupAdvantages(std::vector<float>{3, 1, 2}, {.eps = 0});
  ASSERT_TRUE(b.ok());
  EXPECT_FLOAT_EQ((*b)[0], 1.f);
  EXPECT_FLOAT_EQ((*b)[1], -1.f);
  EXPECT_FLOAT_EQ((*b)[2], 0.f);
  // All equal: no signal, advantages 0 (not NaN); a group of one: 0.
  auto same = GroupAdvantages(std::vector<float>{0.7f, 0.7f, 0.7f});
  ASSERT_TRUE(same.ok());
  for (float x : *same) EXPECT_EQ(x, 0.f);
  auto one = GroupAdvantages(std::vector<float>{5});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ((*one)[0], 0.f);
}

TEST(GrpoLoss, AdvantageErrorsNameTheProblem) {
  auto empty = GroupAdvantages(std::vector<float>{});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("empty group"), std::string::npos);
  auto nan = GroupAdvantages(std::vector<float>{1, NAN});
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.status().message().find("reward 1"), std::string::npos);
}

TEST(GrpoLoss, DynamicSamplingDropsUniformGroups) {
  EXPECT_FALSE(GroupHasSignal(std::vector<float>{1, 1, 1, 1}));
  EXPECT_FALSE(GroupHasSignal(std::vector<float>{0, 0}));
  EXPECT_TRUE(GroupHasSignal(std::vector<float>{0, 0, 1}));
  EXPECT_TRUE(GroupHasSignal(std::vector<float>{0.25f, 0.5f}));
}

// Two completions, clip range [0.8, 1.28].
//   sequence 0, A = +1, old p = .5 each, new p = .6, .4, .7 → r = 1.2, 0.8, 1.4
//     t0: 1.2 inside → 1.2 · 1, d/dr = 1
//     t1: 0.8 at the lower edge; for A > 0 the lower clip never wins → 0.8, d/dr = 1
//     t2: 1.4 > 1.28 → clipped: 1.28, gradient 0
//   sequence 1, A = −0.5, old p = .5, new p = .3, .6, (.9 masked out) → r = 0.6, 1.2
//     t0: r·A = −0.3, clip(0.6)·A = 0.8 · −0.5 = −0.4 → the clipped −0.4 is smaller: grad 0
//     t1: 1.2 inside → −0.6, d/dr = −0.5
// T = 5 masked tokens; loss = −(1.2 + 0.8 + 1.28 − 0.4 − 0.6) / 5 = −2.28 / 5 = −0.456.
// dlogp = −A · r / T where unclipped: seq 0: −1.2/5 = −0.24, −0.8/5 = −0.16, 0;
// seq 1: 0, −(−0.5 · 1.2)/5 = +0.12, 0 (masked). Clip fraction 2/5; mean ratio 5.2/5 = 1.04.
struct HandBatch {
  std::vector<float> new0 = Logs({.6, .4, .7}), old0 = Logs({.5, .5, .5});
  std::vector<float> new1 = Logs({.3, .6, .9}), old1 = Logs({.5, .5, .5});
  std::vector<float> ref0 = Logs({.5, .5, .5}), ref1 = Logs({.5, .5, .5});
  std::vector<uint8_t> mask1 = {1, 1, 0};
  std::vector<PgSequence> Batch(bool with_ref) const {
    PgSequence a{new0, old0, with_ref ? std::span<const float>(ref0) : std::span<const float>(), {}, 1.f};
    PgSequence b{new1, old1, with_ref ? std::span<const float>(ref1) : std::span<const float>(), mask1, -0.5f};
    return {a, b};
  }
};

TEST(GrpoLoss, TokenLevelClipHigherByHand) {
  HandBatch h;
  auto r = PolicyLoss(h.Batch(false));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tokens, 5);
  EXPECT_NEAR(r->loss, -0.456, 1e-6);
  EXPECT_NEAR(r->policy_loss, -0.456, 1e-6);
  EXPECT_NEAR(r->clip_fraction, 0.4, 1e-12);
  EXPECT_NEAR(r->ratio_mean, 1.04, 1e-6);
  EXPECT_EQ(r->kl_mean, 0);
  EXPECT_NEAR(r->dlogp[0][0], -0.24, 1e-6);
  EXPECT_NEAR(r->dlogp[0][1], -0.16, 1e-6);
  EXPECT_EQ(r->dlogp[0][2], 0.0);  // clipped above (A > 0)
  EXPECT_EQ(r->dlogp[1][0], 0.0);  // clipped below (A < 0)
  EXPECT_NEAR(r->dlogp[1][1], 0.12, 1e-6);
  EXPECT_EQ(r->dlogp[1][2], 0.0);  // masked out
  // Plain GRPO's symmetric clip (ε_high = 0.2) clips t2 at 1.2 instead: loss −2.2 / 5.
  auto sym = PolicyLoss(h.Batch(false), {.eps_high = 0.2});
  ASSERT_TRUE(sym.ok());
  EXPECT_NEAR(sym->loss, -(1.2 + 0.8 + 1.2 - 0.4 - 0.6) / 5, 1e-6);
}

TEST(GrpoLoss, K3KlByHand) {
  // k3 per masked token with d = log p_ref − log p_new: exp(d) − d − 1.
  //   seq 0: p_ref/p_new = .5/.6, .5/.4, .5/.7; seq 1: .5/.3, .5/.6 (t2 masked).
  auto k3 = [](double q) { return q - std::log(q) - 1; };
  const double kl = (k3(.5 / .6) + k3(.5 / .4) + k3(.5 / .7) + k3(.5 / .3) + k3(.5 / .6)) / 5;
  // = (0.015655 + 0.026856 + 0.050758 + 0.155841 + 0.015655) / 5 = 0.052953
  EXPECT_NEAR(kl, 0.052953, 1e-6);
  HandBatch h;
  auto r = PolicyLoss(h.Batch(true), {.kl_beta = 0.1});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NEAR(r->kl_mean, kl, 1e-6);
  EXPECT_NEAR(r->loss, -0.456 + 0.1 * kl, 1e-6);
  // d k3 / d logp_new = 1 − p_ref/p_new, × β / T: seq 0 t2 (clipped) gets only the KL part,
  // 0.1 · (1 − .5/.7) / 5 = 0.0057143.
  EXPECT_NEAR(r->dlogp[0][2], 0.1 * (1 - .5 / .7) / 5, 1e-6);
  EXPECT_NEAR(r->dlogp[0][0], -0.24 + 0.1 * (1 - .5 / .6) / 5, 1e-6);
  EXPECT_EQ(r->dlogp[1][2], 0.0);
}

TEST(GrpoLoss, GspoSequenceRatioByHand) {
  // seq 0: mean log-ratio (ln 1.2 + ln 0.8 + ln 1.4) / 3 = 0.2956502 / 3 → s0 = 1.103570.
  // seq 1 (2 masked tokens): (ln 0.6 + ln 1.2) / 2 = −0.164252 → s1 = 0.848528.
  // With ε = 0.2 / 0.28 both are inside: loss = −(1 · s0 + (−0.5) · s1) / 2 (n = 2 sequences)
  //   = −(1.103570 − 0.424264) / 2 = −0.339653;
  // dlogp = −A · s / |y| / n: seq 0: −1.103570 / 3 / 2 = −0.183928 on every token;
  // seq 1: 0.5 · 0.848528 / 2 / 2 = 0.106066 on its two masked tokens.
  const double s0 = std::exp((std::log(1.2) + std::log(0.8) + std::log(1.4)) / 3);
  const double s1 = std::exp((std::log(0.6) + std::log(1.2)) / 2);
  EXPECT_NEAR(s0, 1.103570, 1e-6);
  EXPECT_NEAR(s1, 0.848528, 1e-6);
  HandBatch h;
  PgLossOptions o{.level = RatioLevel::kSequence, .seq_eps_low = 0.2, .seq_eps_high = 0.28};
  auto r = PolicyLoss(h.Batch(false), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NEAR(r->loss, -0.339653, 1e-6);
  EXPECT_NEAR(r->clip_fraction, 0.0, 1e-12);
  for (int t = 0; t < 3; ++t) EXPECT_NEAR(r->dlogp[0][t], -0.183928, 1e-6);
  EXPECT_NEAR(r->dlogp[1][0], 0.106066, 1e-6);
  EXPECT_NEAR(r->dlogp[1][1], 0.106066, 1e-6);
  EXPECT_EQ(r->dlogp[1][2], 0.0);
  // GSPO's own ε (3e-4 / 4e-4): s0 = 1.10 > 1.0004 with A > 0 is clipped (value 1.0004,
  // gradient 0); s1 = 0.85 < 0.9997 with A < 0 is clipped too (value −0.5 · 0.9997).
  auto tight = PolicyLoss(h.Batch(false), {.level = RatioLevel::kSequence});
  ASSERT_TRUE(tight.ok());
  EXPECT_NEAR(tight->loss, -(1.0004 - 0.5 * 0.9997) / 2, 1e-6);
  EXPECT_NEAR(tight->clip_fraction, 1.0, 1e-12);
  for (const auto& seq : tight->dlogp) {
    for (double d : seq) EXPECT_EQ(d, 0.0);
  }
}

// A random batch whose ratios stay clear of the clip edges (the loss has kinks there), so
// central differences of the returned loss must match the returned dlogp.
struct RandomBatch {
  std::vector<std::vector<float>> lp_new, lp_old, lp_ref;
  std::vector<std::vector<uint8_t>> mask;
  std::vector<float> adv;
  // spread: per-token log-ratio noise; offsets (cycled over sequences): a per-sequence shift
  // of every token's log-ratio, which places GSPO's sequence ratio inside or outside its range.
  RandomBatch(int seqs, double spread, uint64_t seed, std::vector<double> offsets = {0.0}) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-1, 1);
    for (int i = 0; i < seqs; ++i) {
      const int len = 2 + static_cast<int>(rng() % 5);
      std::vector<float> n, o, r;
      std::vector<uint8_t> m;
      for (int t = 0; t < len; ++t) {
        const double old_lp = -0.5 - 2 * std::fabs(u(rng));
        o.push_back(static_cast<float>(old_lp));
        n.push_back(static_cast<float>(old_lp + offsets[i % offsets.size()] + spread * u(rng)));
        r.push_back(static_cast<float>(old_lp + 0.3 * u(rng)));
        m.push_back(rng() % 5 == 0 ? 0 : 1);
      }
      lp_new.push_back(n);
      lp_old.push_back(o);
      lp_ref.push_back(r);
      mask.push_back(m);
      adv.push_back(static_cast<float>(u(rng)));
    }
  }
  std::vector<PgSequence> Batch() const {
    std::vector<PgSequence> b;
    for (size_t i = 0; i < adv.size(); ++i) b.push_back({lp_new[i], lp_old[i], lp_ref[i], mask[i], adv[i]});
    return b;
  }
};

// Checks dlogp against central differences for every masked token; returns how many
// tokens had a zero (clipped) and a non-zero coefficient.
void CheckGradient(RandomBatch& rb, const PgLossOptions& o, int* zero, int* nonzero, float h = 1e-3f) {
  auto base = PolicyLoss(rb.Batch(), o);
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  for (size_t i = 0; i < rb.adv.size(); ++i) {
    for (size_t t = 0; t < rb.lp_new[i].size(); ++t) {
      const float x = rb.lp_new[i][t];
      const float hi = x + h, lo = x - h;  // the step actually taken is hi − lo in float
      rb.lp_new[i][t] = hi;
      auto up = PolicyLoss(rb.Batch(), o);
      rb.lp_new[i][t] = lo;
      auto down = PolicyLoss(rb.Batch(), o);
      rb.lp_new[i][t] = x;
      ASSERT_TRUE(up.ok() && down.ok());
      const double fd = (up->loss - down->loss) / (static_cast<double>(hi) - lo);
      const double g = base->dlogp[i][t];
      EXPECT_NEAR(g, fd, 1e-6 + 1e-4 * std::fabs(fd)) << "sequence " << i << " token " << t;
      if (rb.mask[i][t] == 0) EXPECT_EQ(g, 0.0);
      // On the clipped side the loss is flat in this token's log-prob.
      if (o.kl_beta == 0 && rb.mask[i][t] != 0) ++(g == 0.0 ? *zero : *nonzero);
    }
  }
}

bool NearTokenEdge(const RandomBatch& rb, const PgLossOptions& o) {
  for (size_t i = 0; i < rb.adv.size(); ++i) {
    for (size_t t = 0; t < rb.lp_new[i].size(); ++t) {
      const double r = std::exp(static_cast<double>(rb.lp_new[i][t]) - rb.lp_old[i][t]);
      if (std::fabs(r - (1 - o.eps_low)) < 5e-3 || std::fabs(r - (1 + o.eps_high)) < 5e-3) return true;
    }
  }
  return false;
}

TEST(GrpoLoss, TokenLevelGradientMatchesFiniteDifferences) {
  for (double beta : {0.0, 0.05}) {
    int zero = 0, nonzero = 0, batches = 0;
    for (uint64_t seed = 1; batches < 4; ++seed) {
      RandomBatch rb(6, 0.5, seed);
      PgLossOptions o{.kl_beta = beta};
      if (NearTokenEdge(rb, o)) continue;
      ++batches;
      CheckGradient(rb, o, &zero, &nonzero);
    }
    if (beta == 0) {
      EXPECT_GT(zero, 3) << "no clipped tokens exercised";
      EXPECT_GT(nonzero, 10);
    }
  }
}

TEST(GrpoLoss, GspoGradientMatchesFiniteDifferences) {
  // Per-sequence log-ratio shifts of 0 (sequence ratio inside [1 − 3e-4, 1 + 4e-4]: token
  // noise ±5e-5 keeps the mean within ±5e-5) or ±2e-3 (outside: clipped for one sign of the
  // advantage, not for the other). A 1e-5 nudge of one token cannot cross an edge.
  for (double beta : {0.0, 0.05}) {
    int zero = 0, nonzero = 0;
    for (uint64_t seed = 100; seed < 104; ++seed) {
      RandomBatch rb(9, 5e-5, seed, {0.0, 2e-3, -2e-3});
      CheckGradient(rb, {.level = RatioLevel::kSequence, .kl_beta = beta}, &zero, &nonzero, 1e-5f);
    }
    if (beta == 0) {
      EXPECT_GT(zero, 0) << "no clipped sequences exercised";
      EXPECT_GT(nonzero, 0) << "no unclipped sequences exercised";
    }
  }
}

TEST(GrpoLoss, BadInputIsAnErrorNamingTheField) {
  HandBatch h;
  std::vector<PgSequence> b = h.Batch(false);
  std::vector<float> short_old = {-1.f};
  b[1].logp_old = short_old;
  auto r = PolicyLoss(b);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sequence 1: logp_old"), std::string::npos) << r.status().message();

  b = h.Batch(false);
  std::vector<float> nan_new = {-1.f, NAN, -1.f};
  b[0].logp_new = nan_new;
  r = PolicyLoss(b);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("logp_new[1]"), std::string::npos) << r.status().message();

  r = PolicyLoss(h.Batch(false), {.kl_beta = 0.1});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("logp_ref"), std::string::npos);

  r = PolicyLoss(h.Batch(false), {.eps_low = 1.5});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("eps_low"), std::string::npos);

  b = h.Batch(false);
  std::vector<uint8_t> bad_mask = {1, 2, 0};
  b[1].mask = bad_mask;
  r = PolicyLoss(b);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("mask[1]"), std::string::npos);
}

TEST(GrpoLoss, NoMaskedTokensGivesZeroLoss) {
  std::vector<float> lp = {-1.f, -2.f};
  std::vector<uint8_t> none = {0, 0};
  std::vector<PgSequence> b = {{lp, lp, {}, none, 1.f}};
  auto r = PolicyLoss(b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tokens, 0);
  EXPECT_EQ(r->loss, 0.0);
  EXPECT_EQ(r->dlogp[0][1], 0.0);
}

}  // namespace
}  // namespace tide::rl
