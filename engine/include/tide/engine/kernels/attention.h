// Causal grouped-query attention (GQA) over a block of new tokens that follows a prefix of
// `past` tokens already in the KV cache: the scalar reference, forward and backward.
//
// Shapes (row-major, f32):
//   q    [tokens, heads, head_dim]            queries of the new tokens (after q_norm, RoPE)
//   k, v [past + tokens, kv_heads, head_dim]  keys / values of the prefix then the new tokens
//   out  [tokens, heads, head_dim]
//   lse  [tokens, heads]                      log-sum-exp of each query's scaled scores
// New token t sits at index past + t of k and v and attends to indices 0 ..= past + t.
// Query head h reads kv head h / (heads / kv_heads) (heads must be a multiple of
// kv_heads). Scores are scale * q·k (scale is 1/sqrt(head_dim) for Qwen3) and the softmax
// is taken in double; every output is rounded to f32 once.
//
// The forward pass saves only lse; the backward pass recomputes the probabilities from q,
// k and lse (p = exp(s - lse)) and needs `out` for D = dout·out.
//
// Thread safety: pure functions on caller-owned buffers; concurrent calls on different
// output buffers are fine. Outputs must not alias inputs.
#pragma once

#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine {

struct AttentionShape {
  int tokens = 0;
  int past = 0;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  float scale = 1.f;
};

// Writes out and lse (lse may be null when backward will not run).
void AttentionForwardReference(const AttentionShape& s, const float* q, const float* k, const float* v,
                               float* out, float* lse);

// Fast forward (attention_fast.cc), same contract: tiled flash-attention style (online
// softmax over blocks of keys, f32 accumulation, vectorised micro-kernels at the AVX-512 /
// AVX2 / scalar level chosen at run time), parallel over (query head, query block) on
// ThreadPool::Default(). Matches AttentionForwardReference (out and lse) to a relative
// error of about 1e-6. AttentionForwardAt forces a level (tests, benchmarks); an
// unsupported level falls back to the best supported one.
void AttentionForward(const AttentionShape& s, const float* q, const float* k, const float* v, float* out,
                      float* lse);
void AttentionForwardAt(SimdLevel level, const AttentionShape& s, const float* q, const float* k, const float* v,
                        float* out, float* lse);

// Given dout = dL/d(out), writes dq [tokens, heads, head_dim] and dk, dv
// [past + tokens, kv_heads, head_dim] (overwritten, prefix rows included).
void AttentionBackwardReference(const AttentionShape& s, const float* q, const float* k, const float* v,
                                const float* out, const float* lse, const float* dout, float* dq, float* dk,
                                float* dv);

// Fast backward (attention_backward_fast.cc), same contract: flash-attention-2 style (p
// recomputed from lse block by block, f32 accumulation, vectorised micro-kernels at the
// AVX-512 / AVX2 / scalar level chosen at run time), in two passes on ThreadPool::Default()
// whose work items own disjoint rows: dq per (query head, query block), then dk and dv per
// (kv head, key block) over every query head of the group. Matches
// AttentionBackwardReference to a relative error of about 1e-6 (about 1e-5 once scores reach
// the hundreds: f32 scores, as in the forward). AttentionBackwardAt forces a level (tests,
// benchmarks); an unsupported level falls back to the best supported one.
void AttentionBackward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* out,
                       const float* lse, const float* dout, float* dq, float* dk, float* dv);
void AttentionBackwardAt(SimdLevel level, const AttentionShape& s, const float* q, const float* k, const float* v,
                         const float* out, const float* lse, const float* dout, float* dq, float* dk, float* dv);

}  // namespace tide::engine
