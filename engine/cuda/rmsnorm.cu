// CUDA implementation of tide/engine/cuda/cuda_runtime.h: device queries and the RMSNorm
// forward kernel (f32 rows, one thread block per row, warp-shuffle reduction).
#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <utility>

#include "tide/engine/cuda/cuda_runtime.h"

namespace tide::engine {
namespace {

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

// "what: cudaErrorX: text". Missing devices and drivers are a precondition of the
// machine, not an internal fault.
Status CudaError(cudaError_t err, const std::string& what) {
  std::string message = what + ": " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err);
  switch (err) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorCallRequiresNewerDriver:
    case cudaErrorDevicesUnavailable:
      return FailedPrecondition(std::move(message));
    default:
      return Internal(std::move(message));
  }
}

// Returns CudaError(err, what) from the enclosing function if `call` fails.
#define TIDE_CUDA_RETURN_IF_ERROR(call, what)                          \
  do {                                                                 \
    const cudaError_t _tide_err = (call);                              \
    if (_tide_err != cudaSuccess) return CudaError(_tide_err, (what)); \
  } while (0)

// Owns one device allocation; frees it on scope exit (errors at free are ignored: there
// is nobody left to report them to, and a sticky error resurfaces at the next call).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }

  Status Allocate(std::size_t bytes, const char* name) {
    TIDE_CUDA_RETURN_IF_ERROR(cudaMalloc(&ptr_, bytes), std::string("cudaMalloc(") + name + ", " +
                                                            std::to_string(bytes) + " bytes)");
    return Status::Ok();
  }
  float* get() const { return static_cast<float*>(ptr_); }

 private:
  void* ptr_ = nullptr;
};

// Owns one non-blocking stream, so a call waits only for its own work, never for kernels
// that other threads queued on the device.
class Stream {
 public:
  Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  Status Create() {
    TIDE_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
                              "cudaStreamCreateWithFlags");
    return Status::Ok();
  }
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace

bool CudaDeviceAvailable(std::string* why_not) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the error so later calls start clean
    if (why_not != nullptr) {
      *why_not = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(err) + ": " +
                 cudaGetErrorString(err);
    }
    return false;
  }
  if (count == 0) {
    if (why_not != nullptr) *why_not = "cudaGetDeviceCount found 0 CUDA devices";
    return false;
  }
  if (why_not != nullptr) why_not->clear();
  return true;
}

std::string CudaDeviceName() {
  int device = 0;
  cudaDeviceProp prop{};
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    cudaGetLastError();
    return "";
  }
  return prop.name;
}

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
  if (std::string why; !CudaDeviceAvailable(&why)) return FailedPrecondition(std::move(why));

  const std::size_t x_bytes = static_cast<std::size_t>(rows) * dim * sizeof(float);
  const std::size_t w_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  // Declared before the buffers so it is destroyed after them; cudaFree synchronises.
  Stream stream;
  TIDE_RETURN_IF_ERROR(stream.Create());
  DeviceBuffer x, w, out;
  TIDE_RETURN_IF_ERROR(x.Allocate(x_bytes, "x"));
  TIDE_RETURN_IF_ERROR(w.Allocate(w_bytes, "weight"));
  TIDE_RETURN_IF_ERROR(out.Allocate(x_bytes, "out"));
  TIDE_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(x.get(), x_host, x_bytes, cudaMemcpyHostToDevice, stream.get()),
      "cudaMemcpyAsync(x, host to device)");
  TIDE_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(w.get(), w_host, w_bytes, cudaMemcpyHostToDevice, stream.get()),
      "cudaMemcpyAsync(weight, host to device)");

  RmsNormKernel<<<rows, ThreadsFor(dim), 0, stream.get()>>>(x.get(), w.get(), out.get(), dim,
                                                              eps);
  TIDE_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "RmsNormKernel launch");
  // Synchronising before the copy back tells a fault inside the kernel apart from a
  // failed copy.
  TIDE_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream.get()), "RmsNormKernel execution");

  TIDE_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(out_host, out.get(), x_bytes, cudaMemcpyDeviceToHost, stream.get()),
      "cudaMemcpyAsync(out, device to host)");
  TIDE_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream.get()),
                            "cudaStreamSynchronize(out, device to host)");
  return Status::Ok();
}

}  // namespace tide::engine
