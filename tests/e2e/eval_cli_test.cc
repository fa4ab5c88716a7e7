// `tide eval` through the binary: the oracle on held-out wide tasks, swarm and single mode
// (same success, fewer critical steps for the swarm), per-episode JSONL, the human table,
// bad flags named with exit code 2, and a real model folder evaluated (its episodes are
// counted whether or not the tiny model can hold the task in its context).
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shell.h"
#include "tiny_tool_model.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using nlohmann::json;

using tide::e2e::ExitCode;

std::string Eval(const std::string& args, int* status) { return tide::e2e::RunTide("eval " + args, status); }

using tide::e2e::LastJson;

TEST(EvalCliTest, OracleSwarmAgainstSingle) {
  const fs::path dir = tide::e2e::FreshTempDir("tide-eval-cli-");
  int status = 0;
  const std::string swarm_out = Eval("--policy oracle --items 10 --seeds 9000-9003 --mode swarm --json --episodes-out " +
                                         (dir / "episodes.jsonl").string() + " 2>&1",
                                     &status);
  ASSERT_EQ(ExitCode(status), 0) << swarm_out;
  const json swarm = LastJson(swarm_out);
  ASSERT_TRUE(swarm.is_object()) << swarm_out;
  EXPECT_EQ(swarm["eval"], "swarm");
  EXPECT_EQ(swarm["seeds"], "9000-9003");
  EXPECT_EQ(swarm["episodes"], 4);
  EXPECT_EQ(swarm["success"], 1.0);
  EXPECT_EQ(swarm["item_f1"], 1.0);
  EXPECT_EQ(swarm["spawn_rate"], 1.0);
  EXPECT_EQ(swarm["failed_runs"], 0);
  EXPECT_EQ(swarm["max_subagents"], 10);
  EXPECT_GT(swarm["wall_s"].get<double>(), 0);

  std::ifstream in(dir / "episodes.jsonl");
  int rows = 0;
  for (std::string line; std::getline(in, line); ++rows) {
    const json row = json::parse(line, nullptr, false);
    ASSERT_TRUE(row.is_object()) << line;
    EXPECT_EQ(row["seed"], 9000 + rows);
    EXPECT_EQ(row["status"], "ok");
    EXPECT_EQ(row["success"], true);
  }
  EXPECT_EQ(rows, 4);

  const json single = LastJson(Eval("--policy oracle --items 10 --seeds 9000-9003 --mode single --json 2>&1", &status));
  ASSERT_EQ(ExitCode(status), 0);
  EXPECT_EQ(single["mode"], "single");
  EXPECT_EQ(single["max_subagents"], 1);
  EXPECT_EQ(single["success"], 1.0);
  EXPECT_LT(swarm["critical_steps"].get<double>(), single["critical_steps"].get<double>());

  const std::string table = Eval("--policy oracle --items 4 --seeds 7 2>&1", &status);
  EXPECT_EQ(ExitCode(status), 0) << table;
  EXPECT_THAT(table, HasSubstr("seeds 7-7"));
  EXPECT_THAT(table, HasSubstr("success          1.000"));
  EXPECT_THAT(table, HasSubstr("critical_steps"));
}

TEST(EvalCliTest, BadFlagsAreNamed) {
  const std::pair<std::string, std::string> cases[] = {
      {"--policy oracle --seeds 9-3", "--seeds"},
      {"--policy oracle --seeds nine", "--seeds"},
      {"--policy oracle --seeds 1-2 --mode duo", "--mode"},
      {"--policy oracle --seeds 1-2 --family narrow", "--family"},
      {"--policy oracle --seeds 1-2 --world atlantis", "--world"},
      {"--policy oracle --seeds 1-2 --items 0", "--items"},
      {"--policy oracle --seeds 1-2 --jobs -1", "--jobs"},
      {"--policy oracle --seeds 1-2 --max-subagents 101", "--max-subagents"},
      {"--seeds 1-2", "--model / --policy"},
      {"--policy teacher --seeds 1-2", "--policy"},
      {"--model /nonexistent/model --seeds 1-2", "--model /nonexistent/model"},
  };
  for (const auto& [args, flag] : cases) {
    int status = 0;
    const std::string out = Eval(args + " 2>&1", &status);
    EXPECT_EQ(ExitCode(status), 2) << args << "\n" << out;
    EXPECT_THAT(out, HasSubstr(flag)) << args;
  }
}

TEST(EvalCliTest, EvaluatesAModelFolder) {
  const fs::path dir = tide::e2e::FreshTempDir("tide-eval-model-");
  std::string log;
  const std::string model = tide::e2e::TrainTinyToolModel(dir, &log);
  ASSERT_FALSE(model.empty()) << log;
  int status = 0;
  const std::string out = Eval("--model " + model + " --items 2 --seeds 9000-9001 --max-tokens 32 --max-coordinator-steps 2 "
                               "--max-subagent-steps 2 --json 2>&1",
                               &status);
  ASSERT_EQ(ExitCode(status), 0) << out;
  const json r = LastJson(out);
  ASSERT_TRUE(r.is_object()) << out;
  EXPECT_EQ(r["policy"], "engine");
  EXPECT_EQ(r["model"], "tiny-tools");
  EXPECT_EQ(r["episodes"], 2);
  // The model was trained on one toy turn: it cannot solve a research task, and a task
  // longer than its context fails the run; either way every episode is counted.
  EXPECT_EQ(r["success"], 0.0);
  EXPECT_GE(r["failed_runs"].get<int>(), 0);
  EXPECT_LE(r["failed_runs"].get<int>(), 2);
  EXPECT_EQ(r["constrained_tool_calls"], true);
  const std::string free_out = Eval("--model " + model + " --items 2 --seeds 9000-9000 --max-tokens 16 --max-coordinator-steps 1 "
                                    "--free-tool-calls --json 2>&1",
                                    &status);
  ASSERT_EQ(ExitCode(status), 0) << free_out;
  EXPECT_EQ(LastJson(free_out)["constrained_tool_calls"], false);
}

}  // namespace
