// The committed default model, models/swarm-s: the files a model folder needs, stored in
// bf16 under 40 MB, described by its model card, and what `tide swarm` decodes on when no
// policy or model is named.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shell.h"

namespace {

namespace fs = std::filesystem;

const fs::path kModel = fs::path(TIDE_SOURCE_DIR) / "models" / "swarm-s";

TEST(DefaultModelTest, IsACompleteBf16ModelFolderUnder40MbWithAModelCard) {
  for (const char* file : {"config.json", "model.safetensors", "tokenizer.json", "README.md"}) {
    EXPECT_TRUE(fs::exists(kModel / file)) << (kModel / file);
  }
  EXPECT_LT(fs::file_size(kModel / "model.safetensors"), 40u << 20);
  const nlohmann::json config = nlohmann::json::parse(std::ifstream(kModel / "config.json"), nullptr, false);
  ASSERT_TRUE(config.is_object());
  EXPECT_EQ(config.value("torch_dtype", ""), "bfloat16");
  EXPECT_EQ(config.value("model_type", ""), "qwen3_moe");
}

TEST(DefaultModelTest, TideSwarmDecodesOnItByDefault) {
  const fs::path dir = fs::temp_directory_path() / ("tide-default-model-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  // A short run: two coordinator turns and two sub-agent turns at most.
  std::ofstream(dir / "swarm.json") << R"({"items": 2, "max_subagents": 2, "max_coordinator_steps": 2,
                                           "max_subagent_steps": 2, "timeout_s": 300})";
  int status = 0;
  // No --policy and no --model-dir: the engine policy on the committed model.
  const std::string out = tide::e2e::Shell("env -u TIDE_MODEL_DIR " + std::string(TIDE_BIN) + " swarm --db " +
                                               (dir / "db").string() + " --config " + (dir / "swarm.json").string() +
                                               " --json 2>&1",
                                           &status);
  ASSERT_TRUE(WIFEXITED(status)) << out;
  const nlohmann::json run = tide::e2e::LastJson(out);
  ASSERT_TRUE(run.is_object()) << out;
  EXPECT_GT(run.value("tokens", 0), 0) << "the default model decoded the run's turns: " << out;
  fs::remove_all(dir);
}

}  // namespace
