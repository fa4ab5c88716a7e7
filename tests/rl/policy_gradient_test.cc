#include "tide/rl/policy_gradient.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "rl_model_util.h"

namespace tide::rl {
namespace {

using testing::TinyConfig;
using testing::TinyWeights;

// Rollouts with advantages and old log-probs moved off the current policy (so ratios are
// not all 1 and the KL to a reference is not 0).
std::vector<Rollout> MakeBatch(engine::Model& model, float temperature, uint64_t seed) {
  std::vector<Rollout> batch;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int p = 0; p < 2; ++p) {
    const std::vector<int32_t> prompt = {static_cast<int32_t>(3 + p), 100, 250};
    auto g = SampleGroup(model, prompt, {.group_size = 3, .temperature = temperature, .max_tokens = 6}, seed + p);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    for (Rollout& r : *g) {
      r.advantage = u(rng);
      for (float& lp : r.logprobs) lp += 0.1f * u(rng);
      r.mask[1] = 0;  // one token not trained on
      batch.push_back(std::move(r));
    }
  }
  return batch;
}

double Loss(engine::Model& model, const std::vector<Rollout>& batch, const PolicyGradientOptions& o) {
  auto lp = CompletionLogprobs(model, batch, o.temperature, o.routing_replay, o.sampling_vocab);
  EXPECT_TRUE(lp.ok());
  std::vector<std::vector<float>> ref;
  if (o.loss.kl_beta > 0) {
    auto r = CompletionLogprobs(*o.reference, batch, o.temperature, false, o.sampling_vocab);
    EXPECT_TRUE(r.ok());
    ref = *r;
  }
  std::vector<PgSequence> seqs;
  for (size_t i = 0; i < batch.size(); ++i) {
    seqs.push_back({(*lp)[i], batch[i].logprobs, ref.empty() ? std::span<const float>() : std::span<const float>(ref[i]),
                    batch[i].mask, batch[i].advantage});
  }
  auto l = PolicyLoss(seqs, o.loss);
  EXPECT_TRUE(l.ok());
  return l->loss;
}

// The parameter gradient PolicyGradientBackward adds is d(loss)/d(params): central
// differences of the loss (recomputed from scratch) on the entries with the largest
// gradient of several tensors. The balance loss is switched off so the loss is exactly the
// GRPO loss; ε is wide so no token sits at a clip edge (a kink). Run for token-level and
// GSPO, with and without KL, at temperature 1 and 0.7.
// sampling_vocab > 0: the distribution covers ids below it (completion ids are folded in).
void CheckParamGradient(RatioLevel level, double beta, float temperature, int sampling_vocab = 0) {
  engine::ModelConfig c = TinyConfig();
  c.router_aux_loss_coef = 0;
  auto model = engine::Model::Create(TinyWeights(c, 21, 10.f));
  auto reference = engine::Model::Create(TinyWeights(c, 22, 10.f));
  ASSERT_TRUE(model.ok() && reference.ok());
  std::vector<Rollout> batch = MakeBatch(*model, temperature, 5);
  if (sampling_vocab > 0) {
    for (Rollout& r : batch) {
      for (int32_t& t : r.completion) t %= sampling_vocab;
    }
  }
  PolicyGradientOptions o;
  o.loss = {.level = level, .eps_low = 0.9, .eps_high = 10, .seq_eps_low = 0.9, .seq_eps_high = 10, .kl_beta = beta};
  o.temperature = temperature;
  o.reference = &*reference;
  o.sampling_vocab = sampling_vocab;
  engine::Gradients grads;
  auto stats = PolicyGradientBackward(*model, batch, o, &grads);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_NEAR(stats->loss, Loss(*model, batch, o), 1e-6);
  EXPECT_EQ(stats->tokens, 6 * 5);

  engine::ModelWeights& w = model->weights();
  // An expert of layer 1 that the batch routes to (its gradient is not all zero).
  size_t expert = 0;
  double best = 0;
  for (size_t e = 0; e < grads.layers[1].experts.size(); ++e) {
    double n = 0;
    for (float x : grads.layers[1].experts[e].down_proj.data) n += std::fabs(x);
    if (n > best) best = n, expert = e;
  }
  std::vector<std::pair<engine::Tensor*, engine::Tensor*>> checks = {
      {&w.lm_head, &grads.lm_head},
      {&w.embed_tokens, &grads.embed_tokens},
      {&w.layers[1].experts[expert].down_proj, &grads.layers[1].experts[expert].down_proj},
      {&w.layers[0].router, &grads.layers[0].router},
      {&w.layers[0].q_proj, &grads.layers[0].q_proj},
  };
  int checked = 0;
  for (auto [param, grad] : checks) {
    std::vector<size_t> idx(grad->data.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::partial_sort(idx.begin(), idx.begin() + 3, idx.end(),
                      [&](size_t a, size_t b) { return std::fabs(grad->data[a]) > std::fabs(grad->data[b]); });
    for (int k = 0; k < 3; ++k) {
      const size_t i = idx[k];
      const float x = param->data[i], h = 5e-3f;
      param->data[i] = x + h;
      const double up = Loss(*model, batch, o);
      param->data[i] = x - h;
      const double down = Loss(*model, batch, o);
      param->data[i] = x;
      const double fd = (up - down) / (static_cast<double>(x + h) - static_cast<double>(x - h));
      const double g = grad->data[i];
      EXPECT_NEAR(g, fd, 3e-4 + 3e-2 * std::fabs(fd)) << "entry " << i << " of tensor " << checked / 3;
      EXPECT_GT(std::fabs(g), 1e-4) << "the largest entries should carry a gradient";
      ++checked;
    }
  }
}

TEST(PolicyGradient, TokenLevelGradientIsDLossDParams) { CheckParamGradient(RatioLevel::kToken, 0.0, 1.f); }
TEST(PolicyGradient, TokenLevelWithKlGradientIsDLossDParams) { CheckParamGradient(RatioLevel::kToken, 0.2, 1.f); }
TEST(PolicyGradient, GspoGradientIsDLossDParams) { CheckParamGradient(RatioLevel::kSequence, 0.0, 1.f); }
TEST(PolicyGradient, GspoWithKlAtTemperatureGradientIsDLossDParams) {
  CheckParamGradient(RatioLevel::kSequence, 0.2, 0.7f);
}
TEST(PolicyGradient, TemperatureGradientIsDLossDParams) { CheckParamGradient(RatioLevel::kToken, 0.0, 0.7f); }
TEST(PolicyGradient, SamplingVocabularyGradientIsDLossDParams) {
  CheckParamGradient(RatioLevel::kToken, 0.2, 1.f, 300);
}

TEST(PolicyGradient, StepLowersTheLossAndReportsMismatch) {
  const engine::ModelConfig c = TinyConfig();
  auto model = engine::Model::Create(TinyWeights(c, 31, 10.f));
  ASSERT_TRUE(model.ok());
  // Fresh rollouts, so the mismatch is the serving/training forward difference only.
  std::vector<Rollout> batch;
  for (int p = 0; p < 2; ++p) {
    auto g = SampleGroup(*model, std::vector<int32_t>{7, static_cast<int32_t>(40 + p)}, {.group_size = 4, .max_tokens = 8}, p);
    ASSERT_TRUE(g.ok());
    std::vector<float> rewards;
    for (Rollout& r : *g) rewards.push_back(static_cast<float>(std::count_if(r.completion.begin(), r.completion.end(), [](int32_t t) { return t < 256; })));
    auto adv = GroupAdvantages(rewards);
    ASSERT_TRUE(adv.ok());
    for (size_t i = 0; i < g->size(); ++i) {
      (*g)[i].advantage = (*adv)[i];
      batch.push_back(std::move((*g)[i]));
    }
  }
  PolicyGradientOptions o;
  const double before = Loss(*model, batch, o);
  engine::OptimizerConfig oc;
  oc.kind = engine::OptimizerKind::kAdamW;
  oc.lr = 1e-3f;
  oc.weight_decay = 0;
  engine::Optimizer opt(oc, &model->weights());
  engine::Gradients grads;
  auto stats = PolicyGradientStep(*model, opt, batch, o, &grads);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  // On-policy: every ratio is 1, so the loss is −mean advantage over tokens, nothing clipped.
  EXPECT_NEAR(stats->ratio_mean, 1.0, 1e-5);
  EXPECT_EQ(stats->clip_fraction, 0.0);
  EXPECT_LT(stats->logprob_mismatch, 1e-6);
  EXPECT_LT(stats->logprob_mismatch_max, 1e-4);
  EXPECT_GT(stats->grad_norm, 0);
  EXPECT_GT(stats->aux_loss, 0);  // tiny.json's router_aux_loss_coef is 0.001
  const double after = Loss(*model, batch, o);
  EXPECT_LT(after, before - 1e-3) << "one step against the gradient should lower the loss";
  // The metric now sees the policy moved away from the sampler.
  auto again = PolicyGradientBackward(*model, batch, o, &grads);
  ASSERT_TRUE(again.ok());
  EXPECT_GT(again->logprob_mismatch, 1e-4);
}

TEST(PolicyGradient, BadBatchesAreErrors) {
  const engine::ModelConfig c = TinyConfig();
  auto model = engine::Model::Create(TinyWeights(c, 31));
  ASSERT_TRUE(model.ok());
  auto g = SampleGroup(*model, std::vector<int32_t>{1, 2}, {.group_size = 2, .max_tokens = 3, .record_routing = false}, 1);
  ASSERT_TRUE(g.ok());
  engine::Gradients grads;
  auto no_routing = PolicyGradientBackward(*model, *g, {}, &grads);
  ASSERT_FALSE(no_routing.ok());
  EXPECT_NE(no_routing.status().message().find("record_routing"), std::string::npos) << no_routing.status().message();
  PolicyGradientOptions no_replay;
  no_replay.routing_replay = false;
  EXPECT_TRUE(PolicyGradientBackward(*model, *g, no_replay, &grads).ok());

  PolicyGradientOptions kl = no_replay;
  kl.loss.kl_beta = 0.1;
  auto no_ref = PolicyGradientBackward(*model, *g, kl, &grads);
  ASSERT_FALSE(no_ref.ok());
  EXPECT_NE(no_ref.status().message().find("reference"), std::string::npos);

  std::vector<Rollout> bad = *g;
  bad[1].logprobs.pop_back();
  auto short_lp = PolicyGradientBackward(*model, bad, no_replay, &grads);
  ASSERT_FALSE(short_lp.ok());
  EXPECT_NE(short_lp.status().message().find("rollout 1"), std::string::npos);

  bad = *g;
  bad[0].completion[0] = 100000;
  auto oov = PolicyGradientBackward(*model, bad, no_replay, &grads);
  ASSERT_FALSE(oov.ok());
  EXPECT_NE(oov.status().message().find("outside the vocabulary"), std::string::npos);

  auto narrow = no_replay;
  narrow.sampling_vocab = 1;
  auto outside = PolicyGradientBackward(*model, *g, narrow, &grads);
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("sampling vocabulary of 1"), std::string::npos) << outside.status().message();
  narrow.sampling_vocab = 513;
  EXPECT_FALSE(PolicyGradientBackward(*model, *g, narrow, &grads).ok());

  bad = *g;
  bad[0].completion.clear();
  bad[0].logprobs.clear();
  bad[0].mask.clear();
  auto empty = PolicyGradientBackward(*model, bad, no_replay, &grads);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("empty completion"), std::string::npos);
  EXPECT_FALSE(PolicyGradientBackward(*model, std::vector<Rollout>{}, no_replay, &grads).ok());
}

}  // namespace
}  // namespace tide::rl
