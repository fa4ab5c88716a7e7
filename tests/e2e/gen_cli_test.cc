// `tide gen` through the binary: oracle data for research tasks is written as OpenAI
// fine-tuning JSONL (every line checked against the shape) with stats.json and a final
// --json line; unknown worlds and missing policy flags are named with exit code 2; on a
// terminal (faked with script(1)) a progress bar is drawn on stderr, and not otherwise.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../rl/openai_shape_check.h"
#include "shell.h"
#include "tiny_tool_model.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using nlohmann::json;

using tide::e2e::ExitCode;

std::string Gen(const std::string& args, int* status) { return tide::e2e::RunTide("gen " + args, status); }

TEST(GenCliTest, WritesVerifiedExamplesAndStats) {
  const fs::path dir = tide::e2e::FreshTempDir("tide-gen-cli-");
  int status = 0;
  const std::string out =
      Gen("--worlds research --families wide --tasks 12 --items 3 --subagents 3 --seed 4 --json --out " + (dir / "d").string() +
              " 2>/dev/null",
          &status);
  ASSERT_EQ(ExitCode(status), 0) << out;
  const json summary = json::parse(out.substr(out.rfind('{')), nullptr, false);
  ASSERT_TRUE(summary.is_object()) << out;
  EXPECT_EQ(summary["tasks"], 12);
  EXPECT_EQ(summary["kept"], 12);
  EXPECT_GT(summary["examples"].get<int>(), 12);  // a coordinator and sub-agents per run
  EXPECT_GT(summary["per_min"].get<double>(), 0);

  std::ifstream in(dir / "d" / "examples.jsonl");
  int lines = 0, coordinators = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    const json ex = json::parse(line, nullptr, false);
    ASSERT_FALSE(ex.is_discarded()) << line.substr(0, 200);
    const auto problems = tide::rl::testing::CheckOpenAiExample(ex);
    EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
    coordinators += ex["role_in_swarm"] == "coordinator";
  }
  EXPECT_EQ(lines, summary["examples"].get<int>());
  EXPECT_EQ(coordinators, 12);
  std::ifstream stats_in(dir / "d" / "stats.json");
  const json stats = json::parse(stats_in, nullptr, false);
  ASSERT_TRUE(stats.is_object());
  EXPECT_EQ(stats["kept"], 12);
  EXPECT_EQ(stats["pass_rate"], 1.0);
  EXPECT_GT(stats["tool_calls"]["search"].get<int>(), 0);
  EXPECT_GT(stats["tool_calls"]["spawn_subagents"].get<int>(), 0);

  // The same command again gives the same file.
  std::stringstream first;
  first << std::ifstream(dir / "d" / "examples.jsonl").rdbuf();
  Gen("--worlds research --families wide --tasks 12 --items 3 --subagents 3 --seed 4 --jobs 1 --out " + (dir / "d").string() +
          " >/dev/null 2>&1",
      &status);
  ASSERT_EQ(ExitCode(status), 0);
  std::stringstream second;
  second << std::ifstream(dir / "d" / "examples.jsonl").rdbuf();
  EXPECT_EQ(first.str(), second.str());
  fs::remove_all(dir);
}

TEST(GenCliTest, UnknownWorldsAndMissingFlagsAreNamed) {
  const fs::path dir = tide::e2e::FreshTempDir("tide-gen-bad-");
  int status = 0;
  std::string out = Gen("--worlds research,atlantis --tasks 2 --out " + (dir / "x").string() + " 2>&1", &status);
  EXPECT_EQ(ExitCode(status), 2) << out;
  EXPECT_THAT(out, HasSubstr("unknown world \"atlantis\" (known: research"));
  EXPECT_FALSE(fs::exists(dir / "x" / "examples.jsonl"));
  out = Gen("--tasks 2 --policy engine --out " + (dir / "x").string() + " 2>&1", &status);
  EXPECT_EQ(ExitCode(status), 2) << out;
  EXPECT_THAT(out, HasSubstr("--model-dir"));
  out = Gen("--tasks 2 --policy openai --out " + (dir / "x").string() + " 2>&1", &status);
  EXPECT_EQ(ExitCode(status), 2) << out;
  EXPECT_THAT(out, HasSubstr("--base-url"));
  out = Gen("--tasks 2 --families haiku --out " + (dir / "x").string() + " 2>&1", &status);
  EXPECT_EQ(ExitCode(status), 2) << out;
  EXPECT_THAT(out, HasSubstr("haiku"));
  out = Gen("--tasks 2 2>&1", &status);  // --out is required
  EXPECT_EQ(ExitCode(status), 2) << out;
  EXPECT_THAT(out, HasSubstr("--out"));
  fs::remove_all(dir);
}

TEST(GenCliTest, ProgressBarOnlyOnATerminal) {
  const fs::path dir = tide::e2e::FreshTempDir("tide-gen-tty-");
  const std::string cmd = std::string(TIDE_BIN) + " gen --tasks 6 --items 2 --families wide --out " + (dir / "d").string();
  int status = 0;
  std::string piped = tide::e2e::Shell(cmd + " 2>&1", &status);
  ASSERT_EQ(ExitCode(status), 0) << piped;
  EXPECT_THAT(piped, ::testing::Not(HasSubstr("tide gen [")));
  tide::e2e::Shell("script --version >/dev/null 2>&1", &status);
  if (status != 0) GTEST_SKIP() << "script(1) is missing; cannot fake a terminal";
  // script runs the command on a pseudo-terminal and copies what it wrote.
  std::string tty = tide::e2e::Shell("script -qec '" + cmd + "' /dev/null 2>&1", &status);
  ASSERT_EQ(ExitCode(status), 0) << tty;
  EXPECT_THAT(tty, HasSubstr("tide gen ["));
  EXPECT_THAT(tty, HasSubstr("6/6"));
  fs::remove_all(dir);
}

}  // namespace
