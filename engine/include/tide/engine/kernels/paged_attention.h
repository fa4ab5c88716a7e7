// Batched causal GQA attention forward over a paged KV cache (continuous batching, vLLM
// style): one call serves every sequence of a scheduler step, decode rows and prefill
// chunks mixed.
//
// KV storage of one layer is a pool of blocks of block_size rows each; a row holds
// [kv_heads, head_dim] floats. Key row j of a sequence lives at
//   k + block_table[j / block_size] * block_stride + (j % block_size) * (kv_heads * head_dim)
// and value row j at the same offset from v. block_stride (floats) is at least
// block_size * kv_heads * head_dim; block ids need not be contiguous, sorted or distinct
// across sequences (shared prefix blocks are fine: K/V are only read).
//
// Each sequence brings `tokens` new query rows that follow `past` keys; their own K/V rows
// are already written at positions past .. past + tokens - 1, and block_table covers
// positions 0 .. past + tokens - 1. New token t attends to positions 0 ..= past + t, exactly
// as AttentionForward (attention.h) on the same K/V laid out contiguously: the same tile
// loop and micro-kernels, so the outputs are bit-identical to AttentionForwardAt at the same
// SIMD level (relative error about 1e-6 against AttentionForwardReference); no lse is kept.
//
// Work: one ParallelFor on ThreadPool::Default() over all (sequence, head, 16-query block)
// tasks of the batch, claimed longest first (the heads sharing a kv head together, for
// cache reuse) so long prefill blocks and short decode rows mix across threads. Each output row is computed by one task whose arithmetic depends only
// on that sequence, so results are bit-identical whatever else is in the batch.
//
// Shared prefixes: sequences whose block tables name the same blocks for leading 64-key
// tiles that all their new rows see (a swarm's common system prompt) are walked together:
// each shared tile is read and transposed once per kv head and up to 16 such sequences,
// and folded into each one's online softmax in the same order as its walk alone, so the
// outputs stay bit-identical while the batch reads the shared K/V a fraction as often.
//
// Thread safety: pure function on caller-owned buffers. The out buffers of the sequences
// must not overlap each other or any input. heads must be a multiple of kv_heads.
#pragma once

#include <cstdint>
#include <span>

#include "tide/engine/kernels/attention.h"
#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine {

// KV storage of one layer in a block pool (see above).
struct PagedKv {
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t block_stride = 0;  // floats from one block to the next
  int block_size = 0;        // rows per block, > 0
};

struct PagedSequence {
  int tokens = 0;            // new query rows of this sequence in this step (1 for decode, a chunk for prefill)
  int past = 0;              // keys before them; the new rows' own K/V are already written at past .. past+tokens-1
  const float* q = nullptr;  // [tokens, heads, head_dim]
  float* out = nullptr;      // [tokens, heads, head_dim]
  const int32_t* block_table = nullptr;  // covers positions 0 .. past+tokens-1
};

// What a call did, for tests and benchmarks.
struct PagedAttentionStats {
  int64_t key_tiles_read = 0;    // K tiles gathered and transposed (one per kv head)
  int64_t shared_tile_uses = 0;  // (sequence, kv head, tile) folds served by a tile read for several
};

// heads, kv_heads, head_dim and scale as in AttentionShape (its tokens and past are unused:
// each sequence brings its own). Sequences with tokens <= 0 are skipped; an empty batch is a
// no-op. PagedAttentionForwardAt forces a SIMD level (tests, benchmarks); an unsupported
// level falls back to the best supported one.
void PagedAttentionForward(const AttentionShape& shape, const PagedKv& kv, std::span<const PagedSequence> seqs);
void PagedAttentionForwardAt(SimdLevel level, const AttentionShape& shape, const PagedKv& kv,
                             std::span<const PagedSequence> seqs, PagedAttentionStats* stats = nullptr);

}  // namespace tide::engine
