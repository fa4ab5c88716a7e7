// Sampling one token from a row of logits: temperature, top-k, top-p (nucleus), with the
// sampled token's log-probability under the full (temperature-scaled) distribution.
// Temperature 0 is greedy (ties to the lower id). The random source is the caller's, so a
// seeded generator reproduces a request exactly.
// Thread safety: pure function of its arguments.
#pragma once

#include <cstdint>
#include <random>
#include <span>

namespace tide::engine {

struct SamplingOptions {
  float temperature = 1.f;  // 0 = greedy
  int top_k = 0;            // 0 = off
  float top_p = 1.f;        // 1 = off
};

struct SampledToken {
  int32_t id = 0;
  float logprob = 0;  // log p(id) after temperature, before top-k/top-p truncation
};

SampledToken SampleToken(std::span<const float> logits, const SamplingOptions& options, std::mt19937_64& rng);

}  // namespace tide::engine
