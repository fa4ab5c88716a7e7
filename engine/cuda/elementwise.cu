// CUDA implementation of CudaSwiGluForward and CudaRopeForward
// (tide/engine/cuda/cuda_kernels.h): element-wise grid-stride kernels.
//
// RoPE reproduces RopeForwardReference (engine/src/rope.cc) step for step: inv_freq is
// computed on the host with the same f32 powf expression, the angle is the f32 product
// inv_freq * float(position) on the device, cos/sin are taken in double and the rotation is
// done in double with explicitly rounded (never fused) multiply and add, rounded to f32
// once. The only differences left are the last-ulp differences of CUDA's double sin/cos.
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda_check.h"
#include "tide/engine/cuda/cuda_kernels.h"

namespace tide::engine {
namespace {

using cuda_internal::BadArgument;
using cuda_internal::BlocksFor;
using cuda_internal::DeviceBuffer;
using cuda_internal::Stream;

constexpr int kThreads = 256;

// out may alias gate or up: each element is read before it is written, by one thread.
__global__ void SwiGluForwardKernel(const float* gate, const float* up, float* out,
                                    std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const float g = gate[i];
    const float u = up[i];
    out[i] = g / (1.0f + expf(-g)) * u;
  }
}

// One thread per (token, head, i < half) pair: rotates x[i] and x[i + half] of that head.
__global__ void RopeForwardKernel(float* __restrict__ x, const std::int32_t* __restrict__ positions,
                                  const float* __restrict__ inv_freq, int heads, int half,
                                  std::int64_t pairs) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t p = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       p < pairs; p += stride) {
    const int i = static_cast<int>(p % half);
    const std::int64_t head_row = p / half;  // token * heads + head
    const std::int64_t token = head_row / heads;
    const float angle = __fmul_rn(inv_freq[i], static_cast<float>(positions[token]));
    double sn, cs;
    sincos(static_cast<double>(angle), &sn, &cs);
    float* v = x + head_row * (2 * half);
    const double a = v[i], b = v[i + half];
    v[i] = static_cast<float>(__dsub_rn(__dmul_rn(a, cs), __dmul_rn(b, sn)));
    v[i + half] = static_cast<float>(__dadd_rn(__dmul_rn(b, cs), __dmul_rn(a, sn)));
  }
}

}  // namespace

Status CudaSwiGluForward(const float* gate, const float* up, float* out, int64_t n) {
  constexpr const char* kFn = "CudaSwiGluForward";
  if (n < 0) return BadArgument(kFn, "n must be >= 0, got " + std::to_string(n));
  if (n == 0) return Status::Ok();
  if (gate == nullptr || up == nullptr || out == nullptr) {
    return BadArgument(kFn, "gate, up and out must not be null");
  }
  TIDE_RETURN_IF_ERROR(cuda_internal::RequireDevice());

  const std::size_t count = static_cast<std::size_t>(n);
  Stream stream;
  TIDE_RETURN_IF_ERROR(stream.Create());
  DeviceBuffer<float> gate_dev, up_dev, out_dev;
  TIDE_RETURN_IF_ERROR(cuda_internal::Upload(gate, count, stream.get(), "gate", &gate_dev));
  TIDE_RETURN_IF_ERROR(cuda_internal::Upload(up, count, stream.get(), "up", &up_dev));
  TIDE_RETURN_IF_ERROR(out_dev.Allocate(count, "out"));
  SwiGluForwardKernel<<<BlocksFor(n, kThreads), kThreads, 0, stream.get()>>>(
      gate_dev.get(), up_dev.get(), out_dev.get(), n);
  TIDE_CUDA_RETURN_IF_LAUNCH_FAILED("SwiGluForwardKernel");
  TIDE_RETURN_IF_ERROR(cuda_internal::Synchronize(stream.get(), "SwiGluForwardKernel execution"));
  TIDE_RETURN_IF_ERROR(cuda_internal::Download(out_dev, count, stream.get(), "out", out));
  return cuda_internal::Synchronize(stream.get(), "cudaStreamSynchronize(out, device to host)");
}

Status CudaRopeForward(float* x, const int32_t* positions, int tokens, int heads, int head_dim,
                       float theta) {
  constexpr const char* kFn = "CudaRopeForward";
  if (tokens < 0 || heads <= 0) {
    return BadArgument(kFn, "tokens must be >= 0 and heads > 0, got tokens=" +
                                std::to_string(tokens) + " heads=" + std::to_string(heads));
  }
  if (head_dim <= 0 || head_dim % 2 != 0) {
    return BadArgument(kFn, "head_dim must be even and > 0, got " + std::to_string(head_dim));
  }
  if (tokens == 0) return Status::Ok();
  if (x == nullptr || positions == nullptr) {
    return BadArgument(kFn, "x and positions must not be null");
  }
  TIDE_RETURN_IF_ERROR(cuda_internal::RequireDevice());

  const int half = head_dim / 2;
  // The same f32 expression as RopeAngle (engine/src/rope.cc), on the host so the same
  // powf rounds it.
  std::vector<float> inv_freq(half);
  for (int i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv_freq[i] = 1.0f / std::pow(theta, exponent);
  }
  const std::size_t count = static_cast<std::size_t>(tokens) * heads * head_dim;
  const std::int64_t pairs = static_cast<std::int64_t>(tokens) * heads * half;

  Stream stream;
  TIDE_RETURN_IF_ERROR(stream.Create());
  DeviceBuffer<float> x_dev, freq_dev;
  DeviceBuffer<std::int32_t> pos_dev;
  TIDE_RETURN_IF_ERROR(cuda_internal::Upload(x, count, stream.get(), "x", &x_dev));
  TIDE_RETURN_IF_ERROR(cuda_internal::Upload(positions, static_cast<std::size_t>(tokens),
                                             stream.get(), "positions", &pos_dev));
  TIDE_RETURN_IF_ERROR(cuda_internal::Upload(inv_freq.data(), inv_freq.size(), stream.get(),
                                             "inv_freq", &freq_dev));
  RopeForwardKernel<<<BlocksFor(pairs, kThreads), kThreads, 0, stream.get()>>>(
      x_dev.get(), pos_dev.get(), freq_dev.get(), heads, half, pairs);
  TIDE_CUDA_RETURN_IF_LAUNCH_FAILED("RopeForwardKernel");
  TIDE_RETURN_IF_ERROR(cuda_internal::Synchronize(stream.get(), "RopeForwardKernel execution"));
  TIDE_RETURN_IF_ERROR(cuda_internal::Download(x_dev, count, stream.get(), "x", x));
  return cuda_internal::Synchronize(stream.get(), "cudaStreamSynchronize(x, device to host)");
}

}  // namespace tide::engine
