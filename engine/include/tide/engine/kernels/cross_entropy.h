// Token-weighted cross-entropy over logits, with its gradient and the per-token log-probs.
//
//   logp_t = log softmax(logits_t)[target_t]
//   loss   = Σ_t w_t · (−logp_t) / N,   N = normalizer if > 0, else Σ_t |w_t|
//   dlogits_t = (w_t / N) · (softmax(logits_t) − onehot(target_t))
// Weights carry the training signal: an SFT mask (0/1), or RL advantages (any sign; with
// the default N = Σ|w| the loss is a weighted mean). A token with weight 0 contributes
// neither loss nor gradient (its dlogits row is all zero) but still gets its log-prob.
// weights == null means every weight is 1. When N is 0 (all weights 0) the loss is 0 and
// dlogits is zero. Pass a normalizer to share one N over several micro-batches.
//
// Layout: logits and dlogits [tokens, vocab] row-major; targets, weights and
// token_logprobs [tokens]. token_logprobs and dlogits may be null. Computed in double per
// row, rounded once. dlogits may alias logits (each row is read before it is written).
//
// Errors: InvalidArgument when a target is outside [0, vocab) or a weight is not finite.
// Thread safety: pure function on caller-owned buffers.
#pragma once

#include <cstdint>

#include "tide/core/status.h"
#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine {

Result<float> CrossEntropyReference(const float* logits, const int32_t* targets, const float* weights, int tokens,
                                    int vocab, float normalizer, float* token_logprobs, float* dlogits);

// Fast path (cross_entropy_fast.cc), same contract and errors: f32 rows with a vectorised
// exp (AVX-512 / AVX2 / scalar chosen at run time), rows split over ThreadPool::Default(),
// the loss summed per row in double in row order (independent of the thread count).
// Matches the reference to a relative error of about 1e-6 (loss, log-probs, dlogits).
Result<float> CrossEntropy(const float* logits, const int32_t* targets, const float* weights, int tokens, int vocab,
                           float normalizer, float* token_logprobs, float* dlogits);
Result<float> CrossEntropyAt(SimdLevel level, const float* logits, const int32_t* targets, const float* weights,
                             int tokens, int vocab, float normalizer, float* token_logprobs, float* dlogits);

}  // namespace tide::engine
