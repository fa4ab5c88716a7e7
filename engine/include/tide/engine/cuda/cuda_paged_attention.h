// Causal GQA attention over a paged KV cache on the GPU, with the contract of
// PagedAttentionForward (tide/engine/kernels/paged_attention.h) on host buffers: decode
// rows and prefill chunks of many sequences in one call, K/V rows found through each
// sequence's block table, shared and unsorted block ids allowed.
//
// Host-buffer entry point like those of cuda_kernels.h: it copies the KV pool up to the
// highest block any sequence references, the block tables and the queries to the device,
// runs one thread block per (query row, head) — an online softmax over the keys split across
// its warps, f32 accumulation, merged across warps at the end — and copies each sequence's
// out back. Synchronous; device memory is freed on every path. Matches
// AttentionForwardReference on the same K/V laid out contiguously to a relative error of
// about 1e-6 (f32 scores and softmax, as the CPU fast path). Limits: head_dim <= 256,
// heads <= 65535.
// Errors: InvalidArgument (heads, kv_heads or head_dim <= 0 or beyond the limits, heads not
// a multiple of kv_heads, block_size <= 0, block_stride below block_size * kv_heads *
// head_dim, negative past or block id, a null buffer of a sequence with tokens > 0);
// FailedPrecondition (built without CUDA, no device or driver); Internal (any other failed
// CUDA call, named). Sequences with tokens <= 0 are skipped; an empty batch is a no-op.
// Thread safety: safe to call concurrently (each call owns its stream and buffers); the
// out buffers must not overlap each other or any input.
#pragma once

#include <span>

#include "tide/core/status.h"
#include "tide/engine/kernels/paged_attention.h"

namespace tide::engine {

Status CudaPagedAttentionForward(const AttentionShape& shape, const PagedKv& kv,
                                 std::span<const PagedSequence> seqs);

}  // namespace tide::engine
