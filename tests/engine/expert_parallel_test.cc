// Expert parallelism (dist/expert_parallel.h) on the local backend: logits with ep = 1, 2
// and 4 ranks match the single-rank Model::Forward (1e-6 relative) for softmax routing and
// for sigmoid + expert bias + shared expert; ep not dividing the experts is refused; the
// per-rank load statistics add up to tokens × top_k per layer, match the single-rank
// ExpertLoad and sit on the experts' owners; bad calls fail on every rank without a hang.
#include "tide/engine/dist/expert_parallel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "model_test_util.h"
#include "tide/engine/model_weights.h"

namespace tide::engine::dist {
namespace {

// Eight experts over three layers; three experts a token with the extensions on.
Model TinyModel(bool extended, unsigned seed) {
  return testing::TinyRandomModel(testing::TinyMoeConfig(extended, {.layers = 3, .experts = 8, .extended_top_k = 3}),
                                  seed);
}

std::vector<int32_t> Tokens(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = static_cast<int32_t>(rng() % 50);
  return t;
}

double RelErr(const std::vector<float>& a, const std::vector<float>& ref) {
  double d = 0, r = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    d += std::pow(static_cast<double>(a[i]) - ref[i], 2);
    r += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(d / r);
}

class ExpertParallelTest : public ::testing::TestWithParam<bool> {};

TEST_P(ExpertParallelTest, LogitsMatchSingleRank) {
  Model model = TinyModel(GetParam(), 7);
  for (int n : {1, 3, 13, 40}) {
    const std::vector<int32_t> tokens = Tokens(n, 100 + n);
    auto ref = model.Forward(tokens);
    ASSERT_TRUE(ref.ok());
    for (int ep : {1, 2, 4, 8}) {
      auto got = ForwardExpertParallel(model, tokens, ep);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_EQ(got->shape, ref->shape);
      double max_rel = 0;
      for (size_t i = 0; i < ref->data.size(); ++i) {
        const double diff = std::fabs(static_cast<double>(got->data[i]) - ref->data[i]);
        max_rel = std::max(max_rel, diff / std::max(1.0, std::fabs(static_cast<double>(ref->data[i]))));
      }
      EXPECT_LE(max_rel, 1e-6) << "tokens " << n << ", ep " << ep;
      EXPECT_LE(RelErr(got->data, ref->data), 1e-6) << "tokens " << n << ", ep " << ep;
    }
  }
}

TEST_P(ExpertParallelTest, LoadStatisticsAddUpAndMatchSingleRank) {
  Model model = TinyModel(GetParam(), 11);
  const ModelConfig& c = model.config();
  const int n = 21, k = c.num_experts_per_tok;
  const std::vector<int32_t> tokens = Tokens(n, 5);
  ExpertLoad single;
  ForwardOptions fo;
  fo.expert_load = &single;
  ASSERT_TRUE(model.Forward(tokens, nullptr, fo).ok());
  for (int ep : {1, 2, 4}) {
    ExpertParallelStats stats;
    ASSERT_TRUE(ForwardExpertParallel(model, tokens, ep, &stats).ok());
    ASSERT_EQ(static_cast<int>(stats.ranks.size()), ep);
    EXPECT_EQ(stats.Total().tokens, single.tokens) << "ep " << ep;
    const int per_rank = c.num_experts / ep;
    for (int l = 0; l < c.num_hidden_layers; ++l) {
      if (!c.IsMoeLayer(l)) {
        for (const RankExpertLoad& r : stats.ranks) EXPECT_TRUE(r.rows[l].empty());
        continue;
      }
      int64_t total = 0;
      std::vector<int64_t> received(ep, 0);
      for (int r = 0; r < ep; ++r) {
        const RankExpertLoad& rl = stats.ranks[r];
        int64_t sent = 0;
        for (int d = 0; d < ep; ++d) {
          sent += rl.sent[l][d];
          received[d] += rl.sent[l][d];
        }
        // Rank r holds tokens [r·n/ep, (r+1)·n/ep), each routed to k experts.
        EXPECT_EQ(sent, static_cast<int64_t>((n * (r + 1) / ep - n * r / ep) * k));
        for (int e = 0; e < c.num_experts; ++e) {
          total += rl.rows[l][e];
          if (e / per_rank != r) {
            EXPECT_EQ(rl.rows[l][e], 0) << "rank " << r << " ran expert " << e;
          }
        }
      }
      EXPECT_EQ(total, static_cast<int64_t>(n) * k);
      for (int d = 0; d < ep; ++d) {
        int64_t ran = 0;
        for (int e = 0; e < c.num_experts; ++e) ran += stats.ranks[d].rows[l][e];
        EXPECT_EQ(received[d], ran);
      }
    }
    // A second forward adds to the same statistics.
    ASSERT_TRUE(ForwardExpertParallel(model, tokens, ep, &stats).ok());
    ExpertLoad twice = single;
    for (auto& layer : twice.tokens) {
      for (int64_t& x : layer) x *= 2;
    }
    EXPECT_EQ(stats.Total().tokens, twice.tokens);
  }
}

INSTANTIATE_TEST_SUITE_P(Routing, ExpertParallelTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "SigmoidBiasShared" : "Softmax";
                         });

// Each rank gets a copy of the layer whose experts it does not own are NaN: the outputs
// still match the single-rank ones, so every expert ran on its owner only.
TEST(ExpertParallelMoeTest, ExpertsRunOnTheirOwnerOnly) {
  Model model = TinyModel(false, 9);
  const ModelConfig& c = model.config();
  const LayerWeights& lw = model.weights().layers[1];
  const int n = 10, k = c.num_experts_per_tok, hidden = c.hidden_size;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  std::vector<float> x(static_cast<size_t>(n) * hidden), w(static_cast<size_t>(n) * k);
  for (float& v : x) v = nd(rng);
  for (float& v : w) v = nd(rng);
  std::vector<int32_t> ids(static_cast<size_t>(n) * k);
  for (int t = 0; t < n; ++t) {
    ids[t * k] = static_cast<int32_t>(rng() % 8);
    ids[t * k + 1] = (ids[t * k] + 1 + static_cast<int32_t>(rng() % 7)) % 8;
  }
  auto one = LocalCommunicatorGroup::Create(1);
  ASSERT_TRUE(one.ok());
  auto single = ExpertParallelMoe::Create(c, one->communicator(0));
  ASSERT_TRUE(single.ok());
  std::vector<float> ref(x.size());
  ASSERT_TRUE(single->RoutedForward(lw, n, x.data(), ids.data(), w.data(), ref.data()).ok());
  for (int ep : {2, 4}) {
    auto group = LocalCommunicatorGroup::Create(ep);
    ASSERT_TRUE(group.ok());
    std::vector<std::vector<float>> outs(ep);
    std::vector<Status> got(ep);
    std::vector<std::thread> threads;
    for (int r = 0; r < ep; ++r) {
      threads.emplace_back([&, r] {
        LayerWeights mine = lw;
        for (int e = 0; e < c.num_experts; ++e) {
          if (e / (c.num_experts / ep) == r) continue;
          for (Tensor* t : {&mine.experts[e].gate_proj, &mine.experts[e].up_proj, &mine.experts[e].down_proj}) {
            std::fill(t->data.begin(), t->data.end(), std::nanf(""));
          }
        }
        const int t0 = n * r / ep, t1 = n * (r + 1) / ep;
        outs[r].assign(static_cast<size_t>(t1 - t0) * hidden, -1.f);
        auto moe = ExpertParallelMoe::Create(c, group->communicator(r));
        got[r] = moe.ok() ? moe->RoutedForward(mine, t1 - t0, x.data() + t0 * hidden, ids.data() + t0 * k,
                                               w.data() + t0 * k, outs[r].data())
                          : moe.status();
      });
    }
    for (std::thread& t : threads) t.join();
    std::vector<float> all;
    for (int r = 0; r < ep; ++r) {
      ASSERT_TRUE(got[r].ok()) << got[r].ToString();
      all.insert(all.end(), outs[r].begin(), outs[r].end());
    }
    ASSERT_EQ(all.size(), ref.size());
    EXPECT_LE(RelErr(all, ref), 1e-6) << "ep " << ep;
  }
}

TEST(ExpertParallelErrorsTest, EpMustDivideTheExperts) {
  Model model = TinyModel(false, 3);
  const std::vector<int32_t> tokens = Tokens(6, 1);
  EXPECT_EQ(ForwardExpertParallel(model, tokens, 3).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ForwardExpertParallel(model, tokens, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ForwardExpertParallel(model, tokens, 16).status().code(), StatusCode::kInvalidArgument);
  ExpertParallelStats stats;
  stats.ranks.resize(2);
  EXPECT_EQ(ForwardExpertParallel(model, tokens, 4, &stats).status().code(), StatusCode::kInvalidArgument);
  auto group = LocalCommunicatorGroup::Create(3);
  ASSERT_TRUE(group.ok());
  EXPECT_EQ(ExpertParallelMoe::Create(model.config(), group->communicator(0)).status().code(),
            StatusCode::kInvalidArgument);
  // A bad token fails on every rank, before any exchange.
  const std::vector<int32_t> bad = {1, 2, 50};
  EXPECT_EQ(ForwardExpertParallel(model, bad, 2).status().code(), StatusCode::kInvalidArgument);
}

TEST(ExpertParallelErrorsTest, RanksWithDifferentTokensFailTogether) {
  Model model = TinyModel(false, 3);
  auto group = LocalCommunicatorGroup::Create(2);
  ASSERT_TRUE(group.ok());
  std::vector<Status> got(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      const std::vector<int32_t> tokens = Tokens(5, r);  // not the same on both ranks
      got[r] = ForwardExpertParallelRank(model, tokens, group->communicator(r)).status();
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(got[0].code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(got[1].code(), StatusCode::kInvalidArgument);
}

TEST(ExpertParallelErrorsTest, BadExpertIdFailsOnEveryRank) {
  Model model = TinyModel(false, 3);
  const ModelConfig& c = model.config();
  auto group = LocalCommunicatorGroup::Create(2);
  ASSERT_TRUE(group.ok());
  std::vector<Status> got(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      auto moe = ExpertParallelMoe::Create(c, group->communicator(r));
      if (!moe.ok()) {
        got[r] = moe.status();
        return;
      }
      EXPECT_EQ(moe->first_expert(), r * 4);
      EXPECT_EQ(moe->OwnerOf(5), 1);
      const std::vector<float> x(2 * c.hidden_size, 0.5f), w(4, 0.5f);
      const std::vector<int32_t> ids = r == 1 ? std::vector<int32_t>{0, 9, 1, 2} : std::vector<int32_t>{0, 7, 1, 2};
      std::vector<float> out(x.size());
      got[r] = moe->RoutedForward(model.weights().layers[0], 2, x.data(), ids.data(), w.data(), out.data());
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(got[0].code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(got[1].code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tide::engine::dist
