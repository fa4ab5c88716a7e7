// The CUDA entry points of tide/engine/cuda/cuda_runtime.h for builds without CUDA
// (TIDE_HAS_CUDA=0): they report that no device can be used. With CUDA, engine/cuda/*.cu
// define these functions instead and this file compiles to nothing.
#include "tide/engine/cuda/cuda_runtime.h"

#if !TIDE_HAS_CUDA

namespace tide::engine {
namespace {
constexpr const char* kNoCuda = "Tide was built without CUDA (TIDE_CUDA=OFF or nvcc not found)";
}  // namespace

bool CudaDeviceAvailable(std::string* why_not) {
  if (why_not != nullptr) *why_not = kNoCuda;
  return false;
}

std::string CudaDeviceName() { return ""; }

Status CudaRmsNorm(const float* /*x_host*/, const float* /*w_host*/, float* /*out_host*/,
                   int /*rows*/, int /*dim*/, float /*eps*/) {
  return FailedPrecondition(kNoCuda);
}

}  // namespace tide::engine

#endif  // !TIDE_HAS_CUDA
