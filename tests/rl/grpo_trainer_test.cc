#include "tide/rl/grpo_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include <gtest/gtest.h>
#include <unistd.h>

#include "rl_model_util.h"
#include "tide/engine/checkpoint.h"

namespace tide::rl {
namespace {

namespace fs = std::filesystem;
using testing::TinyConfig;
using testing::TinyWeights;

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / ("tide_grpo_" + name + "_" + std::to_string(getpid()))) {
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// Verifiable and trivially learnable: the share of completion tokens in the first eighth
// of the vocabulary (ids 0..63). A random tiny model scores about 1/8.
float LowIdShare(const Rollout& r) {
  const auto low = std::count_if(r.completion.begin(), r.completion.end(), [](int32_t t) { return t < 64; });
  return static_cast<float>(low) / static_cast<float>(r.completion.size());
}

std::vector<std::vector<int32_t>> Prompts() {
  return {{1, 2, 3}, {400, 9, 77, 5}, {250, 251}, {13, 130, 300, 31, 8}, {60, 500, 499}};
}

GrpoOptions RunOptions(int steps) {
  GrpoOptions o;
  o.steps = steps;
  o.prompts_per_step = 4;
  o.rollout = {.group_size = 8, .temperature = 1.f, .max_tokens = 8};
  o.optimizer.kind = engine::OptimizerKind::kAdamW;
  o.optimizer.lr = 1e-2f;
  o.optimizer.weight_decay = 0;
  o.warmup_steps = 2;
  o.seed = 42;
  return o;
}

TEST(GrpoTrainer, RaisesAVerifiableReward) {
  const engine::ModelConfig c = TinyConfig();
  engine::ModelWeights w = TinyWeights(c, 3);
  TempDir dir("learn");
  const auto prompts = Prompts();
  const GrpoOptions o = RunOptions(24);
  auto r = TrainGrpo(&w, prompts, LowIdShare, o, dir.path.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->history.size(), 24u);
  auto mean = [&](size_t first, size_t count) {
    double s = 0;
    for (size_t i = first; i < first + count; ++i) s += r->history[i].reward_mean;
    return s / count;
  };
  const double first5 = mean(0, 5), last5 = mean(r->history.size() - 5, 5);
  double mismatch = 0;
  int updates = 0;
  for (const GrpoStepStats& s : r->history) {
    if (!s.updated) continue;
    mismatch += s.policy.logprob_mismatch;
    ++updates;
    EXPECT_LT(s.policy.logprob_mismatch, 1e-5) << "step " << s.step;  // replay, on-policy
  }
  std::printf("mean reward: first 5 steps %.3f, last 5 steps %.3f; %d updates, mean logprob mismatch %.2g\n", first5,
              last5, updates, mismatch / std::max(1, updates));
  EXPECT_GT(last5, first5 + 0.25);
  // The final model is written to out_dir and loads.
  auto saved = engine::LoadModel(dir.path.string());
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  EXPECT_EQ(saved->lm_head.data, w.lm_head.data);
}

TEST(GrpoTrainer, GspoAndDrGrpoRaiseTheRewardToo) {
  const engine::ModelConfig c = TinyConfig();
  for (bool gspo : {true, false}) {
    engine::ModelWeights w = TinyWeights(c, 3);
    TempDir dir(gspo ? "gspo" : "drgrpo");
    GrpoOptions o = RunOptions(20);
    if (gspo) {
      o.policy.loss.level = RatioLevel::kSequence;
    } else {
      o.advantage.divide_by_std = false;  // Dr. GRPO: advantages are r − mean, here in [−1, 1]
      o.optimizer.lr = 2e-2f;
    }
    auto r = TrainGrpo(&w, Prompts(), LowIdShare, o, dir.path.string());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    double first = 0, last = 0;
    for (int i = 0; i < 5; ++i) first += r->history[i].reward_mean / 5;
    for (int i = 15; i < 20; ++i) last += r->history[i].reward_mean / 5;
    std::printf("%s: mean reward first 5 steps %.3f, last 5 steps %.3f\n", gspo ? "GSPO" : "Dr. GRPO", first, last);
    EXPECT_GT(last, first + 0.25);
  }
}

TEST(GrpoTrainer, KilledAndResumedRunEqualsUninterrupted) {
  const engine::ModelConfig c = TinyConfig();
  const auto prompts = Prompts();
  GrpoOptions o = RunOptions(6);
  o.policy.loss.kl_beta = 0.05;  // the reference is part of the state a resume must match
  engine::ModelWeights ref_w = TinyWeights(c, 3);
  auto reference = engine::Model::Create(&ref_w);
  ASSERT_TRUE(reference.ok());
  o.policy.reference = &*reference;

  engine::ModelWeights full = TinyWeights(c, 3);
  TempDir a("full");
  auto ra = TrainGrpo(&full, prompts, LowIdShare, o, a.path.string());
  ASSERT_TRUE(ra.ok()) << ra.status().ToString();
  EXPECT_EQ(ra->steps, 6);

  TempDir b("resumed");
  engine::ModelWeights part = TinyWeights(c, 3);
  GrpoOptions stop = o;
  stop.stop_after_step = 4;
  auto rb = TrainGrpo(&part, prompts, LowIdShare, stop, b.path.string());
  ASSERT_TRUE(rb.ok()) << rb.status().ToString();
  EXPECT_EQ(rb->steps, 4);
  EXPECT_TRUE(fs::exists(b.path / "checkpoint" / "trainer_state.json"));
  EXPECT_FALSE(fs::exists(b.path / "model.safetensors")) << "a paused run has no final model yet";
  // The "killed" process's memory is gone: resume from fresh weights and the checkpoint.
  engine::ModelWeights resumed = TinyWeights(c, 3);
  auto rc = TrainGrpo(&resumed, prompts, LowIdShare, o, b.path.string());
  ASSERT_TRUE(rc.ok()) << rc.status().ToString();
  EXPECT_EQ(rc->resumed_from, 4);
  EXPECT_EQ(rc->steps, 6);
  ASSERT_EQ(rc->history.size(), 2u);
  EXPECT_EQ(rc->history[0].step, 5);
  EXPECT_EQ(rc->history[1].reward_mean, ra->history[5].reward_mean);
  EXPECT_EQ(rc->history[1].policy.loss, ra->history[5].policy.loss);

  auto pa = engine::NamedParameters(full), pc = engine::NamedParameters(resumed);
  ASSERT_EQ(pa.size(), pc.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].tensor->data, pc[i].tensor->data) << pa[i].name << " differs after resume";
  }
  // And the run moved the weights at all.
  engine::ModelWeights init = TinyWeights(c, 3);
  EXPECT_NE(init.lm_head.data, full.lm_head.data);
}

TEST(GrpoTrainer, DynamicSamplingSkipsGroupsWithoutSignal) {
  const engine::ModelConfig c = TinyConfig();
  engine::ModelWeights w = TinyWeights(c, 3);
  const engine::ModelWeights before = w;
  TempDir dir("flat");
  GrpoOptions o = RunOptions(2);
  auto r = TrainGrpo(&w, Prompts(), [](const Rollout&) { return 1.f; }, o, dir.path.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const GrpoStepStats& s : r->history) {
    EXPECT_EQ(s.groups, 4);
    EXPECT_EQ(s.groups_kept, 0);
    EXPECT_FALSE(s.updated);
  }
  EXPECT_EQ(w.lm_head.data, before.lm_head.data) << "no group kept, so no update";
}

TEST(GrpoTrainer, ExpertBiasMovesWhenTheConfigUsesIt) {
  engine::ModelConfig c = TinyConfig();
  c.scoring_func = engine::ScoringFunc::kSigmoid;
  c.use_expert_bias = true;
  engine::ModelWeights w = TinyWeights(c, 3);
  TempDir dir("bias");
  auto r = TrainGrpo(&w, Prompts(), LowIdShare, RunOptions(2), dir.path.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  int updates = 0;
  for (const GrpoStepStats& s : r->history) updates += s.updated ? 1 : 0;
  ASSERT_GT(updates, 0);
  // Each update moves every bias by ±gamma (or 0 at exactly the mean load).
  int moved = 0;
  for (const engine::LayerWeights& l : w.layers) {
    for (float b : l.expert_bias.data) {
      EXPECT_LE(std::fabs(b), 0.001f * updates + 1e-7f);
      moved += b != 0.f ? 1 : 0;
    }
  }
  EXPECT_GT(moved, 0);
}

TEST(GrpoTrainer, BadInputIsAnError) {
  const engine::ModelConfig c = TinyConfig();
  engine::ModelWeights w = TinyWeights(c, 3);
  TempDir dir("bad");
  auto none = TrainGrpo(&w, {}, LowIdShare, RunOptions(1), dir.path.string());
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no prompts"), std::string::npos);
  auto nan = TrainGrpo(&w, Prompts(), [](const Rollout&) { return NAN; }, RunOptions(1), dir.path.string());
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.status().message().find("non-finite"), std::string::npos);
  GrpoOptions bad_prompt = RunOptions(1);
  auto oov = TrainGrpo(&w, std::vector<std::vector<int32_t>>{{1, 99999}}, LowIdShare, bad_prompt, dir.path.string());
  ASSERT_FALSE(oov.ok());
  EXPECT_NE(oov.status().message().find("outside the vocabulary"), std::string::npos);
}

}  // namespace
}  // namespace tide::rl
