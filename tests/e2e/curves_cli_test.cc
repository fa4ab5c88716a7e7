// `tide train curves` through the binary: a CSV as rl::CurveWriter writes it becomes a PNG
// (when gnuplot is installed); a missing CSV is named with exit code 2.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "shell.h"
#include "tiny_tool_model.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using tide::e2e::ExitCode;

TEST(CurvesCliTest, DrawsThePng) {
  const fs::path dir = tide::e2e::FreshTempDir("tide-curves-cli-");
  {
    std::ofstream csv(dir / "curves.csv");
    csv << "step,reward,success,spawn_rate,critical_steps\n";
    for (int s = 1; s <= 20; ++s) csv << s << "," << s * 0.04 << "," << (s > 10) << "," << s * 0.05 << "," << 30 - s << "\n";
  }
  int status = 0;
  const std::string base = std::string(TIDE_BIN) + " train curves --csv ";
  std::string out = tide::e2e::Shell(base + (dir / "missing.csv").string() + " --png " + (dir / "x.png").string() + " 2>&1", &status);
  EXPECT_EQ(ExitCode(status), 2) << out;
  EXPECT_THAT(out, HasSubstr("missing.csv"));
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) GTEST_SKIP() << "gnuplot is not installed (gnuplot-nox)";
  out = tide::e2e::Shell(base + (dir / "curves.csv").string() + " --png " + (dir / "curves.png").string() + " --title run 2>&1", &status);
  ASSERT_EQ(ExitCode(status), 0) << out;
  std::ifstream in(dir / "curves.png", std::ios::binary);
  std::string head(4, '\0');
  in.read(head.data(), 4);
  EXPECT_EQ(head, "\x89PNG");
  EXPECT_GT(fs::file_size(dir / "curves.png"), 5000u);
}

}  // namespace
