// `tide bench engine --quick --json` through the binary: every line the issue names
// (copy, gemm_f32 against OpenBLAS timed in a child process, decode, train) is present,
// well-formed, and its ratios are the ratios of its own fields.
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shell.h"

namespace {

TEST(BenchCliTest, EngineBenchPrintsEveryLine) {
  int status = 0;
  const std::string out =
      tide::e2e::Shell(std::string(TIDE_BIN) + " bench engine --quick --json --min-seconds 0.01", &status);
  ASSERT_EQ(status, 0) << out;
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  auto find = [&](const std::string& bench) {
    for (const auto& j : lines) {
      if (j["bench"] == bench) return j;
    }
    ADD_FAILURE() << "no " << bench << " line in:\n" << out;
    return nlohmann::json::object();
  };
  const nlohmann::json gemm = find("gemm_f32"), decode = find("decode"), train = find("train");
  EXPECT_GT(find("copy")["gbps"].get<double>(), 0);
  ASSERT_TRUE(gemm.contains("openblas_gflops")) << gemm.dump();
  EXPECT_NEAR(gemm["ratio"].get<double>(), gemm["gflops"].get<double>() / gemm["openblas_gflops"].get<double>(), 1e-9);
  EXPECT_GT(decode["tokens_per_s"].get<double>(), 0);
  EXPECT_NEAR(decode["ratio"].get<double>(), decode["weight_gbps"].get<double>() / decode["copy_gbps"].get<double>(),
              1e-9);
  EXPECT_EQ(train["config"], "tiny");
  EXPECT_GT(train["tokens_per_s"].get<double>(), 0);
  EXPECT_GT(train["gflops"].get<double>(), 0);
}

TEST(BenchCliTest, MissingModelConfigIsNamed) {
  int status = 0;
  const std::string out = tide::e2e::Shell(
      std::string(TIDE_BIN) + " bench train --quick --json --model-config /nonexistent/cfg.json 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("/nonexistent/cfg.json"), std::string::npos) << out;
}

}  // namespace
