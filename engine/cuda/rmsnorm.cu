// CUDA implementation of CudaRmsNorm (tide/engine/cuda/cuda_runtime.h): the RMSNorm
// forward kernel (f32 rows, one thread block per row, warp-shuffle reduction).
#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "cuda_check.h"
#include "tide/engine/cuda/cuda_runtime.h"

namespace tide::engine {
namespace {

using cuda_internal::DeviceBuffer;
using cuda_internal::Stream;

constexpr int kWarpSize = 32;
constexpr int kMaxThreads = 1024;  // at most 32 warps, so one warp can reduce the partials

// Sum of `v` over the warp; every lane gets the total.
__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
}

// One block per row; blockDim.x is a multiple of 32, at most 1024. Each thread strides
// over the row (coalesced), the partial sums of squares are reduced within each warp by
// shuffles and across warps through shared memory, then every thread writes its strided
// elements. x, w and out must not overlap.
__global__ void RmsNormKernel(const float* __restrict__ x, const float* __restrict__ w,
                              float* __restrict__ out, int dim, float eps) {
  __shared__ float warp_sums[kMaxThreads / kWarpSize];
  __shared__ float inv_rms;

  const std::size_t row_offset = static_cast<std::size_t>(blockIdx.x) * dim;
  const float* xr = x + row_offset;
  float* yr = out + row_offset;

  float sum_sq = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = xr[i];
    sum_sq = fmaf(v, v, sum_sq);
  }
  sum_sq = WarpSum(sum_sq);

  const int warp = threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (lane == 0) warp_sums[warp] = sum_sq;
  __syncthreads();
  if (warp == 0) {
    const int num_warps = blockDim.x / kWarpSize;
    float total = lane < num_warps ? warp_sums[lane] : 0.0f;
    total = WarpSum(total);
    if (lane == 0) inv_rms = rsqrtf(total / static_cast<float>(dim) + eps);
  }
  __syncthreads();

  const float scale = inv_rms;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = xr[i] * scale * w[i];
}

// Enough threads to give each about one element, rounded up to whole warps.
int ThreadsFor(int dim) {
  int threads = (dim + kWarpSize - 1) / kWarpSize * kWarpSize;
  if (threads > kMaxThreads) threads = kMaxThreads;
  return threads;
}

}  // namespace

Status CudaRmsNorm(const float* x_host, const float* w_host, float* out_host, int rows,
                   int dim, float eps) {
  if (rows < 0) {
    return InvalidArgument("CudaRmsNorm: rows must be >= 0, got " + std::to_string(rows));
  }
  if (dim <= 0) {
    return InvalidArgument("CudaRmsNorm: dim must be > 0, got " + std::to_string(dim));
  }
  if (x_host == nullptr || w_host == nullptr || out_host == nullptr) {
    return InvalidArgument("CudaRmsNorm: x, weight and out must not be null");
  }
  if (rows == 0) return Status::Ok();
  TIDE_RETURN_IF_ERROR(cuda_internal::RequireDevice());

  const std::size_t n = static_cast<std::size_t>(rows) * dim;
  // Declared before the buffers so it is destroyed after them; cudaFree synchronises.
  Stream stream;
  TIDE_RETURN_IF_ERROR(stream.Create());
  DeviceBuffer<float> x, w, out;
  TIDE_RETURN_IF_ERROR(cuda_internal::Upload(x_host, n, stream.get(), "x", &x));
  TIDE_RETURN_IF_ERROR(cuda_internal::Upload(w_host, static_cast<std::size_t>(dim), stream.get(),
                                             "weight", &w));
  TIDE_RETURN_IF_ERROR(out.Allocate(n, "out"));

  RmsNormKernel<<<rows, ThreadsFor(dim), 0, stream.get()>>>(x.get(), w.get(), out.get(), dim,
                                                              eps);
  TIDE_CUDA_RETURN_IF_LAUNCH_FAILED("RmsNormKernel");
  // Synchronising before the copy back tells a fault inside the kernel apart from a
  // failed copy.
  TIDE_RETURN_IF_ERROR(cuda_internal::Synchronize(stream.get(), "RmsNormKernel execution"));
  TIDE_RETURN_IF_ERROR(cuda_internal::Download(out, n, stream.get(), "out", out_host));
  return cuda_internal::Synchronize(stream.get(), "cudaStreamSynchronize(out, device to host)");
}

}  // namespace tide::engine
