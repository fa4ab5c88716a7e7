// `tide train rl` through the binary: a real model folder trained on swarm rollouts,
// stopped after a step and resumed (its curves keep one row per step), the result a model
// folder `tide eval` opens; a bad recipe is named with exit code 2.
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

std::string Tide(const std::string& args, int* status) { return tide::e2e::RunTide(args + " 2>&1", status); }

void WriteJson(const fs::path& path, const json& j) { std::ofstream(path) << j.dump(2); }

TEST(TrainRlCliTest, StopsResumesAndLeavesAServableModel) {
  const fs::path dir = tide::e2e::FreshTempDir("tide-train-rl-");
  std::string log;
  const std::string model = tide::e2e::TrainTinyToolModel(dir, &log);
  ASSERT_FALSE(model.empty()) << log;
  const json recipe = {{"world", "research"}, {"family", "wide"},  {"items", 1},         {"max_subagents", 2},
                       {"max_coordinator_steps", 1}, {"max_subagent_steps", 1}, {"group_size", 2},
                       {"tasks_per_step", 1}, {"steps", 2},        {"max_tokens", 16},   {"lr", 1e-3},
                       {"anneal_steps", 2},  {"save_every", 1}};
  WriteJson(dir / "rl.json", recipe);
  const fs::path out = dir / "rl-out";
  const std::string base = "train rl --config " + (dir / "rl.json").string() + " --model " + model + " --out " + out.string();
  int status = 0;
  std::string first = Tide(base + " --stop-after-step 1 --json", &status);
  ASSERT_EQ(ExitCode(status), 0) << first;
  EXPECT_THAT(first, HasSubstr("\"step\":1"));
  EXPECT_TRUE(fs::exists(out / "checkpoint"));
  std::string second = Tide(base + " --json", &status);
  ASSERT_EQ(ExitCode(status), 0) << second;
  EXPECT_THAT(second, HasSubstr("\"resumed_from\":1"));
  EXPECT_THAT(second, HasSubstr("\"step\":2"));
  EXPECT_THAT(second, ::testing::Not(HasSubstr("\"step\":1,")));

  std::ifstream csv(out / "curves.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_THAT(header, HasSubstr("step,reward,success"));
  int rows = 0;
  while (std::getline(csv, line)) EXPECT_EQ(line.substr(0, 2), std::to_string(++rows) + ",");
  EXPECT_EQ(rows, 2);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "curves.png"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  std::string eval = Tide("eval --model " + out.string() + " --items 1 --seeds 9000-9000 --max-tokens 8 --json", &status);
  EXPECT_EQ(ExitCode(status), 0) << eval;
  EXPECT_THAT(eval, HasSubstr("\"episodes\":1"));
}

TEST(TrainRlCliTest, BadRecipesAreNamed) {
  const fs::path dir = tide::e2e::FreshTempDir("tide-train-rl-bad-");
  WriteJson(dir / "typo.json", {{"steps", 2}, {"group_sise", 4}});
  int status = 0;
  std::string out = Tide("train rl --config " + (dir / "typo.json").string() + " --model x --out " + (dir / "o").string(), &status);
  EXPECT_EQ(ExitCode(status), 2) << out;
  EXPECT_THAT(out, HasSubstr("group_sise"));
  WriteJson(dir / "one.json", {{"steps", 2}, {"group_size", 1}});
  out = Tide("train rl --config " + (dir / "one.json").string() + " --model x --out " + (dir / "o").string(), &status);
  EXPECT_EQ(ExitCode(status), 2) << out;
  EXPECT_THAT(out, HasSubstr("group_size"));
  WriteJson(dir / "ok.json", {{"steps", 2}});
  out = Tide("train rl --config " + (dir / "ok.json").string() + " --model " + (dir / "missing").string() + " --out " +
                 (dir / "o").string(),
             &status);
  EXPECT_NE(ExitCode(status), 0) << out;
  EXPECT_THAT(out, HasSubstr("missing"));
}

}  // namespace
