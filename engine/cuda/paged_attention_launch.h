// Private bridge between engine/src/cuda_paged_attention.cc (C++20, the public
// CudaPagedAttentionForward of tide/engine/cuda/cuda_paged_attention.h) and
// engine/cuda/paged_attention.cu (compiled by nvcc as C++17, which cannot include
// paged_attention.h's <span>). Plain C++17, no CUDA headers: the shim flattens the span of
// PagedSequence into PagedSeqDesc and calls PagedAttentionOnDevice, which validates every
// argument, copies the referenced KV blocks and queries to the device, runs and copies the
// outputs back (synchronous; device memory freed on every path; no throws).
#pragma once

#include <cstdint>

#include "tide/core/status.h"
#include "tide/engine/kernels/attention.h"

namespace tide::engine::cuda_internal {

// Per-sequence data the attention kernel reads from device memory besides the query rows:
// the keys before its first new row, and where its block table starts in the concatenated
// tables.
struct AttnSeqInfo {
  int past;
  int table_offset;
};

struct PagedSeqDesc {
  int tokens = 0;
  int past = 0;
  const float* q = nullptr;
  float* out = nullptr;
  const std::int32_t* block_table = nullptr;
};

// The contract of CudaPagedAttentionForward with kv unpacked.
Status PagedAttentionOnDevice(const AttentionShape& shape, const float* k, const float* v,
                              std::int64_t block_stride, int block_size,
                              const PagedSeqDesc* seqs, int num_seqs);

}  // namespace tide::engine::cuda_internal
