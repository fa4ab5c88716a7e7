// The grouped expert products of the device model forward (LaunchExpertGemv in
// model_kernels.h): a batched GEMV over rows sorted by expert, with the per-expert row
// ranges read from device memory so the host never waits for the routing.
//
// Grid (column tiles, experts that have rows). A block of kWarps warps owns kColsPerWarp
// output columns per warp and walks its expert's rows kRows at a time: the rows go to
// shared memory (gathered through row_token, RMS-normalised when asked), then each lane
// streams 16-byte vectors of the weight rows of its columns, kInFlight vectors per matrix
// loading at once (the first ones issued before the rows are staged), into
// kRows·kColsPerWarp (·2 for gate/up) f32 accumulators, reduced across the warp at the end. At decode sizes (an
// expert has at most a few rows) every weight byte is read from memory once; larger
// batches re-read a block's weight tile once per kRows rows (mostly from L2).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "model_kernels.h"

namespace tide::engine::cuda_internal {
namespace {

constexpr int kWarpSize = 32;
constexpr int kWarps = 8;
constexpr int kThreads = kWarps * kWarpSize;
constexpr int kColsPerWarp = 1;
constexpr int kInFlight = 4;  // weight steps each lane has loading at once
constexpr int kColsPerBlock = kWarps * kColsPerWarp;

template <typename W>
struct Vec;  // 16 bytes of weights
template <>
struct Vec<float> {
  static constexpr int kN = 4;
  __device__ static void Load(const float* p, float (&out)[kN]) {
    const float4 v = __ldg(reinterpret_cast<const float4*>(p));
    out[0] = v.x;
    out[1] = v.y;
    out[2] = v.z;
    out[3] = v.w;
  }
};
template <>
struct Vec<__nv_bfloat16> {
  static constexpr int kN = 8;
  __device__ static void Load(const __nv_bfloat16* p, float (&out)[kN]) {
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
    const unsigned words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = __uint_as_float(words[i] << 16);
      out[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
    }
  }
};

__device__ __forceinline__ float ToF(float v) { return v; }
__device__ __forceinline__ float ToF(__nv_bfloat16 v) { return __bfloat162float(v); }

__device__ __forceinline__ float WarpSum(float v) {
  for (int o = kWarpSize / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// kVec: k_dim is a multiple of the vector width (16-byte weight loads); else one element
// per lane per step.
template <typename W, bool kGateUp, int kRows, bool kVec>
__global__ void __launch_bounds__(kThreads)
    ExpertGemvKernel(const float* __restrict__ x, const std::int32_t* __restrict__ row_token,
                     const std::int32_t* __restrict__ offsets,
                     const std::int32_t* __restrict__ active,
                     const std::int32_t* __restrict__ num_active, const W* __restrict__ w0,
                     const W* __restrict__ w1, const float* __restrict__ residual,
                     const float* __restrict__ norm_w, float eps, float* __restrict__ out, int n,
                     int k_dim) {
  extern __shared__ float xs[];  // [kRows][k_dim]
  __shared__ float inv_rms[kRows];
  if (static_cast<int>(blockIdx.y) >= *num_active) return;
  const int e = active[blockIdx.y];
  const int begin = offsets[e], end = offsets[e + 1];
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int col0 = blockIdx.x * kColsPerBlock + warp * kColsPerWarp;
  const std::int64_t expert_base = static_cast<std::int64_t>(e) * n * k_dim;
  constexpr int kMats = kGateUp ? 2 : 1;
  constexpr int kV = kVec ? Vec<W>::kN : 1;

  float acc[kMats][kColsPerWarp][kRows];
  constexpr int kStep = kWarpSize * kV;
  auto load = [&](int kk, float (&wv)[kMats][kColsPerWarp][kV]) {
#pragma unroll
    for (int c = 0; c < kColsPerWarp; ++c) {
      const int col = min(col0 + c, n - 1);  // clamped: out-of-range columns are not written
      const std::int64_t off = expert_base + static_cast<std::int64_t>(col) * k_dim + kk;
#pragma unroll
      for (int m = 0; m < kMats; ++m) {
        const W* wp = (m == 0 ? w0 : w1) + off;
        if constexpr (kVec) {
          Vec<W>::Load(wp, wv[m][c]);
        } else {
          wv[m][c][0] = ToF(wp[0]);
        }
      }
    }
  };
  auto fma_step = [&](int kk, const float (&wv)[kMats][kColsPerWarp][kV]) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      float xv[kV];
#pragma unroll
      for (int v = 0; v < kV; ++v) xv[v] = xs[r * k_dim + kk + v];
#pragma unroll
      for (int m = 0; m < kMats; ++m)
#pragma unroll
        for (int c = 0; c < kColsPerWarp; ++c)
#pragma unroll
          for (int v = 0; v < kV; ++v) acc[m][c][r] = fmaf(wv[m][c][v], xv[v], acc[m][c][r]);
    }
  };
  // kInFlight steps of weights are loaded before their FMAs. The first ones do not depend
  // on the rows, so they are issued before the rows are staged (at decode sizes a block
  // makes one pass and this hides the staging).
  const int kk0 = lane * kV;
  float wbuf[kInFlight][kMats][kColsPerWarp][kV];
  auto load_group = [&](int kk) {
#pragma unroll
    for (int j = 0; j < kInFlight; ++j) {
      if (kk + j * kStep < k_dim) load(kk + j * kStep, wbuf[j]);
    }
  };
  load_group(kk0);
  bool prefetched = true;
  __shared__ float partial[kRows][kWarps];
  const bool vec_rows = k_dim % 4 == 0;
  for (int r0 = begin; r0 < end; r0 += kRows) {
    const int nr = min(kRows, end - r0);
    __syncthreads();  // the previous pass is done reading xs
    // Stage the rows (float4 when possible), summing squares for the norm on the way.
    float ss[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      ss[r] = 0.f;
      const bool live = r < nr;
      const std::int64_t src = !live ? 0 : (row_token != nullptr ? row_token[r0 + r] : r0 + r);
      const float* xr = x + src * k_dim;
      float* dst = xs + r * k_dim;
      if (vec_rows) {
        for (int c = threadIdx.x * 4; c < k_dim; c += kThreads * 4) {
          float4 v = live ? *reinterpret_cast<const float4*>(xr + c) : make_float4(0.f, 0.f, 0.f, 0.f);
          ss[r] = fmaf(v.x, v.x, fmaf(v.y, v.y, fmaf(v.z, v.z, fmaf(v.w, v.w, ss[r]))));
          *reinterpret_cast<float4*>(dst + c) = v;
        }
      } else {
        for (int c = threadIdx.x; c < k_dim; c += kThreads) {
          const float v = live ? xr[c] : 0.f;
          ss[r] = fmaf(v, v, ss[r]);
          dst[c] = v;
        }
      }
    }
    if (norm_w != nullptr) {
      // RMSNorm of each row on the way in, as RmsNorm forms it: x * (1/sqrt(Σx²/d + eps)) * w;
      // the per-warp partial sums are added in a fixed order (deterministic).
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float t = WarpSum(ss[r]);
        if (lane == 0) partial[r][warp] = t;
      }
      __syncthreads();
      if (threadIdx.x < kRows) {
        float t = 0.f;
        for (int w = 0; w < kWarps; ++w) t += partial[threadIdx.x][w];
        inv_rms[threadIdx.x] = 1.0f / sqrtf(t / static_cast<float>(k_dim) + eps);
      }
      __syncthreads();
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float inv = inv_rms[r];
        float* row = xs + r * k_dim;
        for (int c = threadIdx.x; c < k_dim; c += kThreads) row[c] = row[c] * inv * norm_w[c];
      }
    }
    __syncthreads();

#pragma unroll
    for (int m = 0; m < kMats; ++m)
#pragma unroll
      for (int c = 0; c < kColsPerWarp; ++c)
#pragma unroll
        for (int r = 0; r < kRows; ++r) acc[m][c][r] = 0.f;
    for (int kk = kk0; kk < k_dim; kk += kInFlight * kStep) {
      if (kk != kk0 || !prefetched) load_group(kk);
#pragma unroll
      for (int j = 0; j < kInFlight; ++j) {
        if (kk + j * kStep < k_dim) fma_step(kk + j * kStep, wbuf[j]);
      }
    }
    prefetched = false;
#pragma unroll
    for (int c = 0; c < kColsPerWarp; ++c) {
      const int col = col0 + c;
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float a0 = WarpSum(acc[0][c][r]);
        const float a1 = kGateUp ? WarpSum(acc[kMats - 1][c][r]) : 0.f;
        if (lane == 0 && r < nr && col < n) {
          const std::int64_t o = static_cast<std::int64_t>(r0 + r) * n + col;
          if (kGateUp) {
            out[o] = a0 / (1.0f + expf(-a0)) * a1;  // silu(gate) * up, as swiglu.cc
          } else {
            out[o] = residual != nullptr ? a0 + residual[o] : a0;
          }
        }
      }
    }
  }
}

template <typename W, bool kGateUp, int kRows, bool kVec>
cudaError_t Launch(const float* x, const std::int32_t* row_token, const std::int32_t* offsets,
                   const std::int32_t* active, const std::int32_t* num_active, int grid_experts,
                   const W* w0, const W* w1, const float* residual, const float* norm_w,
                   float eps, float* out, int n, int k_dim, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((n + kColsPerBlock - 1) / kColsPerBlock),
                  static_cast<unsigned>(grid_experts));
  const std::size_t smem = static_cast<std::size_t>(kRows) * k_dim * sizeof(float);
  ExpertGemvKernel<W, kGateUp, kRows, kVec><<<grid, kThreads, smem, stream>>>(
      x, row_token, offsets, active, num_active, w0, w1, residual, norm_w, eps, out, n, k_dim);
  return cudaGetLastError();
}

template <typename W, bool kGateUp, bool kVec>
cudaError_t LaunchRows(int max_rows, const float* x, const std::int32_t* row_token,
                       const std::int32_t* offsets, const std::int32_t* active,
                       const std::int32_t* num_active, int grid_experts, const W* w0, const W* w1,
                       const float* residual, const float* norm_w, float eps, float* out, int n,
                       int k_dim, cudaStream_t stream) {
  if (max_rows <= 1) {
    return Launch<W, kGateUp, 1, kVec>(x, row_token, offsets, active, num_active, grid_experts,
                                       w0, w1, residual, norm_w, eps, out, n, k_dim, stream);
  }
  if (max_rows <= 2) {
    return Launch<W, kGateUp, 2, kVec>(x, row_token, offsets, active, num_active, grid_experts,
                                       w0, w1, residual, norm_w, eps, out, n, k_dim, stream);
  }
  if (max_rows <= 4) {
    return Launch<W, kGateUp, 4, kVec>(x, row_token, offsets, active, num_active, grid_experts,
                                       w0, w1, residual, norm_w, eps, out, n, k_dim, stream);
  }
  return Launch<W, kGateUp, 8, kVec>(x, row_token, offsets, active, num_active, grid_experts, w0,
                                     w1, residual, norm_w, eps, out, n, k_dim, stream);
}

template <typename W, bool kGateUp, bool kVec>
cudaError_t RaiseSmem(int bytes) {
  cudaError_t err = cudaSuccess;
  auto set = [&](auto kernel) {
    const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (err == cudaSuccess) err = e;
  };
  set(ExpertGemvKernel<W, kGateUp, 1, kVec>);
  set(ExpertGemvKernel<W, kGateUp, 2, kVec>);
  set(ExpertGemvKernel<W, kGateUp, 4, kVec>);
  set(ExpertGemvKernel<W, kGateUp, 8, kVec>);
  return err;
}

}  // namespace

cudaError_t PrepareExpertGemv(int max_k_dim) {
  const int bytes = 8 * max_k_dim * static_cast<int>(sizeof(float));
  if (bytes <= 48 * 1024) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  for (cudaError_t e : {RaiseSmem<float, true, true>(bytes), RaiseSmem<float, true, false>(bytes),
                        RaiseSmem<float, false, true>(bytes), RaiseSmem<float, false, false>(bytes),
                        RaiseSmem<__nv_bfloat16, true, true>(bytes),
                        RaiseSmem<__nv_bfloat16, true, false>(bytes),
                        RaiseSmem<__nv_bfloat16, false, true>(bytes),
                        RaiseSmem<__nv_bfloat16, false, false>(bytes)}) {
    if (err == cudaSuccess) err = e;
  }
  return err;
}

template <typename W>
cudaError_t LaunchExpertGemv(const float* x, const std::int32_t* row_token,
                             const std::int32_t* offsets, const std::int32_t* active,
                             const std::int32_t* num_active, int grid_experts, int max_rows,
                             const W* w0, const W* w1, const float* residual,
                             const float* norm_w, float eps, float* out, int n, int k_dim,
                             bool gate_up, cudaStream_t stream) {
  if (grid_experts <= 0 || n <= 0) return cudaSuccess;
  const bool vec = k_dim % Vec<W>::kN == 0;
  if (gate_up) {
    return vec ? LaunchRows<W, true, true>(max_rows, x, row_token, offsets, active, num_active,
                                           grid_experts, w0, w1, residual, norm_w, eps, out, n, k_dim, stream)
               : LaunchRows<W, true, false>(max_rows, x, row_token, offsets, active, num_active,
                                            grid_experts, w0, w1, residual, norm_w, eps, out, n, k_dim, stream);
  }
  return vec ? LaunchRows<W, false, true>(max_rows, x, row_token, offsets, active, num_active,
                                          grid_experts, w0, w0, residual, norm_w, eps, out, n, k_dim, stream)
             : LaunchRows<W, false, false>(max_rows, x, row_token, offsets, active, num_active,
                                           grid_experts, w0, w0, residual, norm_w, eps, out, n, k_dim, stream);
}

template cudaError_t LaunchExpertGemv<float>(const float*, const std::int32_t*,
                                             const std::int32_t*, const std::int32_t*,
                                             const std::int32_t*, int, int, const float*,
                                             const float*, const float*, const float*, float,
                                             float*, int, int, bool, cudaStream_t);
template cudaError_t LaunchExpertGemv<__nv_bfloat16>(
    const float*, const std::int32_t*, const std::int32_t*, const std::int32_t*,
    const std::int32_t*, int, int, const __nv_bfloat16*, const __nv_bfloat16*, const float*,
    const float*, float, float*, int, int, bool, cudaStream_t);

}  // namespace tide::engine::cuda_internal
