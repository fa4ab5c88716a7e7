// End to end through the `tide` binary: swarms → exported trajectories → a trained model →
// generated text, and clear errors for bad input on the way.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shell.h"

namespace {

namespace fs = std::filesystem;

// Standard output and error together.
std::string Run2(const std::string& cmd, int* status) { return tide::e2e::Shell(cmd + " 2>&1", status); }

TEST(TrainCliTest, SwarmsExportTrainAndGenerate) {
  const fs::path dir = fs::temp_directory_path() / ("tide-train-cli-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string tide = TIDE_BIN, db = (dir / "db").string(), data = (dir / "sft.jsonl").string();
  int status = 0;
  for (int seed = 1; seed <= 4; ++seed) {
    std::string out = Run2(tide + " swarm --policy oracle --db " + db + " --seed " + std::to_string(seed) + " --items 4 --subagents 2 --json", &status);
    ASSERT_EQ(status, 0) << out;
  }
  std::string out = Run2(tide + " runs export --db " + db + " --last 4 --out " + data, &status);
  ASSERT_EQ(status, 0) << out;
  const nlohmann::json exported = nlohmann::json::parse(out);
  EXPECT_EQ(exported["runs"], 4);
  EXPECT_EQ(exported["examples"], 12) << "a coordinator and two sub-agents per run";
  {
    std::ifstream in(data);
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    const nlohmann::json ex = nlohmann::json::parse(line);
    EXPECT_TRUE(ex["messages"].is_array());
    EXPECT_TRUE(ex["tools"].is_array());
    EXPECT_TRUE(ex.contains("role_in_swarm"));
  }

  const std::string recipe = (dir / "recipe.json").string();
  {
    std::ofstream r(recipe);
    r << R"({"model": ")" << TIDE_SOURCE_DIR << R"(/configs/models/tiny.json", "seq_len": 32, "batch_windows": 2,
            "steps": 12, "warmup_steps": 2, "lr": 0.003, "optimizer": "adamw", "eval_fraction": 0.1,
            "save_every": 6})";
  }
  const std::string model = (dir / "model").string();
  out = Run2(tide + " train lm --config " + recipe + " --data " + data + " --out " + model + " --json", &status);
  ASSERT_EQ(status, 0) << out;
  const nlohmann::json trained = nlohmann::json::parse(out.substr(out.rfind('{')));
  EXPECT_EQ(trained["steps"], 12);
  EXPECT_LT(trained["final_loss"].get<double>(), trained["first_loss"].get<double>());
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "checkpoint/optimizer.safetensors"}) {
    EXPECT_TRUE(fs::exists(fs::path(model) / f)) << f;
  }
  // Running it again finds the finished checkpoint and does no more steps.
  out = Run2(tide + " train lm --config " + recipe + " --data " + data + " --out " + model + " --json", &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out.substr(out.rfind('{')))["resumed_from"], 12);

  out = Run2(tide + " generate --model " + model + " --prompt 'Find the columns' --max-tokens 8", &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(out.rfind("Find the columns", 0), 0u) << out;
  EXPECT_GT(out.size(), std::string("Find the columns\n").size()) << "it generated something";

  // Bad input: named, non-zero, no crash.
  {
    std::ofstream bad(dir / "bad.jsonl");
    bad << "{\"text\": \"ok\"}\n{\"text\": 5}\n";
  }
  out = Run2(tide + " train lm --config " + recipe + " --data " + (dir / "bad.jsonl").string() + " --out " +
                (dir / "m2").string(),
            &status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << out;
  EXPECT_NE(out.find("bad.jsonl:2"), std::string::npos) << out;
  out = Run2(tide + " train lm --config " + (dir / "missing.json").string() + " --data " + data + " --out " + model, &status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << out;
  EXPECT_NE(out.find("missing.json"), std::string::npos) << out;
  out = Run2(tide + " generate --model " + (dir / "nope").string() + " --prompt x", &status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << out;
  fs::remove_all(dir);
}

// SFT on `tide gen` data: the recipe names its data, the held-out file comes from other
// seeds, and the loss counts assistant tokens only (the trainer's contract, tested in
// lm_data_test); here the command's wiring and its errors.
TEST(TrainCliTest, SftOnGeneratedDataWithHeldOutSeeds) {
  const fs::path dir = fs::temp_directory_path() / ("tide-train-sft-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string tide = TIDE_BIN;
  int status = 0;
  std::string out = Run2(tide + " gen --worlds research,api --tasks 6 --seed 1 --no-progress --out " + (dir / "train").string(), &status);
  ASSERT_EQ(status, 0) << out;
  out = Run2(tide + " gen --worlds research,api --tasks 2 --seed 9000 --no-progress --out " + (dir / "eval").string(), &status);
  ASSERT_EQ(status, 0) << out;
  const std::string recipe = (dir / "sft.json").string();
  {
    std::ofstream r(recipe);
    r << R"({"model": ")" << TIDE_SOURCE_DIR << R"(/configs/models/tiny.json", "data": "train/examples.jsonl",
            "eval_data": "eval/examples.jsonl", "seq_len": 64, "batch_windows": 2, "steps": 6,
            "warmup_steps": 1, "lr": 0.003, "optimizer": "adamw"})";
  }
  const std::string model = (dir / "model").string();
  out = Run2(tide + " train sft --config " + recipe + " --out " + model + " --json", &status);
  ASSERT_EQ(status, 0) << out;
  const nlohmann::json trained = nlohmann::json::parse(out.substr(out.rfind('{')));
  EXPECT_EQ(trained["steps"], 6);
  EXPECT_GT(trained["eval_windows"].get<int>(), 0) << "the held-out file, not a slice of the data";
  EXPECT_GT(trained["eval_loss"].get<double>(), 0);
  EXPECT_TRUE(fs::exists(fs::path(model) / "model.safetensors"));

  // No data anywhere, and a missing held-out file: named, exit 2.
  {
    std::ofstream r(dir / "nodata.json");
    r << R"({"model": ")" << TIDE_SOURCE_DIR << R"(/configs/models/tiny.json", "steps": 1})";
  }
  out = Run2(tide + " train sft --config " + (dir / "nodata.json").string() + " --out " + (dir / "m2").string(), &status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << out;
  EXPECT_NE(out.find("no training data"), std::string::npos) << out;
  out = Run2(tide + " train sft --config " + recipe + " --eval-data " + (dir / "missing.jsonl").string() + " --out " +
                 (dir / "m3").string(),
             &status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << out;
  EXPECT_NE(out.find("missing.jsonl"), std::string::npos) << out;

  // Fine-tuning from the trained model (init_model): it starts where that run ended, not
  // from a random model's loss; a model of another config is refused, named.
  {
    std::ofstream r(dir / "more.json");
    r << R"({"model": ")" << TIDE_SOURCE_DIR << R"(/configs/models/tiny.json", "data": "train/examples.jsonl",
            "eval_data": "eval/examples.jsonl", "init_model": "model", "seq_len": 64, "batch_windows": 2,
            "steps": 2, "lr": 0.001, "optimizer": "adamw"})";
  }
  out = Run2(tide + " train sft --config " + (dir / "more.json").string() + " --out " + (dir / "more").string() + " --json",
             &status);
  ASSERT_EQ(status, 0) << out;
  const nlohmann::json more = nlohmann::json::parse(out.substr(out.rfind('{')));
  const double start = more["first_loss"].get<double>();
  EXPECT_LT(std::abs(start - trained["final_loss"].get<double>()), std::abs(start - trained["first_loss"].get<double>()))
      << out;
  {
    std::ofstream r(dir / "other.json");
    r << R"({"model": ")" << TIDE_SOURCE_DIR << R"(/configs/models/swarm-s.json", "data": "train/examples.jsonl",
            "init_model": "model", "tokenizer": "model/tokenizer.json", "steps": 1})";
  }
  out = Run2(tide + " train sft --config " + (dir / "other.json").string() + " --out " + (dir / "m4").string(), &status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << out;
  EXPECT_NE(out.find("init_model"), std::string::npos) << out;
  fs::remove_all(dir);
}

}  // namespace
