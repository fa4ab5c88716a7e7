// Private to engine/cuda: the small device-memory layer every Tide CUDA entry point uses.
//
//   CudaError / TIDE_CUDA_RETURN_IF_ERROR  every CUDA runtime call is checked; a failure
//       becomes a tide::Status whose message names the call and the CUDA error
//       ("cudaMalloc(x, 4096 bytes): cudaErrorMemoryAllocation: out of memory"). Missing
//       devices or drivers are FailedPrecondition, anything else Internal.
//   RequireDevice  FailedPrecondition (with the reason) unless a device can be used.
//   DeviceBuffer<T>  owns one cudaMalloc allocation of `count` T; movable, not copyable;
//       freed on every path (cudaFree synchronises the device, so a buffer must outlive
//       the work queued on it — declare the Stream first so it is destroyed last).
//   Stream  owns one non-blocking stream, so a call waits only for its own work.
//   Upload / UploadRows / Download / DownloadRows / Synchronize  checked copies.
//
// Compiled by nvcc as C++17 (see engine/CMakeLists.txt); includes CUDA headers, so it
// must never be reached from the public headers under engine/include. Nothing here
// throws. Objects are not shared between threads; each entry point builds its own.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "tide/core/status.h"

namespace tide::engine::cuda_internal {

// "what: cudaErrorX: text" as FailedPrecondition (no device / driver) or Internal.
Status CudaError(cudaError_t err, const std::string& what);

// OK when a CUDA device can be used, else FailedPrecondition saying why.
Status RequireDevice();

// "<fn>: <arg> must be <rule>, got <value>" as InvalidArgument.
Status BadArgument(const char* fn, const std::string& what);

}  // namespace tide::engine::cuda_internal

// Returns CudaError(err, what) from the enclosing function if `call` fails. `what` is only
// evaluated on failure, so it may build a string.
#define TIDE_CUDA_RETURN_IF_ERROR(call, what)                                                \
  do {                                                                                       \
    const cudaError_t tide_cuda_err_ = (call);                                               \
    if (tide_cuda_err_ != cudaSuccess) {                                                     \
      return ::tide::engine::cuda_internal::CudaError(tide_cuda_err_, (what));               \
    }                                                                                        \
  } while (0)

// Checks the launch of `kernel_name` (configuration errors) right after <<<...>>>.
#define TIDE_CUDA_RETURN_IF_LAUNCH_FAILED(kernel_name) \
  TIDE_CUDA_RETURN_IF_ERROR(cudaGetLastError(), std::string(kernel_name) + " launch")

namespace tide::engine::cuda_internal {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : ptr_(std::exchange(other.ptr_, nullptr)), count_(std::exchange(other.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      Reset();
      ptr_ = std::exchange(other.ptr_, nullptr);
      count_ = std::exchange(other.count_, 0);
    }
    return *this;
  }
  // Errors at free are ignored: nobody is left to report them to, and a sticky error
  // resurfaces at the next checked call.
  ~DeviceBuffer() { Reset(); }

  // Frees any previous allocation, then allocates `count` elements (none for 0).
  Status Allocate(std::size_t count, const char* name) {
    Reset();
    if (count == 0) return Status::Ok();
    const std::size_t bytes = count * sizeof(T);
    void* p = nullptr;
    TIDE_CUDA_RETURN_IF_ERROR(cudaMalloc(&p, bytes), std::string("cudaMalloc(") + name + ", " +
                                                         std::to_string(bytes) + " bytes)");
    ptr_ = static_cast<T*>(p);
    count_ = count;
    return Status::Ok();
  }
  void Reset() {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = nullptr;
    count_ = 0;
  }

  T* get() const { return ptr_; }
  std::size_t size() const { return count_; }
  std::size_t bytes() const { return count_ * sizeof(T); }

 private:
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

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

// Waits for the stream; `what` names the work being waited for (kernel faults surface here).
inline Status Synchronize(cudaStream_t stream, const char* what) {
  TIDE_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream), std::string(what));
  return Status::Ok();
}

// Allocates dst for `count` elements and queues the copy of host `src` into it.
template <typename T>
Status Upload(const T* src, std::size_t count, cudaStream_t stream, const char* name,
              DeviceBuffer<T>* dst) {
  TIDE_RETURN_IF_ERROR(dst->Allocate(count, name));
  if (count == 0) return Status::Ok();
  TIDE_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(dst->get(), src, count * sizeof(T), cudaMemcpyHostToDevice, stream),
      std::string("cudaMemcpyAsync(") + name + ", host to device)");
  return Status::Ok();
}

// Allocates dst as rows x dst_ld and queues the copy of `rows` rows of `cols` elements
// from host `src` (row stride src_ld) into it. The padding columns stay uninitialised.
template <typename T>
Status UploadRows(const T* src, std::size_t rows, std::size_t cols, std::size_t src_ld,
                  std::size_t dst_ld, cudaStream_t stream, const char* name,
                  DeviceBuffer<T>* dst) {
  TIDE_RETURN_IF_ERROR(dst->Allocate(rows * dst_ld, name));
  if (rows == 0 || cols == 0) return Status::Ok();
  TIDE_CUDA_RETURN_IF_ERROR(
      cudaMemcpy2DAsync(dst->get(), dst_ld * sizeof(T), src, src_ld * sizeof(T),
                        cols * sizeof(T), rows, cudaMemcpyHostToDevice, stream),
      std::string("cudaMemcpy2DAsync(") + name + ", host to device)");
  return Status::Ok();
}

// Queues the copy of `count` elements of src into host `dst`.
template <typename T>
Status Download(const DeviceBuffer<T>& src, std::size_t count, cudaStream_t stream,
                const char* name, T* dst) {
  if (count == 0) return Status::Ok();
  TIDE_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(dst, src.get(), count * sizeof(T), cudaMemcpyDeviceToHost, stream),
      std::string("cudaMemcpyAsync(") + name + ", device to host)");
  return Status::Ok();
}

// Queues the copy of `rows` rows of `cols` elements (row stride src_ld) into host `dst`
// (row stride dst_ld); the host elements between rows are not touched.
template <typename T>
Status DownloadRows(const DeviceBuffer<T>& src, std::size_t rows, std::size_t cols,
                    std::size_t src_ld, std::size_t dst_ld, cudaStream_t stream,
                    const char* name, T* dst) {
  if (rows == 0 || cols == 0) return Status::Ok();
  TIDE_CUDA_RETURN_IF_ERROR(
      cudaMemcpy2DAsync(dst, dst_ld * sizeof(T), src.get(), src_ld * sizeof(T),
                        cols * sizeof(T), rows, cudaMemcpyDeviceToHost, stream),
      std::string("cudaMemcpy2DAsync(") + name + ", device to host)");
  return Status::Ok();
}

// Blocks of `threads` covering n items, for 1-D grid-stride kernels: at most enough to
// give each thread one item, capped so huge n loops instead of overflowing the grid.
inline unsigned BlocksFor(std::int64_t n, int threads) {
  const std::int64_t blocks = (n + threads - 1) / threads;
  constexpr std::int64_t kMaxBlocks = 65535LL * 32;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
}

}  // namespace tide::engine::cuda_internal
