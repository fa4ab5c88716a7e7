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
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(lines[2].contains("speedup"));
  lines.pop_back();
  EXPECT_EQ(lines[0]["subagents"], 1);
  EXPECT_EQ(lines[1]["subagents"], 4);
  for (const auto& j : lines) {
    EXPECT_DOUBLE_EQ(j["item_f1"].get<double>(), 1.0);
    EXPECT_GT(j["events"].get<int>(), 0);
  }
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
