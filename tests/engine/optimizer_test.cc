#include "tide/engine/optimizer.h"

#include <cmath>
#include <filesystem>
#include <random>

#include <gtest/gtest.h>
#include <unistd.h>

namespace tide::engine {
namespace {

ModelConfig SmallConfig() {
  ModelConfig c;
  c.vocab_size = 40;
  c.hidden_size = 16;
  c.intermediate_size = 32;
  c.moe_intermediate_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 8;
  c.num_experts = 4;
  c.num_experts_per_tok = 2;
  c.use_expert_bias = true;
  c.scoring_func = ScoringFunc::kSigmoid;
  c.first_k_dense_replace = 1;
  return c;
}

void FillRandom(ModelWeights& w, uint64_t seed, float scale) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> n(0.f, scale);
  for (NamedTensor& p : NamedParameters(w)) {
    for (float& v : p.tensor->data) v = n(rng);
  }
}

std::vector<float> Flatten(ModelWeights& w) {
  std::vector<float> out;
  for (NamedTensor& p : NamedParameters(w)) out.insert(out.end(), p.tensor->data.begin(), p.tensor->data.end());
  return out;
}

TEST(NewtonSchulzTest, OrthogonalisesWideAndTallMatrices) {
  std::mt19937 rng(7);
  std::normal_distribution<float> n(0.f, 1.f);
  const int rows = 12, cols = 40;
  std::vector<float> g(rows * cols), x(rows * cols), gt(rows * cols), xt(rows * cols);
  for (float& v : g) v = n(rng);
  NewtonSchulz5(g.data(), rows, cols, 5, x.data());
  // X·Xᵀ ≈ I: NS5 with these coefficients leaves singular values in roughly [0.7, 1.2].
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < rows; ++j) {
      double dot = 0;
      for (int k = 0; k < cols; ++k) dot += static_cast<double>(x[i * cols + k]) * x[j * cols + k];
      if (i == j) {
        EXPECT_GT(dot, 0.4) << i;
        EXPECT_LT(dot, 1.5) << i;
      } else {
        EXPECT_LT(std::fabs(dot), 0.35) << i << "," << j;
      }
    }
  }
  // The tall orientation gives the transpose of the wide one.
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) gt[j * rows + i] = g[i * cols + j];
  NewtonSchulz5(gt.data(), cols, rows, 5, xt.data());
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) EXPECT_NEAR(xt[j * rows + i], x[i * cols + j], 1e-5);
}

// Both optimizers reduce a quadratic loss Σ (w − t)² over every parameter.
class QuadraticTest : public ::testing::TestWithParam<OptimizerKind> {};

TEST_P(QuadraticTest, ReducesLoss) {
  const ModelConfig c = SmallConfig();
  ModelWeights w = ModelWeights::Allocate(c), target = ModelWeights::Allocate(c), grads = ModelWeights::Allocate(c);
  FillRandom(w, 1, 0.5f);
  FillRandom(target, 2, 0.5f);
  OptimizerConfig oc;
  oc.kind = GetParam();
  // Muon's steps have a fixed RMS (0.2·lr per element), so it gets the larger rate.
  oc.lr = GetParam() == OptimizerKind::kMuon ? 0.05f : 0.01f;
  oc.weight_decay = 0.f;
  Optimizer opt(oc, &w);
  auto loss = [&] {
    const std::vector<float> a = Flatten(w), b = Flatten(target);
    double l = 0;
    for (size_t i = 0; i < a.size(); ++i) l += (a[i] - b[i]) * (a[i] - b[i]);
    return l;
  };
  const std::vector<float> bias_before = w.layers[1].expert_bias.data;
  const double start = loss();
  for (int step = 0; step < 60; ++step) {
    std::vector<NamedTensor> wp = NamedParameters(w), tp = NamedParameters(target), gp = NamedParameters(grads);
    for (size_t i = 0; i < wp.size(); ++i)
      for (size_t j = 0; j < wp[i].tensor->data.size(); ++j)
        gp[i].tensor->data[j] = 2 * (wp[i].tensor->data[j] - tp[i].tensor->data[j]);
    ASSERT_TRUE(opt.Step(grads).ok());
  }
  EXPECT_LT(loss(), 0.5 * start);
  EXPECT_EQ(opt.step(), 60);
  EXPECT_EQ(w.layers[1].expert_bias.data, bias_before) << "the expert bias moves by its own rule only";
}

INSTANTIATE_TEST_SUITE_P(Kinds, QuadraticTest, ::testing::Values(OptimizerKind::kAdamW, OptimizerKind::kMuon));

TEST(OptimizerTest, MuonUsesNewtonSchulzOnlyForHiddenMatrices) {
  ModelWeights w = ModelWeights::Allocate(SmallConfig());
  int muon = 0, adam = 0;
  for (NamedTensor& p : NamedParameters(w)) {
    if (UsesMuon(p)) {
      ++muon;
      EXPECT_EQ(p.name.find("embed"), std::string::npos);
      EXPECT_EQ(p.name.find("norm"), std::string::npos);
      EXPECT_EQ(p.name.find("mlp.gate.weight"), std::string::npos) << "the router uses AdamW";
    } else {
      ++adam;
    }
  }
  EXPECT_GT(muon, 0);
  EXPECT_GT(adam, 0);
}

TEST(OptimizerTest, ClipGradNormScalesToTheBound) {
  ModelWeights g = ModelWeights::Allocate(SmallConfig());
  FillRandom(g, 3, 1.f);
  const double before = Optimizer::ClipGradNorm(g, 1e9);
  const double reported = Optimizer::ClipGradNorm(g, 2.0);
  EXPECT_DOUBLE_EQ(reported, before);
  double after = 0;
  for (NamedTensor& p : NamedParameters(g))
    for (float v : p.tensor->data) after += static_cast<double>(v) * v;
  EXPECT_NEAR(std::sqrt(after), 2.0, 1e-4);
}

TEST(OptimizerTest, QkClipScalesTheLayersLogitsToTau) {
  ModelWeights w = ModelWeights::Allocate(SmallConfig());
  w.InitRandom(5);
  OptimizerConfig oc;
  oc.qk_clip = true;
  oc.qk_clip_tau = 100.f;
  Optimizer opt(oc, &w);
  const std::vector<float> q = w.layers[0].q_norm.data, k = w.layers[0].k_norm.data;
  EXPECT_FALSE(opt.ApplyQkClip(0, 80.f));
  EXPECT_EQ(w.layers[0].q_norm.data, q);
  EXPECT_TRUE(opt.ApplyQkClip(0, 400.f));
  // q·k scales by √(τ/S)² = 100/400.
  EXPECT_NEAR(w.layers[0].q_norm.data[0] * w.layers[0].k_norm.data[0], q[0] * k[0] * 0.25f, 1e-6);
  EXPECT_EQ(w.layers[1].q_norm.data, q) << "other layers are untouched";
}

TEST(OptimizerTest, SaveAndLoadResumeBitIdentically) {
  const auto path = std::filesystem::temp_directory_path() / ("tide-opt-" + std::to_string(getpid()) + ".safetensors");
  const ModelConfig c = SmallConfig();
  for (OptimizerKind kind : {OptimizerKind::kAdamW, OptimizerKind::kMuon}) {
    ModelWeights a = ModelWeights::Allocate(c), grads = ModelWeights::Allocate(c);
    FillRandom(a, 1, 0.3f);
    OptimizerConfig oc;
    oc.kind = kind;
    Optimizer opt_a(oc, &a);
    for (int s = 0; s < 3; ++s) {
      FillRandom(grads, 10 + s, 1.f);
      ASSERT_TRUE(opt_a.Step(grads).ok());
    }
    ASSERT_TRUE(opt_a.Save(path.string()).ok());
    ModelWeights b = a;
    Optimizer opt_b(oc, &b);
    ASSERT_TRUE(opt_b.Load(path.string()).ok());
    EXPECT_EQ(opt_b.step(), 3);
    FillRandom(grads, 99, 1.f);
    ASSERT_TRUE(opt_a.Step(grads).ok());
    ASSERT_TRUE(opt_b.Step(grads).ok());
    EXPECT_EQ(Flatten(a), Flatten(b));
    // A state of the other kind is refused and leaves the optimizer as it was.
    OptimizerConfig other = oc;
    other.kind = kind == OptimizerKind::kMuon ? OptimizerKind::kAdamW : OptimizerKind::kMuon;
    Optimizer opt_c(other, &b);
    Status s = opt_c.Load(path.string());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_EQ(opt_c.step(), 0);
  }
  std::filesystem::remove(path);
}

TEST(OptimizerTest, StepRejectsGradientsOfAnotherShape) {
  ModelWeights w = ModelWeights::Allocate(SmallConfig());
  ModelConfig other = SmallConfig();
  other.hidden_size = 24;
  ModelWeights g = ModelWeights::Allocate(other);
  Optimizer opt({}, &w);
  EXPECT_EQ(opt.Step(g).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(opt.step(), 0);
}

}  // namespace
}  // namespace tide::engine
