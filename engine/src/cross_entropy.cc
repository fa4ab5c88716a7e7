#include "tide/engine/kernels/cross_entropy.h"

#include "cross_entropy_internal.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

namespace tide::engine {

namespace cross_entropy_internal {

Result<double> Normaliser(const int32_t* targets, const float* weights, int tokens, int vocab, float normalizer) {
  if (tokens < 0 || vocab <= 0) {
    return InvalidArgument("cross-entropy: bad shape tokens=" + std::to_string(tokens) +
                           " vocab=" + std::to_string(vocab));
  }
  double norm = 0.0;
  for (int t = 0; t < tokens; ++t) {
    if (targets[t] < 0 || targets[t] >= vocab) {
      return InvalidArgument("cross-entropy: target " + std::to_string(targets[t]) + " at token " +
                             std::to_string(t) + " is outside [0, " + std::to_string(vocab) + ")");
    }
    const float w = weights != nullptr ? weights[t] : 1.f;
    if (!std::isfinite(w)) {
      return InvalidArgument("cross-entropy: weight of token " + std::to_string(t) + " is not finite");
    }
    norm += std::fabs(w);
  }
  if (normalizer > 0.f) norm = normalizer;
  return norm;
}

}  // namespace cross_entropy_internal

Result<float> CrossEntropyReference(const float* logits, const int32_t* targets, const float* weights, int tokens,
                                    int vocab, float normalizer, float* token_logprobs, float* dlogits) {
  TIDE_ASSIGN_OR_RETURN(const double norm, cross_entropy_internal::Normaliser(targets, weights, tokens, vocab, normalizer));
  const double inv_norm = norm > 0.0 ? 1.0 / norm : 0.0;
  double loss = 0.0;
  for (int t = 0; t < tokens; ++t) {
    const std::ptrdiff_t o = static_cast<std::ptrdiff_t>(t) * vocab;
    const float* row = logits + o;
    double m = row[0];
    for (int i = 1; i < vocab; ++i) m = std::max(m, static_cast<double>(row[i]));
    double sum = 0.0;
    for (int i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(row[i]) - m);
    const double lse = m + std::log(sum);
    const double logp = static_cast<double>(row[targets[t]]) - lse;
    if (token_logprobs != nullptr) token_logprobs[t] = static_cast<float>(logp);
    const double w = weights != nullptr ? weights[t] : 1.0;
    loss -= w * logp;
    if (dlogits != nullptr) {
      const double c = w * inv_norm;
      float* drow = dlogits + o;
      if (c == 0.0) {
        std::fill(drow, drow + vocab, 0.f);
        continue;
      }
      for (int i = 0; i < vocab; ++i) {
        const double p = std::exp(static_cast<double>(row[i]) - lse);
        drow[i] = static_cast<float>(c * (p - (i == targets[t] ? 1.0 : 0.0)));
      }
    }
  }
  return static_cast<float>(loss * inv_norm);
}

}  // namespace tide::engine
