#include "tide/bench/bench.h"

#include <gtest/gtest.h>

namespace tide::bench {
namespace {

TEST(BenchTest, RmsNormReportsBothPathsAndTheirRatio) {
  std::vector<nlohmann::json> lines;
  BenchOptions o;
  o.quick = true;
  o.min_seconds = 0.01;
  ASSERT_TRUE(RunBench("rmsnorm", o, [&](const nlohmann::json& j) { lines.push_back(j); }).ok());
  ASSERT_EQ(lines.size(), 1u);
  const auto& j = lines[0];
  EXPECT_GT(j["fast_us"].get<double>(), 0);
  EXPECT_GT(j["reference_us"].get<double>(), 0);
  EXPECT_NEAR(j["speedup"].get<double>(), j["reference_us"].get<double>() / j["fast_us"].get<double>(), 1e-9);
  EXPECT_TRUE(j.contains("baseline"));
}

TEST(BenchTest, SwarmBenchRunsRealSwarms) {
  std::vector<nlohmann::json> lines;
  BenchOptions o;
  o.quick = true;
  ASSERT_TRUE(RunBench("swarm", o, [&](const nlohmann::json& j) { lines.push_back(j); }).ok());
  ASSERT_EQ(lines.size(), 1u);
  const auto& j = lines[0];
  EXPECT_EQ(j["bench"], "swarm_wide");
  EXPECT_EQ(j["single"]["subagents"], 1);
  EXPECT_EQ(j["swarm"]["subagents"], 4);
  EXPECT_DOUBLE_EQ(j["single"]["item_f1"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["swarm"]["item_f1"].get<double>(), 1.0);
  // Four sub-agents split 8 items: each does a quarter of the single agent's steps.
  EXPECT_GT(j["single"]["critical_steps"].get<double>(), j["swarm"]["critical_steps"].get<double>());
  EXPECT_NEAR(j["critical_steps_ratio"].get<double>(),
              j["single"]["critical_steps"].get<double>() / j["swarm"]["critical_steps"].get<double>(), 1e-9);
}

TEST(BenchTest, UnknownBenchmarkIsNamed) {
  Status s = RunBench("nope", {}, [](const nlohmann::json&) {});
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("nope"), std::string::npos);
  EXPECT_NE(s.message().find("rmsnorm"), std::string::npos);
}

TEST(BenchTest, MedianSecondsMeasuresWork) {
  volatile double sink = 0;
  const double fast = MedianSeconds([&] { sink = sink + 1; }, 0.01);
  const double slow = MedianSeconds([&] { for (int i = 0; i < 200000; ++i) sink = sink + i; }, 0.01);
  EXPECT_GT(slow, fast);
}

}  // namespace
}  // namespace tide::bench
