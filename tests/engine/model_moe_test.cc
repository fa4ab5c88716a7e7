// MoE routing semantics through the public Model API: the expert bias only chooses, which
// layers are dense, expert loads, the balance loss value in closed form, and the
// aux-loss-free bias update. (Expert outputs, gating weights and their gradients are
// checked against an independent float64 model in model_backward_test.cc.)
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "tide/engine/model.h"

namespace tide::engine {
namespace {

ModelConfig Config(bool sigmoid) {
  ModelConfig c;
  c.vocab_size = 30;
  c.hidden_size = 16;
  c.intermediate_size = 20;
  c.moe_intermediate_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 8;
  c.num_experts = 4;
  c.num_experts_per_tok = 2;
  c.router_aux_loss_coef = 0.01f;
  if (sigmoid) {
    c.scoring_func = ScoringFunc::kSigmoid;
    c.use_expert_bias = true;
    c.n_shared_experts = 1;
    c.routed_scaling_factor = 2.f;
  }
  return c;
}

ModelWeights Weights(const ModelConfig& c, unsigned seed) {
  ModelWeights w = ModelWeights::Allocate(c);
  w.InitRandom(seed);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  for (NamedTensor& p : NamedParameters(w)) {
    if (p.kind == NamedTensor::Kind::kMatrix || p.kind == NamedTensor::Kind::kRouter) {
      for (float& x : p.tensor->data) x = 0.3f * nd(rng);
    }
  }
  return w;
}

const std::vector<int32_t> kSeq = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3};

TEST(ModelMoeTest, ExpertBiasChoosesButDoesNotWeight) {
  ModelWeights w = Weights(Config(true), 1);
  auto model = Model::Create(&w);
  ASSERT_TRUE(model.ok());
  // A large bias on expert 3 puts it in every token's top-2.
  for (auto& l : w.layers) l.expert_bias.data = {0.f, 0.f, 0.f, 10.f};
  RouterChoices rec;
  ForwardOptions fo;
  fo.record_routing = &rec;
  auto biased = model->Forward(kSeq, nullptr, fo);
  ASSERT_TRUE(biased.ok());
  for (int l = 0; l < 2; ++l) {
    for (size_t t = 0; t < kSeq.size(); ++t) {
      EXPECT_TRUE(rec.experts[l][2 * t] == 3 || rec.experts[l][2 * t + 1] == 3);
    }
  }
  // The same choice forced with no bias: identical logits (the bias never weights).
  for (auto& l : w.layers) l.expert_bias.data.assign(4, 0.f);
  ForwardOptions forced;
  forced.forced_routing = &rec;
  auto unbiased = model->Forward(kSeq, nullptr, forced);
  ASSERT_TRUE(unbiased.ok());
  EXPECT_EQ(biased->data, unbiased->data);
}

TEST(ModelMoeTest, DenseLayersFollowTheConfig) {
  for (int variant = 0; variant < 3; ++variant) {
    ModelConfig c = Config(false);
    c.num_hidden_layers = 4;
    if (variant == 0) c.first_k_dense_replace = 2;
    if (variant == 1) c.mlp_only_layers = {1, 2};
    if (variant == 2) c.decoder_sparse_step = 2;  // layers 1 and 3 are MoE
    auto model = Model::Create(Weights(c, 2));
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    RouterChoices rec;
    ForwardOptions fo;
    fo.record_routing = &rec;
    ASSERT_TRUE(model->Forward(kSeq, nullptr, fo).ok());
    std::vector<bool> moe;
    for (const auto& ids : rec.experts) moe.push_back(!ids.empty());
    const std::vector<std::vector<bool>> want = {
        {false, false, true, true}, {true, false, false, true}, {false, true, false, true}};
    EXPECT_EQ(moe, want[variant]) << "variant " << variant;
  }
}

TEST(ModelMoeTest, ExpertLoadAccumulatesOverForwards) {
  auto model = Model::Create(Weights(Config(false), 3));
  ASSERT_TRUE(model.ok());
  ExpertLoad load;
  ForwardOptions fo;
  fo.expert_load = &load;
  ASSERT_TRUE(model->Forward(kSeq, nullptr, fo).ok());
  ASSERT_TRUE(model->Forward(std::span(kSeq).subspan(0, 4), nullptr, fo).ok());
  for (int l = 0; l < 2; ++l) {
    int64_t total = 0;
    for (int64_t n : load.tokens[l]) total += n;
    EXPECT_EQ(total, 2 * (10 + 4));
  }
}

// A zero router scores every expert alike: the top-2 is {0, 1} by the tie-break, f = (1, 1,
// 0, 0), P_i = 1/4 (softmax, or sigmoid 1/2 normalised), so N·Σ f·P = 4·(1/4 + 1/4) = 2.
TEST(ModelMoeTest, BalanceLossClosedForm) {
  for (bool sigmoid : {false, true}) {
    ModelWeights w = Weights(Config(sigmoid), 4);
    for (auto& l : w.layers) std::fill(l.router.data.begin(), l.router.data.end(), 0.f);
    auto model = Model::Create(&w);
    ASSERT_TRUE(model.ok());
    std::vector<int32_t> targets(kSeq.begin() + 1, kSeq.end());
    targets.push_back(0);
    Gradients g;
    RouterChoices rec;
    LossOptions lo;
    lo.record_routing = &rec;
    auto loss = model->LossAndGrad(kSeq, targets, {}, &g, lo);
    ASSERT_TRUE(loss.ok());
    EXPECT_NEAR(model->last_loss().aux_loss, 0.01 * 2.0, 1e-7);
    EXPECT_NEAR(*loss, model->last_loss().ce_loss + model->last_loss().aux_loss, 1e-6);
    for (size_t t = 0; t < kSeq.size(); ++t) {
      EXPECT_EQ(rec.experts[0][2 * t], 0);
      EXPECT_EQ(rec.experts[0][2 * t + 1], 1);
    }
    // The router still gets a gradient.
    double norm = 0;
    for (float x : g.layers[0].router.data) norm += x * x;
    EXPECT_GT(norm, 0.0);
  }
}

TEST(ModelMoeTest, UpdateExpertBiasMovesAgainstLoad) {
  ModelWeights w = Weights(Config(true), 5);
  auto model = Model::Create(&w);
  ASSERT_TRUE(model.ok());
  ExpertLoad load{{{10, 5, 5, 0}, {5, 5, 5, 5}}};  // means 5 and 5
  ASSERT_TRUE(model->UpdateExpertBias(load, 0.25f).ok());
  EXPECT_EQ(w.layers[0].expert_bias.data, (std::vector<float>{-0.25f, 0.f, 0.f, 0.25f}));
  EXPECT_EQ(w.layers[1].expert_bias.data, (std::vector<float>{0.f, 0.f, 0.f, 0.f}));
  ASSERT_TRUE(model->UpdateExpertBias(load).ok());
  EXPECT_FLOAT_EQ(w.layers[0].expert_bias.data[0], -0.251f);
  ExpertLoad short_load{{{1, 2, 3}, {1, 2, 3, 4}}};
  EXPECT_EQ(model->UpdateExpertBias(short_load).code(), StatusCode::kInvalidArgument);
  auto plain = Model::Create(Weights(Config(false), 6));
  EXPECT_EQ(plain->UpdateExpertBias(load).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tide::engine
