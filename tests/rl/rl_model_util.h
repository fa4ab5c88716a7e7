// The model the RL tests share: configs/models/tiny.json (a 2-layer MoE, 8 experts, top-2,
// vocabulary 512) with seeded random weights. `scale` multiplies the default N(0, 0.02²)
// init so that distributions are peaked and router choices matter (as in a trained model).
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "tide/engine/model_config.h"
#include "tide/engine/model_weights.h"

namespace tide::rl::testing {

inline engine::ModelConfig TinyConfig() {
  auto c = engine::LoadModelConfig(std::string(TIDE_SOURCE_DIR) + "/configs/models/tiny.json");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : engine::ModelConfig{};
}

inline engine::ModelWeights TinyWeights(const engine::ModelConfig& c, uint64_t seed, float scale = 1.f) {
  engine::ModelWeights w = engine::ModelWeights::Allocate(c);
  w.InitRandom(seed);
  if (scale != 1.f) {
    for (engine::NamedTensor& p : engine::NamedParameters(w)) {
      if (p.kind == engine::NamedTensor::Kind::kNorm || p.kind == engine::NamedTensor::Kind::kBias) continue;
      for (float& x : p.tensor->data) x *= scale;
    }
  }
  return w;
}

}  // namespace tide::rl::testing
