// Model forward: creation checks, input errors, KV-cache prefill + decode against the full
// forward (1e-5), routing replay (bit-identical logits), and parity with the logits
// Hugging Face transformers computed for the qwen3_moe_tiny fixture (rel err < 1e-4).
#include "tide/engine/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model_test_util.h"
#include "tide/engine/checkpoint.h"

namespace tide::engine {
namespace {

using testing::TinyMoeConfig;
using testing::TinyRandomWeights;

const std::string kFixture = std::string(TIDE_SOURCE_DIR) + "/tests/data/qwen3_moe_tiny";

double RelErr(const float* a, const float* ref, size_t n) {
  double d = 0, r = 0;
  for (size_t i = 0; i < n; ++i) {
    d += std::pow(static_cast<double>(a[i]) - ref[i], 2);
    r += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(d / r);
}

TEST(ModelTest, CreateChecksConfigAndShapes) {
  ModelConfig c = TinyMoeConfig(false);
  ModelWeights w = ModelWeights::Allocate(c);
  w.layers[1].experts[2].up_proj.Resize({3, 3});
  auto bad = Model::Create(&w);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("model.layers.1.mlp.experts.2.up_proj.weight"), std::string::npos);
  ModelConfig odd = c;
  odd.num_key_value_heads = 3;
  EXPECT_EQ(Model::Create(ModelWeights::Allocate(odd)).status().code(), StatusCode::kInvalidArgument);
  ModelConfig topk = c;
  topk.num_experts_per_tok = 5;
  EXPECT_FALSE(Model::Create(ModelWeights::Allocate(topk)).ok());
  auto owned = Model::Create(ModelWeights::Allocate(c));
  ASSERT_TRUE(owned.ok());
  EXPECT_EQ(owned->config().hidden_size, 32);
}

TEST(ModelTest, ForwardRejectsBadInputsAndLeavesCacheAlone) {
  auto model = Model::Create(TinyRandomWeights(TinyMoeConfig(false), 1));
  ASSERT_TRUE(model.ok());
  KvCache cache;
  const std::vector<int32_t> ok = {1, 2, 3};
  ASSERT_TRUE(model->Forward(ok, &cache).ok());
  const std::vector<int32_t> bad = {4, 50};
  EXPECT_EQ(model->Forward(bad, &cache).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(model->Forward(std::vector<int32_t>{}, &cache).ok());
  const std::vector<int32_t> two_positions = {0, 1};
  EXPECT_FALSE(model->Forward(ok, two_positions, &cache).ok());
  RouterChoices wrong{2, 1, {{0, 1}, {0, 1}}};
  ForwardOptions fo;
  fo.forced_routing = &wrong;
  EXPECT_FALSE(model->Forward(ok, &cache, fo).ok());
  EXPECT_EQ(cache.length, 3);
  EXPECT_EQ(cache.k[0].size(), 3u * 16);
  auto logits = model->Forward(ok);
  ASSERT_TRUE(logits.ok());
  EXPECT_EQ(logits->shape, (std::vector<int64_t>{3, 50}));
}

class ModelVariantTest : public ::testing::TestWithParam<bool> {};

TEST_P(ModelVariantTest, DecodeAfterPrefillMatchesFullForward) {
  auto model = Model::Create(TinyRandomWeights(TinyMoeConfig(GetParam()), 2));
  ASSERT_TRUE(model.ok());
  // 20 tokens: the full forward's GEMMs take the blocked path, the decode steps the
  // streaming one (gemm.cc), so this also covers their agreement.
  const std::vector<int32_t> seq = {5, 9, 11, 0, 49, 23, 7, 7, 30, 2, 18, 44, 1, 3, 3, 40, 12, 27, 8, 16};
  const int vocab = 50, prefill = 8;
  auto full = model->Forward(seq);
  ASSERT_TRUE(full.ok());
  KvCache cache;
  // Chunked prefill (5 + 3), then one token at a time.
  auto a = model->Forward(std::span(seq).subspan(0, 5), &cache);
  auto b = model->Forward(std::span(seq).subspan(5, 3), &cache);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_LT(RelErr(b->data.data(), full->data.data() + 5 * vocab, 3 * vocab), 1e-5);
  for (int t = prefill; t < static_cast<int>(seq.size()); ++t) {
    auto step = model->Forward(std::span(seq).subspan(t, 1), &cache);
    ASSERT_TRUE(step.ok());
    EXPECT_LT(RelErr(step->data.data(), full->data.data() + t * vocab, vocab), 1e-5) << "token " << t;
  }
  EXPECT_EQ(cache.length, static_cast<int>(seq.size()));
  // Rewind and decode again: same rows.
  cache.Truncate(prefill);
  auto again = model->Forward(std::span(seq).subspan(prefill, 1), &cache);
  ASSERT_TRUE(again.ok());
  EXPECT_LT(RelErr(again->data.data(), full->data.data() + prefill * vocab, vocab), 1e-5);
  // Explicit positions equal to the default ones change nothing.
  std::vector<int32_t> pos(seq.size());
  for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int32_t>(i);
  auto with_pos = model->Forward(seq, pos, nullptr);
  ASSERT_TRUE(with_pos.ok());
  EXPECT_EQ(with_pos->data, full->data);
}

// Continuous batching: sequences with and without caches in one ForwardBatch give the
// logits and caches of running them one by one.
TEST_P(ModelVariantTest, BatchedForwardMatchesSeparateForwards) {
  auto model = Model::Create(TinyRandomWeights(TinyMoeConfig(GetParam()), 3));
  ASSERT_TRUE(model.ok());
  const int vocab = 50;
  const std::vector<int32_t> a = {5, 9, 11, 0, 49, 23, 7}, prefix = {3, 1, 4, 1, 5}, b = {9, 2, 6, 5},
                             c = {8, 9, 7, 9, 3, 2};
  KvCache a_alone, b_alone, a_batch, b_batch;
  ASSERT_TRUE(model->Forward(prefix, &b_alone).ok());
  ASSERT_TRUE(model->Forward(prefix, &b_batch).ok());
  auto ra = model->Forward(a, &a_alone);
  auto rb = model->Forward(b, &b_alone);
  auto rc = model->Forward(c);
  ASSERT_TRUE(ra.ok() && rb.ok() && rc.ok());
  const SequenceInput batch[] = {{a, {}, &a_batch}, {b, {}, &b_batch}, {c, {}, nullptr}};
  auto all = model->ForwardBatch(batch);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->shape, (std::vector<int64_t>{17, vocab}));
  EXPECT_LT(RelErr(all->data.data(), ra->data.data(), 7 * vocab), 1e-5);
  EXPECT_LT(RelErr(all->data.data() + 7 * vocab, rb->data.data(), 4 * vocab), 1e-5);
  EXPECT_LT(RelErr(all->data.data() + 11 * vocab, rc->data.data(), 6 * vocab), 1e-5);
  EXPECT_EQ(a_batch.length, 7);
  EXPECT_EQ(b_batch.length, 9);
  for (size_t l = 0; l < a_alone.k.size(); ++l) {
    EXPECT_LT(RelErr(a_batch.k[l].data(), a_alone.k[l].data(), a_alone.k[l].size()), 1e-5);
    EXPECT_LT(RelErr(b_batch.v[l].data(), b_alone.v[l].data(), b_alone.v[l].size()), 1e-5);
  }
  // One cache twice, or a bad token anywhere: refused, no cache touched.
  const std::vector<int32_t> bad = {1, 99};
  const SequenceInput twice[] = {{a, {}, &a_batch}, {b, {}, &a_batch}};
  const SequenceInput with_bad[] = {{a, {}, &a_batch}, {bad, {}, &b_batch}};
  EXPECT_EQ(model->ForwardBatch(twice).status().code(), StatusCode::kInvalidArgument);
  auto refused = model->ForwardBatch(with_bad);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("sequence 1"), std::string::npos) << refused.status().message();
  EXPECT_EQ(a_batch.length, 7);
  EXPECT_EQ(b_batch.length, 9);
}

TEST_P(ModelVariantTest, RoutingReplayIsBitIdentical) {
  const ModelConfig c = TinyMoeConfig(GetParam());
  auto model = Model::Create(TinyRandomWeights(c, 3));
  ASSERT_TRUE(model.ok());
  const std::vector<int32_t> seq = {1, 4, 9, 16, 25, 36, 49, 0, 8};
  RouterChoices rec;
  ExpertLoad load;
  ForwardOptions fo;
  fo.record_routing = &rec;
  fo.expert_load = &load;
  auto first = model->Forward(seq, nullptr, fo);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(rec.tokens, 9);
  ASSERT_EQ(rec.top_k, 2);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    EXPECT_EQ(rec.experts[l].size(), c.IsMoeLayer(l) ? 18u : 0u);
    int64_t total = 0;
    for (int64_t n : load.tokens[l]) total += n;
    EXPECT_EQ(total, c.IsMoeLayer(l) ? 18 : 0);
  }
  ForwardOptions replay;
  replay.forced_routing = &rec;
  replay.keep_activations = true;
  auto second = model->Forward(seq, nullptr, replay);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(first->data.size(), second->data.size());
  EXPECT_EQ(std::memcmp(first->data.data(), second->data.data(), first->data.size() * sizeof(float)), 0);

  // Forcing other experts changes the logits, and is what gets recorded.
  RouterChoices other = rec;
  const int moe = c.IsMoeLayer(0) ? 0 : 1;
  for (int t = 0; t < 9; ++t) {
    int32_t* ids = other.experts[moe].data() + 2 * t;
    for (int32_t e = 0; e < 4; ++e) {
      if (e != ids[0] && e != ids[1]) {
        ids[1] = e;
        break;
      }
    }
  }
  RouterChoices seen;
  ForwardOptions forced;
  forced.forced_routing = &other;
  forced.record_routing = &seen;
  auto third = model->Forward(seq, nullptr, forced);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(seen.experts, other.experts);
  EXPECT_NE(third->data, first->data);
  // Replay also holds for an incremental decode with a cache.
  KvCache cache;
  RouterChoices step_rec;
  ForwardOptions rec_step;
  rec_step.record_routing = &step_rec;
  ASSERT_TRUE(model->Forward(std::span(seq).subspan(0, 8), &cache).ok());
  auto d1 = model->Forward(std::span(seq).subspan(8, 1), &cache, rec_step);
  cache.Truncate(8);
  ForwardOptions replay_step;
  replay_step.forced_routing = &step_rec;
  auto d2 = model->Forward(std::span(seq).subspan(8, 1), &cache, replay_step);
  ASSERT_TRUE(d1.ok() && d2.ok());
  EXPECT_EQ(d1->data, d2->data);
}

INSTANTIATE_TEST_SUITE_P(Variants, ModelVariantTest, ::testing::Values(false, true),
                         [](const auto& info) { return std::string(info.param ? "SigmoidExtended" : "Qwen3"); });

// The fixture's logits come from transformers (eager attention, f32); see its README.
TEST(ModelTest, MatchesHuggingFaceLogits) {
  auto weights = LoadModel(kFixture + "/f32");
  ASSERT_TRUE(weights.ok()) << weights.status().ToString();
  std::ifstream in(kFixture + "/reference_logits.json");
  ASSERT_TRUE(in.good());
  const nlohmann::json j = nlohmann::json::parse(in);
  const std::vector<int32_t> tokens = j.at("tokens").get<std::vector<int32_t>>();
  std::vector<float> ref;
  for (const auto& row : j.at("logits")) {
    for (const auto& x : row) ref.push_back(x.get<float>());
  }
  auto model = Model::Create(std::move(weights).value());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto logits = model->Forward(tokens);
  ASSERT_TRUE(logits.ok());
  ASSERT_EQ(logits->data.size(), ref.size());
  const double err = RelErr(logits->data.data(), ref.data(), ref.size());
  std::cout << "HF parity: relative error " << err << " over " << ref.size() << " logits\n";
  EXPECT_LT(err, 1e-4);
  // Incremental decode of the last token agrees too.
  KvCache cache;
  const size_t n = tokens.size();
  ASSERT_TRUE(model->Forward(std::span(tokens).subspan(0, n - 1), &cache).ok());
  auto last = model->Forward(std::span(tokens).subspan(n - 1, 1), &cache);
  ASSERT_TRUE(last.ok());
  const size_t vocab = logits->data.size() / n;
  EXPECT_LT(RelErr(last->data.data(), ref.data() + (n - 1) * vocab, vocab), 1e-4);
}

}  // namespace
}  // namespace tide::engine
