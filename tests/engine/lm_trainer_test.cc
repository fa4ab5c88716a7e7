#include "tide/engine/lm_trainer.h"

#include <filesystem>
#include <random>

#include <gtest/gtest.h>
#include <unistd.h>

namespace tide::engine {
namespace {

namespace fs = std::filesystem;

ModelConfig TinyConfig() {
  ModelConfig c;
  c.vocab_size = 16;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.moe_intermediate_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.num_experts = 4;
  c.num_experts_per_tok = 2;
  c.rope_theta = 10000.f;
  return c;
}

// Reverse task: "x1 .. x5 SEP x5 .. x1", learned only on the reversed half.
std::vector<LmWindow> ReverseWindows(int count, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::vector<LmWindow> out;
  for (int i = 0; i < count; ++i) {
    std::vector<int32_t> seq;
    for (int k = 0; k < 5; ++k) seq.push_back(2 + static_cast<int32_t>(rng() % 12));
    seq.push_back(1);
    for (int k = 4; k >= 0; --k) seq.push_back(seq[k]);
    LmWindow w;
    w.inputs.assign(seq.begin(), seq.end() - 1);
    w.targets.assign(seq.begin() + 1, seq.end());
    for (size_t t = 0; t < w.targets.size(); ++t) w.weights.push_back(t >= 5 ? 1.f : 0.f);
    out.push_back(std::move(w));
  }
  return out;
}

// The windows back to back in one window, each its own segment.
LmWindow OneWindowOfSegments(const std::vector<LmWindow>& apart) {
  LmWindow packed;
  for (const LmWindow& a : apart) {
    packed.inputs.insert(packed.inputs.end(), a.inputs.begin(), a.inputs.end());
    packed.targets.insert(packed.targets.end(), a.targets.begin(), a.targets.end());
    packed.weights.insert(packed.weights.end(), a.weights.begin(), a.weights.end());
    packed.segments.push_back(static_cast<int32_t>(a.inputs.size()));
  }
  return packed;
}

class LmTrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tide-lm-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

LmTrainOptions Options(int steps) {
  LmTrainOptions o;
  o.steps = steps;
  o.batch_windows = 8;
  o.warmup_steps = 10;
  o.optimizer.kind = OptimizerKind::kAdamW;
  o.optimizer.lr = 1e-2f;
  o.optimizer.weight_decay = 0.f;
  o.seed = 3;
  return o;
}

TEST_F(LmTrainerTest, LearnsToReverseDeterministically) {
  const std::vector<LmWindow> train = ReverseWindows(256, 1), eval = ReverseWindows(32, 2);
  ModelWeights w = ModelWeights::Allocate(TinyConfig());
  w.InitRandom(11);
  const float before = EvalLoss(&w, eval).value();
  Result<LmTrainResult> r = TrainLm(&w, train, eval, Options(200), (dir_ / "a").string(), nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Chance is ln(12) ≈ 2.48 per reversed token; the bound is well under it.
  EXPECT_GT(before, 2.2f);
  EXPECT_LT(r->eval_loss, 1.5f) << "first " << r->first_loss << " final " << r->final_loss;
  // Same seed, same data: the same numbers.
  ModelWeights w2 = ModelWeights::Allocate(TinyConfig());
  w2.InitRandom(11);
  Result<LmTrainResult> r2 = TrainLm(&w2, train, eval, Options(200), (dir_ / "b").string(), nullptr);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->eval_loss, r->eval_loss);
  EXPECT_EQ(w2.embed_tokens.data, w.embed_tokens.data);
  EXPECT_TRUE(fs::exists(dir_ / "a" / "model.safetensors"));
  EXPECT_TRUE(fs::exists(dir_ / "a" / "checkpoint" / "optimizer.safetensors"));
}

TEST_F(LmTrainerTest, ResumesAStoppedRunExactly) {
  const std::vector<LmWindow> train = ReverseWindows(64, 1);
  for (OptimizerKind kind : {OptimizerKind::kAdamW, OptimizerKind::kMuon}) {
    LmTrainOptions o = Options(12);
    o.optimizer.kind = kind;
    ModelWeights straight = ModelWeights::Allocate(TinyConfig());
    straight.InitRandom(5);
    ASSERT_TRUE(TrainLm(&straight, train, {}, o, (dir_ / "straight").string(), nullptr).ok());

    ModelWeights sliced = ModelWeights::Allocate(TinyConfig());
    sliced.InitRandom(5);
    LmTrainOptions first = o;
    first.stop_after_step = 5;
    Result<LmTrainResult> a = TrainLm(&sliced, train, {}, first, (dir_ / "sliced").string(), nullptr);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(a->steps, 5);
    // A new process would start from fresh weights: the checkpoint must carry everything.
    ModelWeights resumed = ModelWeights::Allocate(TinyConfig());
    resumed.InitRandom(999);
    Result<LmTrainResult> b = TrainLm(&resumed, train, {}, o, (dir_ / "sliced").string(), nullptr);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ(b->resumed_from, 5);
    EXPECT_EQ(b->steps, 12);
    EXPECT_EQ(resumed.embed_tokens.data, straight.embed_tokens.data);
    EXPECT_EQ(resumed.layers[1].experts[2].down_proj.data, straight.layers[1].experts[2].down_proj.data);
    fs::remove_all(dir_);
  }
}

// A window holding two documents as segments scores each as if it were alone: no
// attention across them and positions restarting at 0.
TEST(LmTrainerSegmentsTest, SegmentsAttendOnlyWithinThemselves) {
  ModelWeights w = ModelWeights::Allocate(TinyConfig());
  w.InitRandom(5);
  const std::vector<LmWindow> apart = ReverseWindows(2, 9);
  LmWindow packed = OneWindowOfSegments(apart);
  const float separate = EvalLoss(&w, apart).value();
  EXPECT_NEAR(EvalLoss(&w, {packed}).value(), separate, 1e-5f);
  LmWindow stream = packed;
  stream.segments.clear();
  EXPECT_GT(std::fabs(EvalLoss(&w, {stream}).value() - separate), 1e-4f);
  packed.segments.back() += 1;  // no longer covers the inputs
  EXPECT_EQ(EvalLoss(&w, {packed}).status().code(), StatusCode::kInvalidArgument);
}

// Training sees the segments too: one step on the packed window has the loss of one step
// on the two windows apart (same per-token scale: both halves weigh the same).
TEST_F(LmTrainerTest, TrainingKeepsSegmentsApart) {
  const std::vector<LmWindow> apart = ReverseWindows(2, 9);
  LmWindow packed = OneWindowOfSegments(apart);
  LmWindow stream = packed;
  stream.segments.clear();
  auto first_loss = [&](const std::vector<LmWindow>& train, int batch, const std::string& name) {
    ModelWeights w = ModelWeights::Allocate(TinyConfig());
    w.InitRandom(5);
    LmTrainOptions o = Options(1);
    o.batch_windows = batch;
    Result<LmTrainResult> r = TrainLm(&w, train, {}, o, (dir_ / name).string(), nullptr);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->first_loss : -1.f;
  };
  const float separate = first_loss(apart, 2, "apart");
  EXPECT_NEAR(first_loss({packed}, 1, "packed"), separate, 1e-5f);
  EXPECT_GT(std::fabs(first_loss({stream}, 1, "stream") - separate), 1e-4f);
}

TEST(LmScheduleTest, WarmupThenCosine) {
  LmTrainOptions o;
  o.steps = 110;
  o.warmup_steps = 10;
  o.min_lr_ratio = 0.1f;
  EXPECT_DOUBLE_EQ(LrScale(o, 5), 0.5);
  EXPECT_DOUBLE_EQ(LrScale(o, 10), 1.0);
  EXPECT_NEAR(LrScale(o, 60), 0.55, 1e-6);  // min_lr_ratio is a float
  EXPECT_NEAR(LrScale(o, 110), 0.1, 1e-6);
}

TEST(LmTrainerErrorsTest, EmptyDataIsRejected) {
  ModelWeights w = ModelWeights::Allocate(TinyConfig());
  Result<LmTrainResult> r = TrainLm(&w, {}, {}, Options(3), "/tmp/unused", nullptr);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tide::engine
