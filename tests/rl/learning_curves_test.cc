// Learning curves: rows written are read back (non-finite values as empty fields), a
// resumed run drops the rows after its checkpoint's step and goes on from there, a torn
// last line is ignored, mismatched columns are named, and gnuplot draws a real PNG.
#include "tide/rl/learning_curves.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tide::rl {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

fs::path TempDir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("tide-curves-" + name + "-" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

const std::vector<std::string> kColumns = {"reward", "success", "spawn_rate", "critical_steps", "loss", "update_ms"};

std::vector<double> Values(int step) {
  const double s = step;
  return {s / 10, s > 3 ? 1.0 : 0.0, 0.1 * s, 20 - s, 2.0 / (1 + s), 5 + s};
}

TEST(LearningCurves, RowsAreWrittenAndReadBack) {
  const fs::path csv = TempDir("rows") / "curves.csv";
  {
    auto w = CurveWriter::Open(csv.string(), kColumns);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (int step = 1; step <= 5; ++step) ASSERT_TRUE((*w)->Append(step, Values(step)).ok());
    ASSERT_TRUE((*w)->Append(6, {0.5, 1, 0.2, 3, std::nan(""), 7}).ok());
    // Flushed per row: readable while the writer is still open.
    auto mid = ReadCurves(csv.string());
    ASSERT_TRUE(mid.ok()) << mid.status().ToString();
    EXPECT_EQ(mid->rows.size(), 6u);
    EXPECT_EQ((*w)->Append(6, Values(6)).code(), StatusCode::kInvalidArgument);  // not after the last step
    EXPECT_EQ((*w)->Append(7, {1.0}).code(), StatusCode::kInvalidArgument);      // wrong width
  }
  auto t = ReadCurves(csv.string());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->columns, kColumns);
  ASSERT_EQ(t->rows.size(), 6u);
  EXPECT_EQ(t->rows[2].step, 3);
  EXPECT_EQ(t->rows[2].values, Values(3));
  EXPECT_TRUE(std::isnan(t->rows[5].values[4]));
  EXPECT_EQ(t->rows[5].values[5], 7);
  std::ifstream in(csv);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "step,reward,success,spawn_rate,critical_steps,loss,update_ms");

  EXPECT_EQ(CurveWriter::Open(csv.string(), {"bad,name"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadCurves((csv.parent_path() / "missing.csv").string()).status().code(), StatusCode::kNotFound);
}

TEST(LearningCurves, ResumeDropsStepsAfterTheCheckpoint) {
  const fs::path csv = TempDir("resume") / "curves.csv";
  {
    auto w = CurveWriter::Open(csv.string(), kColumns);
    ASSERT_TRUE(w.ok());
    for (int step = 1; step <= 8; ++step) ASSERT_TRUE((*w)->Append(step, Values(step)).ok());
  }
  // Killed mid-row: a torn line without its newline.
  { std::ofstream(csv, std::ios::app) << "9,0.9,1,0."; }
  auto bad = CurveWriter::Open(csv.string(), {"reward", "loss"}, 5);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("differ"));

  // The last checkpoint was step 5: rows 6..8 (and the torn one) go, the run goes on at 6.
  auto w = CurveWriter::Open(csv.string(), kColumns, 5);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ((*w)->last_step(), 5);
  EXPECT_EQ((*w)->rows(), 5u);
  EXPECT_EQ((*w)->Append(5, Values(5)).code(), StatusCode::kInvalidArgument);
  for (int step = 6; step <= 7; ++step) ASSERT_TRUE((*w)->Append(step, Values(step)).ok());
  auto t = ReadCurves(csv.string());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->rows.size(), 7u);
  for (size_t i = 0; i < t->rows.size(); ++i) EXPECT_EQ(t->rows[i].step, static_cast<int64_t>(i) + 1);

  // A fresh run (no resume step) replaces the file.
  w->reset();
  auto fresh = CurveWriter::Open(csv.string(), kColumns);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)->rows(), 0u);
  EXPECT_EQ(ReadCurves(csv.string())->rows.size(), 0u);
}

bool HaveGnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

TEST(LearningCurves, RendersAPng) {
  const fs::path dir = TempDir("png");
  const fs::path csv = dir / "curves.csv", png = dir / "curves.png";
  {
    auto w = CurveWriter::Open(csv.string(), kColumns);
    ASSERT_TRUE(w.ok());
    for (int step = 1; step <= 30; ++step) ASSERT_TRUE((*w)->Append(step, Values(step)).ok());
  }
  if (!HaveGnuplot()) {
    EXPECT_EQ(RenderCurvesPng(csv.string(), png.string(), "t").code(), StatusCode::kFailedPrecondition);
    GTEST_SKIP() << "gnuplot is not installed (Debian package gnuplot-nox)";
  }
  Status s = RenderCurvesPng(csv.string(), png.string(), "swarm-s RL (test)");
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::ifstream in(png, std::ios::binary);
  std::string head(8, '\0');
  in.read(head.data(), 8);
  EXPECT_EQ(head, std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_GT(fs::file_size(png), 8000u);

  // A CSV with only a header has nothing to draw.
  const fs::path empty = dir / "empty.csv";
  ASSERT_TRUE(CurveWriter::Open(empty.string(), kColumns).ok());
  EXPECT_EQ(RenderCurvesPng(empty.string(), (dir / "e.png").string(), "t").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(RenderCurvesPng(csv.string(), (dir / "it's.png").string(), "t").code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tide::rl
