// The tiny MoE models the engine's model tests share: a config small enough to check
// against references in milliseconds (vocabulary 50, hidden 32, 4 heads over 2 kv heads),
// in Qwen3-MoE form or with every DeepSeek-V3 / Kimi K2 extension on (sigmoid scoring with
// expert bias, a shared expert, a dense first layer, routed scaling), and weights drawn so
// that activations stay of order one.
#pragma once

#include <algorithm>
#include <cmath>
#include <random>
#include <span>
#include <utility>

#include <gtest/gtest.h>

#include "tide/engine/inference_engine.h"
#include "tide/engine/model.h"
#include "tide/engine/model_config.h"
#include "tide/engine/model_weights.h"

namespace tide::engine::testing {

struct TinyMoeShape {
  int layers = 2;
  int experts = 4;
  int top_k = 2;
  int extended_top_k = 2;  // experts per token when the extensions are on
};

inline ModelConfig TinyMoeConfig(bool extended, const TinyMoeShape& shape = {}) {
  ModelConfig c;
  c.vocab_size = 50;
  c.hidden_size = 32;
  c.intermediate_size = 40;
  c.moe_intermediate_size = 16;
  c.num_hidden_layers = shape.layers;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.num_experts = shape.experts;
  c.num_experts_per_tok = shape.top_k;
  if (extended) {
    c.scoring_func = ScoringFunc::kSigmoid;
    c.use_expert_bias = true;
    c.n_shared_experts = 1;
    c.first_k_dense_replace = 1;
    c.routed_scaling_factor = 2.5f;
    c.num_experts_per_tok = shape.extended_top_k;
  }
  return c;
}

// Norm weights near 1, embeddings N(0, 1), the rest N(0, 0.2²).
inline ModelWeights TinyRandomWeights(const ModelConfig& c, unsigned seed) {
  ModelWeights w = ModelWeights::Allocate(c);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  for (NamedTensor& p : NamedParameters(w)) {
    for (float& x : p.tensor->data) {
      x = p.kind == NamedTensor::Kind::kNorm        ? 1.f + 0.2f * nd(rng)
          : p.kind == NamedTensor::Kind::kEmbedding ? nd(rng)
                                                    : 0.2f * nd(rng);
    }
  }
  return w;
}

// A tiny model for serving tests over the byte-level tokenizer (ByteLevelTokenizer():
// 256 bytes and the chat specials fit in 272): 2 MoE layers of 4 experts, or with
// `dense_first` a dense layer 0 before them; InitRandom(seed) weights.
inline ModelWeights TinyServingWeights(unsigned seed, int max_positions, bool dense_first = false) {
  ModelConfig c;
  c.vocab_size = 272;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.moe_intermediate_size = 16;
  c.num_hidden_layers = dense_first ? 3 : 2;
  c.first_k_dense_replace = dense_first ? 1 : 0;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.num_experts = 4;
  c.num_experts_per_tok = 2;
  c.max_position_embeddings = max_positions;
  ModelWeights w = ModelWeights::Allocate(c);
  w.InitRandom(seed);
  return w;
}

inline Model TinyRandomModel(const ModelConfig& c, unsigned seed) {
  auto m = Model::Create(TinyRandomWeights(c, seed));
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

// Routing replay, as RL uses it: runs Model::Forward over prompt + output with the served
// router choices forced (MakeReplayInput) and expects each served log-prob from the
// replayed logits, softmax over the first `vocab` ids at `temperature`, within 1e-4.
inline void ExpectReplayReproducesServedLogprobs(Model& model, std::span<const int32_t> prompt,
                                                 const GenerationResult& served, int vocab, double temperature) {
  auto replay = MakeReplayInput(model.config(), prompt, served);
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  ForwardOptions forced;
  forced.forced_routing = &replay->routing;
  auto logits = model.Forward(replay->inputs, nullptr, forced);
  ASSERT_TRUE(logits.ok()) << logits.status().ToString();
  const size_t row_width = static_cast<size_t>(logits->shape[1]);
  for (size_t i = 0; i < served.tokens.size(); ++i) {
    const float* x = logits->data.data() + (prompt.size() - 1 + i) * row_width;
    const float* end = x + vocab;
    const double max = *std::max_element(x, end);
    double z = 0;
    for (const float* v = x; v != end; ++v) z += std::exp((*v - max) / temperature);
    EXPECT_NEAR((x[served.tokens[i].id] - max) / temperature - std::log(z), served.tokens[i].logprob, 1e-4)
        << "token " << i;
  }
}

}  // namespace tide::engine::testing
