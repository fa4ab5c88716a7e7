// CudaPagedAttentionForward (tide/engine/cuda/cuda_paged_attention.h): flattens the span of
// sequences for engine/cuda/paged_attention.cu, which nvcc compiles as C++17 (no <span>).
// Without CUDA (TIDE_HAS_CUDA=0) it reports that no device can be used.
#include "tide/engine/cuda/cuda_paged_attention.h"

#include <cstddef>
#include <limits>
#include <vector>

#if TIDE_HAS_CUDA
#include "../cuda/paged_attention_launch.h"
#endif

namespace tide::engine {

Status CudaPagedAttentionForward(const AttentionShape& shape, const PagedKv& kv,
                                 std::span<const PagedSequence> seqs) {
#if TIDE_HAS_CUDA
  if (seqs.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return InvalidArgument("CudaPagedAttentionForward: too many sequences");
  }
  std::vector<cuda_internal::PagedSeqDesc> descs;
  descs.reserve(seqs.size());
  for (const PagedSequence& s : seqs) {
    descs.push_back({s.tokens, s.past, s.q, s.out, s.block_table});
  }
  return cuda_internal::PagedAttentionOnDevice(shape, kv.k, kv.v, kv.block_stride, kv.block_size,
                                               descs.data(), static_cast<int>(descs.size()));
#else
  (void)shape;
  (void)kv;
  (void)seqs;
  return FailedPrecondition("Tide was built without CUDA (TIDE_CUDA=OFF or nvcc not found)");
#endif
}

}  // namespace tide::engine
