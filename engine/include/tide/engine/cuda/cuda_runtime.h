// Host-side entry points to Tide's CUDA kernels, callable from plain C++.
//
// This header includes nothing from CUDA, so every module can include it whether or not
// Tide was built with CUDA. When it was (TIDE_HAS_CUDA=1), engine/cuda/*.cu implement
// these functions; when it was not, engine/src/cuda_unavailable.cc does, and they report
// that no device is available / return FailedPrecondition. No function throws: failures
// come back as false or as a tide::Status whose message carries the CUDA error name and
// text. All functions use the calling thread's current CUDA device (device 0 unless the
// caller changed it) and are safe to call from several threads.
#pragma once

#include <string>

#include "tide/core/status.h"

namespace tide::engine {

// True when a CUDA device can be used. Otherwise false, and *why_not (when not null) says
// why: built without CUDA, no driver / driver too old (the cudaGetDeviceCount error), or
// zero devices.
bool CudaDeviceAvailable(std::string* why_not);

// The name of the current device ("NVIDIA H100 80GB HBM3"), or "" when none is usable.
std::string CudaDeviceName();

// RMSNorm forward on the GPU with the same contract as RmsNormReference in
// tide/engine/kernels/rmsnorm.h, on host buffers: copies x [rows, dim] and w [dim] to the
// device, runs one block per row, waits, and copies the result into out_host [rows, dim].
// Synchronous; device memory is freed on every path. rows == 0 is a successful no-op.
// Errors: InvalidArgument (rows < 0, dim <= 0, a null buffer); FailedPrecondition (built
// without CUDA, no device, or no usable driver); Internal (any other failed CUDA call or
// launch). CUDA failures name the call and the CUDA error, e.g.
// "cudaMalloc(x, 4096 bytes): cudaErrorMemoryAllocation: out of memory".
Status CudaRmsNorm(const float* x_host, const float* w_host, float* out_host, int rows,
                   int dim, float eps);

}  // namespace tide::engine
