// Model::ForwardPaged against the cache-backed Forward: chunked prefill, decode, several
// sequences in one batch, and a second sequence reading the first one's prefix blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tide/engine/kv_block_pool.h"
#include "tide/engine/model.h"

namespace tide::engine {
namespace {

ModelConfig Config() {
  ModelConfig c;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 40;
  c.moe_intermediate_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.num_experts = 4;
  c.num_experts_per_tok = 2;
  c.scoring_func = ScoringFunc::kSigmoid;
  c.use_expert_bias = true;
  c.n_shared_experts = 1;
  c.first_k_dense_replace = 1;
  return c;
}

double RelErr(const float* a, const float* ref, size_t n) {
  double d = 0, r = 0;
  for (size_t i = 0; i < n; ++i) {
    d += std::pow(static_cast<double>(a[i]) - ref[i], 2);
    r += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(d / r);
}

TEST(ModelPagedTest, MatchesCacheForwardAndSharesPrefixBlocks) {
  ModelWeights w = ModelWeights::Allocate(Config());
  w.InitRandom(5);
  auto model = Model::Create(&w);
  ASSERT_TRUE(model.ok());
  const int vocab = 64, bs = 4;
  auto pool = KvBlockPool::Create({/*num_blocks=*/32, bs, 2, Config().kv_dim(), true});
  ASSERT_TRUE(pool.ok());
  std::mt19937 rng(1);
  std::vector<int32_t> a(11), b(14);
  for (auto& t : a) t = static_cast<int32_t>(rng() % vocab);
  for (auto& t : b) t = static_cast<int32_t>(rng() % vocab);
  std::copy(a.begin(), a.begin() + 8, b.begin());  // b shares a's first two blocks
  // References: full forwards.
  auto ref_a = model->Forward(a);
  auto ref_b = model->Forward(b);
  ASSERT_TRUE(ref_a.ok() && ref_b.ok());

  std::vector<int32_t> table_a, table_b;
  for (int i = 0; i < 4; ++i) table_a.push_back((*pool)->Allocate());
  // a: prefill 7 then 4 (chunked), alone.
  const std::span<const int32_t> sa(a);
  PagedSequenceInput first{sa.first(7), 0, table_a};
  auto l1 = model->ForwardPaged(std::span(&first, 1), pool->get());
  ASSERT_TRUE(l1.ok()) << l1.status().ToString();
  EXPECT_LT(RelErr(l1->data.data(), ref_a->data.data() + 6 * vocab, vocab), 1e-5);
  // b reuses a's first 2 blocks (positions 0..7) and computes the rest, in one batch with a's last chunk.
  table_b = {table_a[0], table_a[1]};
  for (int i = 0; i < 2; ++i) table_b.push_back((*pool)->Allocate());
  const std::span<const int32_t> sb(b);
  const PagedSequenceInput step[] = {{sa.subspan(7), 7, table_a}, {sb.subspan(8), 8, table_b}};
  auto l2 = model->ForwardPaged(step, pool->get());
  ASSERT_TRUE(l2.ok()) << l2.status().ToString();
  ASSERT_EQ(l2->shape, (std::vector<int64_t>{2, vocab}));
  EXPECT_LT(RelErr(l2->data.data(), ref_a->data.data() + 10 * vocab, vocab), 1e-5);
  EXPECT_LT(RelErr(l2->data.data() + vocab, ref_b->data.data() + 13 * vocab, vocab), 1e-5);
  // Decode one more token of a, continuing its cache (a copy: `sa` still views `a`).
  std::vector<int32_t> a2 = a;
  a2.push_back(9);
  auto ref_a2 = model->Forward(a2);
  const int32_t next[] = {9};
  PagedSequenceInput decode{next, 11, table_a};
  auto l3 = model->ForwardPaged(std::span(&decode, 1), pool->get());
  ASSERT_TRUE(l3.ok());
  EXPECT_LT(RelErr(l3->data.data(), ref_a2->data.data() + 11 * vocab, vocab), 1e-5);

  // Bad input: a table too short, a block out of range, a bad token.
  const int32_t short_table[] = {table_a[0]};
  PagedSequenceInput too_short{sa, 0, short_table};
  EXPECT_EQ(model->ForwardPaged(std::span(&too_short, 1), pool->get()).status().code(), StatusCode::kInvalidArgument);
  const int32_t bad_block[] = {99, 0, 1};
  PagedSequenceInput out_of_range{sa, 0, bad_block};
  EXPECT_EQ(model->ForwardPaged(std::span(&out_of_range, 1), pool->get()).status().code(),
            StatusCode::kInvalidArgument);
  const int32_t bad_token[] = {64};
  PagedSequenceInput bad{bad_token, 0, table_a};
  EXPECT_EQ(model->ForwardPaged(std::span(&bad, 1), pool->get()).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tide::engine
