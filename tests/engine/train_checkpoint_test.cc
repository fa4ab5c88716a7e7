#include "tide/engine/train_checkpoint.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

namespace tide::engine {
namespace {

namespace fs = std::filesystem;

ModelConfig SmallConfig(int hidden) {
  ModelConfig c;
  c.vocab_size = 16;
  c.hidden_size = hidden;
  c.intermediate_size = 32;
  c.moe_intermediate_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 8;
  c.num_experts = 4;
  c.num_experts_per_tok = 2;
  return c;
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("tide_train_ckpt_" + std::to_string(getpid()));
  TempDir() { fs::remove_all(path); }
  ~TempDir() { fs::remove_all(path); }
};

// One AdamW step so the optimizer has non-trivial moments to save.
void StepOnce(ModelWeights* w, Optimizer* opt) {
  ModelWeights g = ModelWeights::Allocate(w->config);
  float x = 0.01f;
  for (NamedTensor& p : NamedParameters(g)) {
    for (float& v : p.tensor->data) v = (x += 0.001f);
  }
  ASSERT_TRUE(opt->Step(g).ok());
}

TEST(TrainCheckpoint, RoundTripRestoresWeightsOptimizerAndStep) {
  TempDir dir;
  OptimizerConfig oc;
  oc.kind = OptimizerKind::kAdamW;
  ModelWeights w = ModelWeights::Allocate(SmallConfig(16));
  w.InitRandom(1);
  Optimizer opt(oc, &w);
  StepOnce(&w, &opt);
  ASSERT_TRUE(SaveTrainCheckpoint(w, opt, 7, dir.path.string()).ok());
  EXPECT_TRUE(fs::exists(dir.path / "checkpoint" / "trainer_state.json"));
  EXPECT_FALSE(fs::exists(dir.path / "checkpoint.tmp"));

  // Continue both the original and a restored copy one more step: identical weights.
  ModelWeights other = ModelWeights::Allocate(SmallConfig(16));
  other.InitRandom(2);
  Optimizer other_opt(oc, &other);
  auto step = LoadTrainCheckpoint(dir.path.string(), oc, &other, &other_opt);
  ASSERT_TRUE(step.ok()) << step.status().ToString();
  EXPECT_EQ(*step, 7);
  EXPECT_EQ(other_opt.step(), 1);
  StepOnce(&w, &opt);
  StepOnce(&other, &other_opt);
  auto a = NamedParameters(w), b = NamedParameters(other);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].tensor->data, b[i].tensor->data) << a[i].name;

  // Saving again replaces the checkpoint whole.
  ASSERT_TRUE(SaveTrainCheckpoint(w, opt, 8, dir.path.string()).ok());
  auto again = LoadTrainCheckpoint(dir.path.string(), oc, &other, &other_opt);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 8);
}

TEST(TrainCheckpoint, NoCheckpointChangesNothing) {
  TempDir dir;
  OptimizerConfig oc;
  ModelWeights w = ModelWeights::Allocate(SmallConfig(16));
  w.InitRandom(1);
  const std::vector<float> before = w.lm_head.data;
  Optimizer opt(oc, &w);
  auto step = LoadTrainCheckpoint(dir.path.string(), oc, &w, &opt);
  ASSERT_TRUE(step.ok());
  EXPECT_EQ(*step, 0);
  EXPECT_EQ(w.lm_head.data, before);
}

TEST(TrainCheckpoint, CorruptStateAndOtherShapeAreErrors) {
  TempDir dir;
  OptimizerConfig oc;
  ModelWeights w = ModelWeights::Allocate(SmallConfig(16));
  w.InitRandom(1);
  Optimizer opt(oc, &w);
  ASSERT_TRUE(SaveTrainCheckpoint(w, opt, 3, dir.path.string()).ok());

  ModelWeights wide = ModelWeights::Allocate(SmallConfig(32));
  Optimizer wide_opt(oc, &wide);
  auto shape = LoadTrainCheckpoint(dir.path.string(), oc, &wide, &wide_opt);
  ASSERT_FALSE(shape.ok());
  EXPECT_EQ(shape.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(shape.status().message().find("another shape"), std::string::npos);

  std::ofstream(dir.path / "checkpoint" / "trainer_state.json", std::ios::trunc) << "{\"step\": \"x\"";
  auto corrupt = LoadTrainCheckpoint(dir.path.string(), oc, &w, &opt);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(corrupt.status().message().find("trainer_state.json"), std::string::npos);
}

}  // namespace
}  // namespace tide::engine
