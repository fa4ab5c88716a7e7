#include "tide/rl/rollout_sampler.h"

#include <cmath>
#include <cstdio>

#include <gtest/gtest.h>

#include "rl_model_util.h"
#include "tide/engine/tokenizer.h"
#include "tide/rl/policy_gradient.h"

namespace tide::rl {
namespace {

using testing::TinyConfig;
using testing::TinyWeights;

TEST(RolloutSampler, GroupHasLogprobsMaskAndRouting) {
  const engine::ModelConfig c = TinyConfig();
  auto model = engine::Model::Create(TinyWeights(c, 7, 10.f));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const std::vector<int32_t> prompt = {5, 17, 300, 42, 9};
  RolloutOptions o{.group_size = 6, .temperature = 1.f, .max_tokens = 12};
  auto group = SampleGroup(*model, prompt, o, 123);
  ASSERT_TRUE(group.ok()) << group.status().ToString();
  ASSERT_EQ(group->size(), 6u);
  bool differ = false;
  for (const Rollout& r : *group) {
    EXPECT_EQ(r.prompt, prompt);
    ASSERT_EQ(r.completion.size(), 12u);
    ASSERT_EQ(r.logprobs.size(), 12u);
    ASSERT_EQ(r.mask.size(), 12u);
    for (float lp : r.logprobs) EXPECT_LT(lp, 0.f);
    // Routing of the training inputs: the 5 prompt rows and 11 fed completion tokens.
    EXPECT_EQ(r.routing.tokens, 5 + 11);
    EXPECT_EQ(r.routing.top_k, 2);
    ASSERT_EQ(r.routing.experts.size(), 2u);
    for (const auto& layer : r.routing.experts) {
      ASSERT_EQ(layer.size(), 16u * 2);
      for (int32_t e : layer) EXPECT_TRUE(e >= 0 && e < 8);
    }
    differ |= r.completion != (*group)[0].completion;
  }
  EXPECT_TRUE(differ) << "six samples at temperature 1 were identical";
  // Same seed, same group; another seed, another group.
  auto again = SampleGroup(*model, prompt, o, 123);
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < group->size(); ++i) {
    EXPECT_EQ((*again)[i].completion, (*group)[i].completion);
    EXPECT_EQ((*again)[i].logprobs, (*group)[i].logprobs);
    EXPECT_EQ((*again)[i].routing.experts, (*group)[i].routing.experts);
  }
  auto other = SampleGroup(*model, prompt, o, 124);
  ASSERT_TRUE(other.ok());
  bool any_diff = false;
  for (size_t i = 0; i < group->size(); ++i) any_diff |= (*other)[i].completion != (*group)[i].completion;
  EXPECT_TRUE(any_diff);
}

TEST(RolloutSampler, StopTokenEndsAndStaysInTheCompletion) {
  const engine::ModelConfig c = TinyConfig();
  auto model = engine::Model::Create(TinyWeights(c, 7, 10.f));
  ASSERT_TRUE(model.ok());
  const std::vector<int32_t> prompt = {1, 2, 3};
  // Greedy: find the token the model emits second, then make it the stop token.
  auto greedy = SampleGroup(*model, prompt, {.group_size = 1, .temperature = 0.f, .max_tokens = 4}, 1);
  ASSERT_TRUE(greedy.ok());
  const int32_t stop = (*greedy)[0].completion[1];
  auto stopped = SampleGroup(*model, prompt, {.group_size = 2, .temperature = 0.f, .max_tokens = 4, .stop_token = stop}, 1);
  ASSERT_TRUE(stopped.ok());
  for (const Rollout& r : *stopped) {
    EXPECT_TRUE(r.stopped);
    ASSERT_LE(r.completion.size(), 2u);
    EXPECT_EQ(r.completion.back(), stop);
    EXPECT_EQ(r.routing.tokens, static_cast<int>(prompt.size() + r.completion.size() - 1));
  }
}

// Routing replay (R3): the training forward over prompt ++ completion with the rollout's
// router choices forced gives the log-probs the sampler reported. Not bit for bit: the
// rollout decoded incrementally (the prompt prefilled once, then one row per step through
// the KV cache, batched with the other sequences), the training forward runs all rows at
// once, so GEMMs and attention sum in another order; the agreement is to float rounding.
TEST(RolloutSampler, RoutingReplayReproducesRolloutLogprobs) {
  const engine::ModelConfig c = TinyConfig();
  auto model = engine::Model::Create(TinyWeights(c, 11, 10.f));
  ASSERT_TRUE(model.ok());
  std::vector<Rollout> all;
  for (int p = 0; p < 4; ++p) {
    const std::vector<int32_t> prompt = {static_cast<int32_t>(10 + p), 200, static_cast<int32_t>(30 * p + 1), 77};
    for (float temperature : {1.f, 0.7f}) {
      auto g = SampleGroup(*model, prompt, {.group_size = 4, .temperature = temperature, .max_tokens = 24},
                           static_cast<uint64_t>(p));
      ASSERT_TRUE(g.ok()) << g.status().ToString();
      auto replay = CompletionLogprobs(*model, *g, temperature, true);
      ASSERT_TRUE(replay.ok()) << replay.status().ToString();
      for (size_t i = 0; i < g->size(); ++i) {
        for (size_t t = 0; t < (*g)[i].logprobs.size(); ++t) {
          const float want = (*g)[i].logprobs[t], got = (*replay)[i][t];
          EXPECT_NEAR(got, want, 1e-5 * std::max(1.f, std::fabs(want))) << "prompt " << p << " rollout " << i << " token " << t;
        }
      }
      for (Rollout& r : *g) all.push_back(std::move(r));
    }
  }
  // Without replay the training forward chooses its own experts. With the very weights that
  // sampled, they agree up to float ties, so the metric is small here too (printed); it is
  // what catches serving/training divergence (other kernels, weights updated in between).
  double replay_sum = 0, free_sum = 0, free_max = 0;
  int n = 0;
  auto with = CompletionLogprobs(*model, all, 1.f, true);
  auto without = CompletionLogprobs(*model, all, 1.f, false);
  ASSERT_TRUE(with.ok() && without.ok());
  for (size_t i = 0; i < all.size(); ++i) {
    if ((i / 4) % 2 == 1) continue;  // the temperature-0.7 groups
    for (size_t t = 0; t < all[i].logprobs.size(); ++t) {
      replay_sum += std::fabs((*with)[i][t] - all[i].logprobs[t]);
      const double d = std::fabs((*without)[i][t] - all[i].logprobs[t]);
      free_sum += d;
      free_max = std::max(free_max, d);
      ++n;
    }
  }
  std::printf("logprob mismatch over %d tokens: replay mean %.3g; no replay mean %.3g max %.3g\n", n, replay_sum / n,
              free_sum / n, free_max);
  EXPECT_LT(replay_sum / n, 1e-6);

  // The forced choices are really used: shifting every recorded expert id by one changes
  // the replayed log-probs, while the forward that routes for itself does not care.
  std::vector<Rollout> shifted(all.begin(), all.begin() + 4);
  for (Rollout& r : shifted) {
    for (auto& layer : r.routing.experts) {
      for (int32_t& e : layer) e = (e + 1) % c.num_experts;
    }
  }
  auto forced = CompletionLogprobs(*model, shifted, 1.f, true);
  auto own = CompletionLogprobs(*model, shifted, 1.f, false);
  ASSERT_TRUE(forced.ok() && own.ok());
  double forced_diff = 0, own_diff = 0;
  for (size_t i = 0; i < shifted.size(); ++i) {
    for (size_t t = 0; t < shifted[i].logprobs.size(); ++t) {
      forced_diff = std::max(forced_diff, std::fabs(static_cast<double>((*forced)[i][t]) - shifted[i].logprobs[t]));
      own_diff = std::max(own_diff, std::fabs(static_cast<double>((*own)[i][t]) - shifted[i].logprobs[t]));
    }
  }
  EXPECT_GT(forced_diff, 1e-2);
  EXPECT_LT(own_diff, forced_diff);
}

// The serving engine's requests (paged KV, continuous batching, prefix cache) as rollouts:
// with their router choices replayed, the training forward gives the engine's log-probs.
// `padding`: model vocabulary entries past the byte-level tokenizer's.
double ServingMismatch(int padding, bool replay, bool check, bool limit = false) {
  const engine::Tokenizer tokenizer = engine::ByteLevelTokenizer();
  engine::ModelConfig c = TinyConfig();
  c.vocab_size = tokenizer.vocab_size() + padding;
  auto model = engine::Model::Create(TinyWeights(c, 11, 10.f));
  EXPECT_TRUE(model.ok());
  auto eng = engine::InferenceEngine::Create(&*model, &tokenizer, {});
  EXPECT_TRUE(eng.ok()) << eng.status().ToString();
  const std::vector<int32_t> prompt = {72, 101, 108, 108, 111, 32, 119};
  std::vector<Rollout> rollouts;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    engine::GenerateRequest req;
    req.prompt = prompt;
    req.params.seed = seed;
    req.params.max_tokens = 16;
    req.params.return_router_choices = true;
    auto res = (*eng)->Generate(req);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    auto r = RolloutFromGeneration(c, prompt, *res);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return -1;
    EXPECT_EQ(r->completion.size(), 16u);
    EXPECT_EQ(r->routing.tokens, static_cast<int>(prompt.size()) + 15);
    rollouts.push_back(std::move(*r));
  }
  auto lp = CompletionLogprobs(*model, rollouts, 1.f, replay, limit ? tokenizer.vocab_size() : 0);
  EXPECT_TRUE(lp.ok()) << lp.status().ToString();
  double sum = 0;
  int n = 0;
  for (size_t i = 0; i < rollouts.size(); ++i) {
    for (size_t t = 0; t < rollouts[i].logprobs.size(); ++t) {
      const float want = rollouts[i].logprobs[t], got = (*lp)[i][t];
      if (check) EXPECT_NEAR(got, want, 1e-5 * std::max(1.f, std::fabs(want))) << "rollout " << i << " token " << t;
      sum += std::fabs(static_cast<double>(got) - want);
      ++n;
    }
  }
  return sum / n;
}

TEST(RolloutSampler, ServingEngineRequestsReplayToTheirLogprobs) {
  const double replay = ServingMismatch(0, true, true);
  const double free = ServingMismatch(0, false, false);
  // A model vocabulary padded past the tokenizer's: the engine samples over the
  // tokenizer's tokens only; the training forward must normalise over the same ids.
  const double padded = ServingMismatch(16, true, false);
  const double limited = ServingMismatch(16, true, true, true);
  std::printf("serving vs training logprob mismatch: replay %.3g, no replay %.3g, padded vocabulary %.3g, "
              "with sampling_vocab %.3g\n", replay, free, padded, limited);
  EXPECT_LT(replay, 1e-6);
  EXPECT_GT(padded, 1e-3);
  EXPECT_LT(limited, 1e-6);
}

TEST(RolloutSampler, ServingStopTokenIsKeptButMasked) {
  const engine::Tokenizer tokenizer = engine::ByteLevelTokenizer();
  engine::ModelConfig c = TinyConfig();
  c.vocab_size = tokenizer.vocab_size();
  auto model = engine::Model::Create(TinyWeights(c, 11, 10.f));
  ASSERT_TRUE(model.ok());
  auto eng = engine::InferenceEngine::Create(&*model, &tokenizer, {});
  ASSERT_TRUE(eng.ok());
  engine::GenerateRequest req;
  req.prompt = {65, 66, 67};
  req.params.sampling.temperature = 0.f;
  req.params.max_tokens = 6;
  req.params.return_router_choices = true;
  auto first = (*eng)->Generate(req);
  ASSERT_TRUE(first.ok());
  ASSERT_GE(first->tokens.size(), 3u);
  const int32_t stop = first->tokens[2].id;
  req.params.stop_token_ids = {stop};
  auto res = (*eng)->Generate(req);
  ASSERT_TRUE(res.ok());
  ASSERT_EQ(res->stop_token_id, stop);
  auto r = RolloutFromGeneration(c, req.prompt, *res);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->stopped);
  EXPECT_EQ(r->completion.back(), stop);
  EXPECT_EQ(r->mask.back(), 0);
  EXPECT_EQ(r->routing.tokens, static_cast<int>(req.prompt.size() + r->completion.size() - 1));
  std::vector<Rollout> one = {*r};
  auto lp = CompletionLogprobs(*model, one, 1.f, true);
  ASSERT_TRUE(lp.ok());
  for (size_t t = 0; t + 1 < r->completion.size(); ++t) EXPECT_NEAR((*lp)[0][t], r->logprobs[t], 1e-5);

  // Tokens sampled under a constraint's mask are not trained on.
  engine::GenerationResult constrained = *res;
  constrained.tokens[0].constrained = true;
  auto masked = RolloutFromGeneration(c, req.prompt, constrained);
  ASSERT_TRUE(masked.ok());
  EXPECT_EQ(masked->mask[0], 0);
  EXPECT_EQ(masked->mask[1], 1);

  engine::GenerationResult no_routing = *res;
  no_routing.prompt_router_choices.clear();
  auto bad = RolloutFromGeneration(c, req.prompt, no_routing);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(RolloutSampler, BadRequestsAreErrors) {
  const engine::ModelConfig c = TinyConfig();
  auto model = engine::Model::Create(TinyWeights(c, 7));
  ASSERT_TRUE(model.ok());
  auto expect = [&](std::vector<int32_t> prompt, RolloutOptions o, const std::string& needle) {
    auto r = SampleGroup(*model, prompt, o, 1);
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  expect({}, {}, "prompt is empty");
  expect({1, 512}, {}, "prompt[1] = 512");
  expect({1, -3}, {}, "prompt[1] = -3");
  expect({1}, {.max_tokens = 600}, "context length 512");
  expect({1}, {.max_tokens = 0}, "max_tokens");
  expect({1}, {.group_size = 0}, "group_size");
  expect({1}, {.stop_token = 9999}, "stop_token 9999");
  expect({1}, {.temperature = -1.f}, "temperature");
  expect({1}, {.top_p = 0.f}, "top_p");
}

}  // namespace
}  // namespace tide::rl
