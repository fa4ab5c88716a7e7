// CUDA implementation of CudaSoftmaxTopK (tide/engine/cuda/cuda_kernels.h): the softmax
// MoE router, one thread block per token row.
//
// Per row: the max and the sum of exp(x - max) in double (block reductions), the scores
// s = f32(exp(x - max) / sum) kept in shared memory, then k rounds of a block-wide arg-max
// under TopKReference's order (larger first, NaN last, lower index on ties), each round
// excluding the ids already taken; thread 0 then forms the weights exactly as the CPU
// router does (f32 sum of the chosen scores in slot order, one f32 division each, times
// the scale). The scores match SoftmaxReference bit for bit except where the different
// summation order of the double sum moves a score across an f32 rounding boundary
// (relative 1e-16 events), so ids agree on all but adversarial inputs.
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "cuda_check.h"
#include "tide/engine/cuda/cuda_kernels.h"

namespace tide::engine {
namespace {

using cuda_internal::BadArgument;
using cuda_internal::DeviceBuffer;
using cuda_internal::Stream;

constexpr int kWarpSize = 32;
constexpr int kThreads = 256;
constexpr int kWarps = kThreads / kWarpSize;
// Scores (f32) and taken flags (1 byte) per expert stay under the 48 KB of static
// shared memory every device gives a block.
constexpr int kMaxExperts = 8192;

// Candidate (value, index); index -1 is "none" and ranks below everything.
struct Candidate {
  float value;
  int index;
};

// TopKReference's order: a ranks before b.
__device__ __forceinline__ bool Before(Candidate a, Candidate b) {
  if (a.index < 0) return false;
  if (b.index < 0) return true;
  const bool na = isnan(a.value), nb = isnan(b.value);
  if (na != nb) return nb;
  if (!na && a.value != b.value) return a.value > b.value;
  return a.index < b.index;
}

__device__ __forceinline__ Candidate WarpBest(Candidate c) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    Candidate o;
    o.value = __shfl_xor_sync(0xffffffffu, c.value, offset);
    o.index = __shfl_xor_sync(0xffffffffu, c.index, offset);
    if (Before(o, c)) c = o;
  }
  return c;
}

__device__ __forceinline__ double WarpMax(double v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v = fmax(v, __shfl_xor_sync(0xffffffffu, v, offset));
  }
  return v;
}

__device__ __forceinline__ double WarpSum(double v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
}

// Block of kThreads threads per row. logits [rows, n], ids/weights [rows, k].
__global__ void __launch_bounds__(kThreads)
    SoftmaxTopKKernel(const float* __restrict__ logits, int n, int k, bool normalize,
                      float scale, std::int32_t* __restrict__ ids,
                      float* __restrict__ weights) {
  __shared__ float scores[kMaxExperts];
  __shared__ unsigned char taken[kMaxExperts];
  __shared__ double warp_partial[kWarps];
  __shared__ Candidate warp_best[kWarps];
  __shared__ double row_max, row_sum;

  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  const float* x = logits + static_cast<std::size_t>(blockIdx.x) * n;
  std::int32_t* row_ids = ids + static_cast<std::size_t>(blockIdx.x) * k;
  float* row_weights = weights + static_cast<std::size_t>(blockIdx.x) * k;

  // The max as SoftmaxReference forms it: std::max keeps its first argument when the other
  // is NaN, so only a NaN in x[0] makes it NaN (and then every score is NaN anyway).
  double m = -INFINITY;
  for (int i = threadIdx.x; i < n; i += kThreads) m = fmax(m, static_cast<double>(x[i]));
  m = WarpMax(m);
  if (lane == 0) warp_partial[warp] = m;
  __syncthreads();
  if (threadIdx.x == 0) {
    double all = warp_partial[0];
    for (int w = 1; w < kWarps; ++w) all = fmax(all, warp_partial[w]);
    row_max = isnan(x[0]) ? static_cast<double>(x[0]) : all;
  }
  __syncthreads();
  m = row_max;

  double sum = 0.0;
  for (int i = threadIdx.x; i < n; i += kThreads) sum += exp(static_cast<double>(x[i]) - m);
  sum = WarpSum(sum);
  if (lane == 0) warp_partial[warp] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    double all = 0.0;
    for (int w = 0; w < kWarps; ++w) all += warp_partial[w];
    row_sum = all;
  }
  __syncthreads();
  sum = row_sum;
  for (int i = threadIdx.x; i < n; i += kThreads) {
    scores[i] = static_cast<float>(exp(static_cast<double>(x[i]) - m) / sum);
    taken[i] = 0;
  }
  __syncthreads();

  for (int j = 0; j < k; ++j) {
    Candidate best{0.f, -1};
    for (int i = threadIdx.x; i < n; i += kThreads) {
      if (taken[i]) continue;
      const Candidate c{scores[i], i};
      if (Before(c, best)) best = c;
    }
    best = WarpBest(best);
    if (lane == 0) warp_best[warp] = best;
    __syncthreads();
    if (threadIdx.x == 0) {
      Candidate all = warp_best[0];
      for (int w = 1; w < kWarps; ++w) {
        if (Before(warp_best[w], all)) all = warp_best[w];
      }
      row_ids[j] = all.index;
      taken[all.index] = 1;
    }
    __syncthreads();
  }

  if (threadIdx.x == 0) {
    // Slot order, f32, as ChosenSum in engine/src/model_moe.cc.
    float chosen_sum = 0.f;
    for (int j = 0; j < k; ++j) chosen_sum += scores[row_ids[j]];
    for (int j = 0; j < k; ++j) {
      const float s = scores[row_ids[j]];
      row_weights[j] = (normalize ? s / chosen_sum : s) * scale;
    }
  }
}

}  // namespace

Status CudaSoftmaxTopK(const float* logits, int rows, int n, int k, bool normalize, float scale,
                       int32_t* ids, float* weights) {
  constexpr const char* kFn = "CudaSoftmaxTopK";
  if (rows < 0) return BadArgument(kFn, "rows must be >= 0, got " + std::to_string(rows));
  if (n <= 0 || n > kMaxExperts) {
    return BadArgument(kFn, "n must be in [1, " + std::to_string(kMaxExperts) + "], got " +
                                std::to_string(n));
  }
  if (k <= 0 || k > n) {
    return BadArgument(kFn, "k must be in [1, n=" + std::to_string(n) + "], got " +
                                std::to_string(k));
  }
  if (rows == 0) return Status::Ok();
  if (logits == nullptr || ids == nullptr || weights == nullptr) {
    return BadArgument(kFn, "logits, ids and weights must not be null");
  }
  TIDE_RETURN_IF_ERROR(cuda_internal::RequireDevice());

  const std::size_t in_count = static_cast<std::size_t>(rows) * n;
  const std::size_t out_count = static_cast<std::size_t>(rows) * k;
  Stream stream;
  TIDE_RETURN_IF_ERROR(stream.Create());
  DeviceBuffer<float> logits_dev, weights_dev;
  DeviceBuffer<std::int32_t> ids_dev;
  TIDE_RETURN_IF_ERROR(
      cuda_internal::Upload(logits, in_count, stream.get(), "logits", &logits_dev));
  TIDE_RETURN_IF_ERROR(ids_dev.Allocate(out_count, "ids"));
  TIDE_RETURN_IF_ERROR(weights_dev.Allocate(out_count, "weights"));
  SoftmaxTopKKernel<<<rows, kThreads, 0, stream.get()>>>(logits_dev.get(), n, k, normalize, scale,
                                                         ids_dev.get(), weights_dev.get());
  TIDE_CUDA_RETURN_IF_LAUNCH_FAILED("SoftmaxTopKKernel");
  TIDE_RETURN_IF_ERROR(cuda_internal::Synchronize(stream.get(), "SoftmaxTopKKernel execution"));
  TIDE_RETURN_IF_ERROR(cuda_internal::Download(ids_dev, out_count, stream.get(), "ids", ids));
  TIDE_RETURN_IF_ERROR(
      cuda_internal::Download(weights_dev, out_count, stream.get(), "weights", weights));
  return cuda_internal::Synchronize(stream.get(), "cudaStreamSynchronize(ids, device to host)");
}

}  // namespace tide::engine
