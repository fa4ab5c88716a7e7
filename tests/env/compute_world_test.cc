#include "tide/env/compute_world.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

std::unique_ptr<ComputeEpisode> Reset(uint64_t seed, int items = 20, int hops = 0, int distractors = -1) {
  TaskParams p;
  p.seed = seed;
  p.items = items;
  p.hops = hops;
  p.distractors = distractors;
  Result<std::unique_ptr<ComputeEpisode>> e = ComputeWorld().ResetCompute(p);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

TEST(ComputeWorldTest, SameSeedSameWorldTaskAndAnswer) {
  auto a = Reset(21), b = Reset(21);
  EXPECT_EQ(a->prompt(), b->prompt());
  EXPECT_EQ(a->public_task(), b->public_task());
  EXPECT_EQ(a->gold().value, b->gold().value);
  ASSERT_EQ(a->data().series.size(), b->data().series.size());
  for (size_t i = 0; i < a->data().series.size(); ++i) EXPECT_EQ(a->data().series[i].values, b->data().series[i].values);
  EXPECT_NE(Reset(22)->prompt(), a->prompt());
}

TEST(ComputeWorldTest, KnobsShapeTheChain) {
  for (int hops : {1, 2, 3}) {
    auto e = Reset(4, 6, hops, 0);
    const ComputeSpec& s = e->spec();
    // 6 series steps, the total, then the hops (subtracting costs takes two steps).
    int series = 0;
    for (const ComputeStep& step : s.steps) series += !step.series.empty();
    EXPECT_GE(series, 6);
    EXPECT_LE(s.steps.size(), 6u + 1 + 4);
    EXPECT_EQ(e->public_task()["hops"], hops);
    EXPECT_EQ(e->data().series.size(), 7u);  // 6 regions and the costs, no decoys
  }
  EXPECT_EQ(Reset(4, 6, 2, 10)->data().series.size() > 7u, true);
  auto one = Reset(8, 1, 1, 0);
  EXPECT_EQ(one->spec().steps.front().var, "a1");
}

TEST(ComputeWorldTest, GoldHandRecomputedFromTheData) {
  // Recompute the gold the long way for a one-series, one-hop task.
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    auto e = Reset(seed, 1, 1, 0);
    const ComputeSpec& s = e->spec();
    const ComputeStep& a = s.steps[0];
    std::vector<double> v = *e->data().Range(a.series, a.from, a.to);
    double x = 0;
    if (a.op == "sum" || a.op == "average") {
      for (double y : v) x += y;
      if (a.op == "average") x /= static_cast<double>(v.size());
    } else {
      x = a.op == "max" ? *std::max_element(v.begin(), v.end()) : *std::min_element(v.begin(), v.end());
    }
    const ComputeStep& last = s.steps.back();
    if (last.op == "div") x /= 1.0;
    if (last.op == "convert") x *= *e->data().Rate("USD", last.currency_to, last.rate_period);
    if (last.op == "sub") {
      std::vector<double> c = *e->data().Range(s.steps[1].series, a.from, a.to);
      double cx = 0;
      if (a.op == "sum" || a.op == "average") {
        for (double y : c) cx += y;
        if (a.op == "average") cx /= static_cast<double>(c.size());
      } else {
        cx = a.op == "max" ? *std::max_element(c.begin(), c.end()) : *std::min_element(c.begin(), c.end());
      }
      x -= cx;
    }
    EXPECT_NEAR(std::stod(e->gold().value), x, 1e-5) << "seed " << seed;
  }
}

TEST(ComputeWorldTest, VerifyWithToleranceAndWrongAnswers) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    auto e = Reset(seed, 5);
    EXPECT_DOUBLE_EQ(e->Verify(e->GoldAnswer()).reward, 1.0);
    const double g = std::stod(e->gold().value);
    char rounded[64];
    std::snprintf(rounded, sizeof(rounded), "%.2f", g);
    EXPECT_TRUE(e->Verify(FormatScalarAnswer(std::stod(rounded))).success) << rounded << " vs " << g;
    EXPECT_LT(e->Verify(FormatScalarAnswer(g * 1.01 + 1)).reward, 1.0);
    EXPECT_EQ(e->Verify("no idea").reward, 0.0);
  }
}

TEST(ComputeWorldTest, RatesAndRangesAndBadParams) {
  auto e = Reset(3);
  const CompanyData& d = e->data();
  EXPECT_DOUBLE_EQ(*d.Rate("USD", "USD", "2024-01"), 1.0);
  EXPECT_NEAR(*d.Rate("EUR", "GBP", "2023-05") * *d.Rate("GBP", "EUR", "2023-05"), 1.0, 1e-12);
  EXPECT_EQ(d.Rate("USD", "XYZ", "2023-05").status().code(), StatusCode::kNotFound);
  EXPECT_NE(d.Rate("USD", "EUR", "2025-01").status().message().find("period"), std::string::npos);
  EXPECT_EQ(d.Range(d.series[0].name, "2023-01", "2024-12")->size(), 24u);
  EXPECT_NE(d.Range(d.series[0].name, "2023-05", "2023-02").status().message().find("after"), std::string::npos);
  EXPECT_EQ(ComputePeriod(13), "2024-02");
  EXPECT_EQ(ComputePeriodIndex("2024-02"), 13);
  EXPECT_EQ(ComputePeriodIndex("2022-12"), -1);

  ComputeWorld w;
  TaskParams p;
  p.hops = 4;
  EXPECT_NE(w.Reset(p).status().message().find("hops"), std::string::npos);
  p.hops = 0;
  p.family = "wide";
  EXPECT_NE(w.Reset(p).status().message().find("known: chain"), std::string::npos);
  p.family = "";
  p.columns = 1;
  EXPECT_NE(w.Reset(p).status().message().find("columns"), std::string::npos);
  p.columns = 0;
  p.items = 201;
  EXPECT_NE(w.Reset(p).status().message().find("items"), std::string::npos);
}

}  // namespace
}  // namespace tide::env
