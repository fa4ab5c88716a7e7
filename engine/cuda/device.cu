// CUDA implementation of the device queries of tide/engine/cuda/cuda_runtime.h and of the
// error helpers of the private device-memory layer (cuda_check.h).
#include <cuda_runtime.h>

#include <string>
#include <utility>

#include "cuda_check.h"
#include "tide/engine/cuda/cuda_runtime.h"

namespace tide::engine {
namespace cuda_internal {

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

Status RequireDevice() {
  if (std::string why; !CudaDeviceAvailable(&why)) return FailedPrecondition(std::move(why));
  return Status::Ok();
}

Status BadArgument(const char* fn, const std::string& what) {
  return InvalidArgument(std::string(fn) + ": " + what);
}

}  // namespace cuda_internal

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

}  // namespace tide::engine
