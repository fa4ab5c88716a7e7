// The CUDA entry points of tide/engine/cuda/cuda_runtime.h and cuda_kernels.h for builds
// without CUDA (TIDE_HAS_CUDA=0): they report that no device can be used. With CUDA,
// engine/cuda/*.cu define these functions instead and this file compiles to nothing.
#include "tide/engine/cuda/cuda_kernels.h"
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

Status CudaGemm(Trans, Trans, int, int, int, float, const float*, int, const float*, int, float,
                float*, int) {
  return FailedPrecondition(kNoCuda);
}

Status CudaGemmBf16(Trans, Trans, int, int, int, float, const uint16_t*, int, const uint16_t*,
                    int, float, float*, int) {
  return FailedPrecondition(kNoCuda);
}

Status CudaGroupedGemmBf16(const uint16_t*, int, int, const uint16_t*, int, int, const int32_t*,
                           float*) {
  return FailedPrecondition(kNoCuda);
}

Status CudaSwiGluForward(const float*, const float*, float*, int64_t) {
  return FailedPrecondition(kNoCuda);
}

Status CudaRopeForward(float*, const int32_t*, int, int, int, float) {
  return FailedPrecondition(kNoCuda);
}

Status CudaSoftmaxTopK(const float*, int, int, int, bool, float, int32_t*, float*) {
  return FailedPrecondition(kNoCuda);
}

}  // namespace tide::engine

#endif  // !TIDE_HAS_CUDA
