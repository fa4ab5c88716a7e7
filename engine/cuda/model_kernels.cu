// The small kernels of the device-resident model forward (model_kernels.h): embedding
// gather, row RMSNorm, q/k norm + RoPE + KV-cache store, the router with top-k, the expert
// sort, the weighted combine, argmax, the decode-step advance and the bf16 cast. Each
// follows the arithmetic of the CPU path it replaces (engine/src/model_*.cc and the
// kernels' references) closely enough for the model parity gates; the notes say where it
// rounds differently.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "model_kernels.h"

namespace tide::engine::cuda_internal {
namespace {

constexpr int kWarpSize = 32;

__device__ __forceinline__ float ToF(float v) { return v; }
__device__ __forceinline__ float ToF(__nv_bfloat16 v) { return __bfloat162float(v); }

__device__ __forceinline__ float WarpSumF(float v) {
  for (int o = kWarpSize / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double WarpSumD(double v) {
  for (int o = kWarpSize / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double WarpMaxD(double v) {
  for (int o = kWarpSize / 2; o > 0; o /= 2) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum for blockDim.x a multiple of 32 (<= 1024); every thread gets the total.
__device__ float BlockSum(float v, float* scratch /* [32] */) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  v = WarpSumF(v);
  __syncthreads();  // scratch may hold a previous call's values
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / kWarpSize;
  float total = lane < warps ? scratch[lane] : 0.f;
  return WarpSumF(total);
}

template <typename W>
__global__ void EmbedKernel(const std::int32_t* __restrict__ ids, const W* __restrict__ embed,
                            float* __restrict__ h, int hidden) {
  const W* src = embed + static_cast<std::int64_t>(ids[blockIdx.x]) * hidden;
  float* dst = h + static_cast<std::int64_t>(blockIdx.x) * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = ToF(src[i]);
}

// One block per row. The f32 inverse RMS as the CPU fast path forms it: 1 / sqrt(Σx²/d + eps).
__global__ void RmsNormRowsKernel(const float* __restrict__ x, const std::int32_t* rows_idx,
                                  const float* __restrict__ w, float* __restrict__ out, int dim,
                                  float eps) {
  __shared__ float scratch[32];
  const std::int64_t src = rows_idx != nullptr ? rows_idx[blockIdx.x] : blockIdx.x;
  const float* xr = x + src * dim;
  float* yr = out + static_cast<std::int64_t>(blockIdx.x) * dim;
  float ss = 0.f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
  ss = BlockSum(ss, scratch);
  const float inv = 1.0f / sqrtf(ss / static_cast<float>(dim) + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = xr[i] * inv * w[i];
}

constexpr int kQkWarps = 8;
constexpr int kMaxHeadDim = 256;

// grid (rows, ceil(units / kQkWarps)); one warp per head unit: q heads, k heads, v heads.
__global__ void __launch_bounds__(kQkWarps * kWarpSize)
    QkNormRopeStoreKernel(const float* __restrict__ qkv, const std::int32_t* __restrict__ positions,
                          const std::int64_t* __restrict__ kv_slot, const float* __restrict__ q_norm,
                          const float* __restrict__ k_norm, const float* __restrict__ inv_freq,
                          float* __restrict__ q, float* __restrict__ k_pool,
                          float* __restrict__ v_pool, int heads, int kv_heads, int head_dim,
                          float eps) {
  __shared__ float buf[kQkWarps][kMaxHeadDim];
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int unit = blockIdx.y * kQkWarps + warp;
  if (unit >= heads + 2 * kv_heads) return;
  const int r = blockIdx.x;
  const int qd = heads * head_dim, kvd = kv_heads * head_dim;
  const float* src = qkv + static_cast<std::int64_t>(r) * (qd + 2 * kvd) +
                     static_cast<std::int64_t>(unit) * head_dim;
  const std::int64_t slot = kv_slot[r];
  if (unit >= heads + kv_heads) {  // v: copied as is
    float* dst = v_pool + slot * kvd + static_cast<std::int64_t>(unit - heads - kv_heads) * head_dim;
    for (int d = lane; d < head_dim; d += kWarpSize) dst[d] = src[d];
    return;
  }
  const bool is_q = unit < heads;
  const float* nw = is_q ? q_norm : k_norm;
  float ss = 0.f;
  for (int d = lane; d < head_dim; d += kWarpSize) ss = fmaf(src[d], src[d], ss);
  ss = WarpSumF(ss);
  const float inv = 1.0f / sqrtf(ss / static_cast<float>(head_dim) + eps);
  float* b = buf[warp];
  for (int d = lane; d < head_dim; d += kWarpSize) b[d] = src[d] * inv * nw[d];
  __syncwarp();
  float* dst = is_q ? q + static_cast<std::int64_t>(r) * qd + static_cast<std::int64_t>(unit) * head_dim
                    : k_pool + slot * kvd + static_cast<std::int64_t>(unit - heads) * head_dim;
  // RoPE exactly as CudaRopeForward / RopeForwardReference: f32 angle, double rotation.
  const int half = head_dim / 2;
  const float pos = static_cast<float>(positions[r]);
  for (int i = lane; i < half; i += kWarpSize) {
    const float angle = __fmul_rn(inv_freq[i], pos);
    double sn, cs;
    sincos(static_cast<double>(angle), &sn, &cs);
    const double a = b[i], c = b[i + half];
    dst[i] = static_cast<float>(__dsub_rn(__dmul_rn(a, cs), __dmul_rn(c, sn)));
    dst[i + half] = static_cast<float>(__dadd_rn(__dmul_rn(c, cs), __dmul_rn(a, sn)));
  }
}

// (value, index) under TopKReference's order; index -1 is "none" and ranks last.
struct Candidate {
  float value;
  int index;
};
__device__ __forceinline__ bool Before(Candidate a, Candidate b) {
  if (a.index < 0) return false;
  if (b.index < 0) return true;
  const bool na = isnan(a.value), nb = isnan(b.value);
  if (na != nb) return nb;
  if (!na && a.value != b.value) return a.value > b.value;
  return a.index < b.index;
}
__device__ __forceinline__ Candidate WarpBest(Candidate c) {
  for (int o = kWarpSize / 2; o > 0; o /= 2) {
    Candidate other;
    other.value = __shfl_xor_sync(0xffffffffu, c.value, o);
    other.index = __shfl_xor_sync(0xffffffffu, c.index, o);
    if (Before(other, c)) c = other;
  }
  return c;
}
// Block-wide best of c (blockDim.x a multiple of 32); every thread gets it.
__device__ Candidate BlockBest(Candidate c, Candidate* scratch /* [32] */) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  c = WarpBest(c);
  __syncthreads();
  if (lane == 0) scratch[warp] = c;
  __syncthreads();
  const int warps = blockDim.x / kWarpSize;
  Candidate all = lane < warps ? scratch[lane] : Candidate{0.f, -1};
  return WarpBest(all);
}

constexpr int kRouterThreads = 1024;  // a warp per expert logit: latency, not bandwidth
constexpr int kRouterWarps = kRouterThreads / kWarpSize;

// One block per token row. Dynamic shared memory: x row [hidden], then logits, scores and
// choice [experts] each (f32), then taken [experts] (bytes).
__global__ void __launch_bounds__(kRouterThreads)
    RouterTopKKernel(const float* __restrict__ x, const float* __restrict__ norm_w, float eps,
                     const float* __restrict__ router,
                     const float* __restrict__ bias, int hidden, int experts, int k, bool softmax,
                     bool normalise, float scale, std::int32_t* __restrict__ ids,
                     float* __restrict__ weights) {
  extern __shared__ float smem[];
  float* xs = smem;
  float* scores = xs + hidden;
  float* choice = scores + experts;
  unsigned char* taken = reinterpret_cast<unsigned char*>(choice + experts);
  __shared__ Candidate best_scratch[32];
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const float* xr = x + static_cast<std::int64_t>(blockIdx.x) * hidden;
  float ss = 0.f;
  for (int i = threadIdx.x; i < hidden; i += kRouterThreads) {
    xs[i] = xr[i];
    ss = fmaf(xr[i], xr[i], ss);
  }
  __syncthreads();
  if (norm_w != nullptr) {
    ss = BlockSum(ss, reinterpret_cast<float*>(best_scratch));
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(hidden) + eps);
    for (int i = threadIdx.x; i < hidden; i += kRouterThreads) xs[i] = xs[i] * inv * norm_w[i];
    __syncthreads();
  }
  for (int e = warp; e < experts; e += kRouterWarps) {
    const float* wr = router + static_cast<std::int64_t>(e) * hidden;
    float dot = 0.f;
#pragma unroll 8
    for (int i = lane; i < hidden; i += kWarpSize) dot = fmaf(xs[i], wr[i], dot);
    dot = WarpSumF(dot);
    if (lane == 0) scores[e] = dot;  // the logit for now
  }
  __syncthreads();
  // Scores and top-k by warp 0 alone: warp shuffles, no block barriers.
  if (warp != 0) return;
  if (softmax) {
    // Max and Σ exp in double, each score rounded once (SoftmaxReference).
    double m = -INFINITY;
    for (int e = lane; e < experts; e += kWarpSize) m = fmax(m, double(scores[e]));
    m = WarpMaxD(m);
    if (isnan(scores[0])) m = scores[0];
    double sum = 0.0;
    for (int e = lane; e < experts; e += kWarpSize) sum += exp(double(scores[e]) - m);
    sum = WarpSumD(sum);
    __syncwarp();
    for (int e = lane; e < experts; e += kWarpSize) {
      scores[e] = static_cast<float>(exp(double(scores[e]) - m) / sum);
    }
  } else {
    for (int e = lane; e < experts; e += kWarpSize) {
      scores[e] = static_cast<float>(1.0 / (1.0 + exp(-double(scores[e]))));
    }
  }
  __syncwarp();
  for (int e = lane; e < experts; e += kWarpSize) {
    choice[e] = bias != nullptr ? scores[e] + bias[e] : scores[e];
    taken[e] = 0;
  }
  __syncwarp();
  std::int32_t* row_ids = ids + static_cast<std::int64_t>(blockIdx.x) * k;
  for (int j = 0; j < k; ++j) {
    Candidate c{0.f, -1};
    for (int e = lane; e < experts; e += kWarpSize) {
      if (taken[e]) continue;
      const Candidate o{choice[e], e};
      if (Before(o, c)) c = o;
    }
    c = WarpBest(c);
    if (lane == 0) {
      row_ids[j] = c.index;
      taken[c.index] = 1;
    }
    __syncwarp();
  }
  if (lane == 0) {
    // Slot order, f32, as ChosenSum (engine/src/model_moe.cc).
    float sum = 0.f;
    for (int j = 0; j < k; ++j) sum += scores[row_ids[j]];
    if (!softmax) sum += 1e-20f;
    float* row_w = weights + static_cast<std::int64_t>(blockIdx.x) * k;
    for (int j = 0; j < k; ++j) {
      const float s = scores[row_ids[j]];
      row_w[j] = (normalise ? s / sum : s) * scale;
    }
  }
}

constexpr int kSortThreads = 1024;
constexpr int kSortWarps = kSortThreads / kWarpSize;
constexpr int kFastSortExperts = 256;

// One block. Counts by shared-memory atomics (order-free), an exclusive scan by thread 0,
// then a stable placement: pairs are staged in chunks and thread e walks each chunk in
// order, taking the pairs of expert e.
__global__ void __launch_bounds__(kSortThreads)
    SortByExpertKernel(const std::int32_t* __restrict__ ids, int pairs, int k, int experts,
                       std::int32_t* __restrict__ offsets, std::int32_t* __restrict__ row_token,
                       std::int32_t* __restrict__ pair_row, std::int32_t* __restrict__ active,
                       std::int32_t* __restrict__ num_active) {
  __shared__ int next[1024];
  __shared__ int chunk[kSortThreads];
  __shared__ int warp_count[kSortWarps * kFastSortExperts];
  for (int e = threadIdx.x; e < experts; e += kSortThreads) next[e] = 0;
  __syncthreads();
  for (int i = threadIdx.x; i < pairs; i += kSortThreads) atomicAdd(&next[ids[i]], 1);
  __syncthreads();
  if (threadIdx.x == 0) {
    int run = 0, used = 0;
    for (int e = 0; e < experts; ++e) {
      const int c = next[e];
      offsets[e] = run;
      if (c > 0) active[used++] = e;
      next[e] = run;
      run += c;
    }
    offsets[experts] = run;
    *num_active = used;
  }
  __syncthreads();
  if (experts <= kFastSortExperts) {
    // Per chunk of 1024 pairs: ranks within each warp by __match_any_sync, per-warp counts
    // of each expert, a prefix over the 32 warps per expert, so every pair finds its row
    // at once (stable: pair order within each expert).
    const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
    for (int base = 0; base < pairs; base += kSortThreads) {
      const int i = base + threadIdx.x;
      const int id = i < pairs ? ids[i] : -1;
      for (int z = threadIdx.x; z < kSortWarps * experts; z += kSortThreads) warp_count[z] = 0;
      __syncthreads();
      const unsigned peers = __match_any_sync(0xffffffffu, id);
      const int rank = __popc(peers & ((1u << lane) - 1u));
      if (id >= 0 && rank == 0) warp_count[warp * experts + id] = __popc(peers);
      __syncthreads();
      if (threadIdx.x < experts) {
        int run = next[threadIdx.x];
        for (int w = 0; w < kSortWarps; ++w) {
          const int c = warp_count[w * experts + threadIdx.x];
          warp_count[w * experts + threadIdx.x] = run;
          run += c;
        }
        next[threadIdx.x] = run;
      }
      __syncthreads();
      if (id >= 0) {
        const int row = warp_count[warp * experts + id] + rank;
        row_token[row] = i / k;
        pair_row[i] = row;
      }
      __syncthreads();
    }
    return;
  }
  for (int base = 0; base < pairs; base += kSortThreads) {
    const int n = min(kSortThreads, pairs - base);
    if (threadIdx.x < n) chunk[threadIdx.x] = ids[base + threadIdx.x];
    __syncthreads();
    const int e = threadIdx.x;
    if (e < experts) {
      int row = next[e];
      for (int c = 0; c < n; ++c) {
        if (chunk[c] == e) {
          row_token[row] = (base + c) / k;
          pair_row[base + c] = row;
          ++row;
        }
      }
      next[e] = row;
    }
    __syncthreads();
  }
}

constexpr int kMaxTopK = 32;

// One block per token: its k sorted rows in row order (CombineRoutedRows' order).
__global__ void CombineKernel(const float* __restrict__ base, const float* __restrict__ extra,
                              const float* __restrict__ y, const std::int32_t* __restrict__ pair_row,
                              const float* __restrict__ weights, int k, int hidden,
                              float* out) {
  __shared__ int rows[kMaxTopK];
  __shared__ float ws[kMaxTopK];
  const int t = blockIdx.x;
  if (threadIdx.x == 0) {
    for (int j = 0; j < k; ++j) {  // insertion sort by row
      const int r = pair_row[t * k + j];
      const float w = weights[t * k + j];
      int p = j;
      while (p > 0 && rows[p - 1] > r) {
        rows[p] = rows[p - 1];
        ws[p] = ws[p - 1];
        --p;
      }
      rows[p] = r;
      ws[p] = w;
    }
  }
  __syncthreads();
  const std::int64_t o = static_cast<std::int64_t>(t) * hidden;
  for (int d = blockIdx.y * blockDim.x + threadIdx.x; d < hidden; d += gridDim.y * blockDim.x) {
    float s = 0.f;
    for (int j = 0; j < k; ++j) s += ws[j] * y[static_cast<std::int64_t>(rows[j]) * hidden + d];
    if (extra != nullptr) s = extra[o + d] + s;
    out[o + d] = base[o + d] + s;
  }
}

constexpr int kArgmaxThreads = 256;

// Candidates as one orderable 64-bit key: a larger key is a better candidate under
// TopKReference's order (value descending with NaN lowest, then the lower index).
__device__ __forceinline__ unsigned long long ArgmaxKey(Candidate c) {
  if (c.index < 0) return 0ull;
  const unsigned bits = __float_as_uint(c.value);
  const unsigned ordered = isnan(c.value) ? 0u : ((bits & 0x80000000u) ? ~bits : bits | 0x80000000u);
  return (static_cast<unsigned long long>(ordered) << 32) | (0xffffffffu - static_cast<unsigned>(c.index));
}

// grid (rows, slices): each block takes the best of its slice of the row and folds it into
// keys[row] with one atomicMax; AdvanceDecodeKernel reads and clears the keys.
__global__ void __launch_bounds__(kArgmaxThreads)
    ArgmaxKernel(const float* __restrict__ logits, int vocab, unsigned long long* keys) {
  __shared__ Candidate scratch[32];
  const float* row = logits + static_cast<std::int64_t>(blockIdx.x) * vocab;
  Candidate c{0.f, -1};
  for (int i = blockIdx.y * kArgmaxThreads + threadIdx.x; i < vocab; i += gridDim.y * kArgmaxThreads) {
    const Candidate o{row[i], i};
    if (Before(o, c)) c = o;
  }
  c = BlockBest(c, scratch);
  if (threadIdx.x == 0 && c.index >= 0) atomicMax(&keys[blockIdx.x], ArgmaxKey(c));
}

__global__ void AdvanceDecodeKernel(int rows, unsigned long long* keys, std::int32_t* next,
                                    std::int32_t* history, std::int32_t* positions,
                                    AttnSeqInfo* infos, std::int64_t* kv_slot,
                                    const std::int32_t* tables, int block_size, int* step) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r < rows) {
    const int token = static_cast<int>(0xffffffffu - static_cast<unsigned>(keys[r] & 0xffffffffull));
    keys[r] = 0ull;
    next[r] = token;
    history[static_cast<std::int64_t>(*step) * rows + r] = token;
    const int p = positions[r] + 1;
    positions[r] = p;
    infos[r].past += 1;
    const std::int32_t block = tables[infos[r].table_offset + p / block_size];
    kv_slot[r] = static_cast<std::int64_t>(block) * block_size + p % block_size;
  }
}

__global__ void StepKernel(int* step) { *step += 1; }

__global__ void CastBf16Kernel(const float* __restrict__ x, __nv_bfloat16* __restrict__ out,
                               std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i] = __float2bfloat16_rn(x[i]);
  }
}

int ThreadsFor(int n) {
  int t = (n + kWarpSize - 1) / kWarpSize * kWarpSize;
  return t < kWarpSize ? kWarpSize : (t > 1024 ? 1024 : t);
}

}  // namespace

template <typename W>
cudaError_t LaunchEmbed(const std::int32_t* ids, const W* embed, float* h, int rows, int hidden,
                        cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  EmbedKernel<W><<<rows, ThreadsFor(hidden) > 256 ? 256 : ThreadsFor(hidden), 0, stream>>>(
      ids, embed, h, hidden);
  return cudaGetLastError();
}
template cudaError_t LaunchEmbed<float>(const std::int32_t*, const float*, float*, int, int,
                                        cudaStream_t);
template cudaError_t LaunchEmbed<__nv_bfloat16>(const std::int32_t*, const __nv_bfloat16*,
                                                float*, int, int, cudaStream_t);

cudaError_t LaunchRmsNormRows(const float* x, const std::int32_t* rows_idx, const float* w,
                              float* out, int rows, int dim, float eps, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  RmsNormRowsKernel<<<rows, ThreadsFor(dim) > 512 ? 512 : ThreadsFor(dim), 0, stream>>>(
      x, rows_idx, w, out, dim, eps);
  return cudaGetLastError();
}

cudaError_t LaunchQkNormRopeStore(const float* qkv, const std::int32_t* positions,
                                  const std::int64_t* kv_slot, const float* q_norm,
                                  const float* k_norm, const float* inv_freq, float* q,
                                  float* k_pool, float* v_pool, int rows, int heads, int kv_heads,
                                  int head_dim, float eps, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  if (head_dim > kMaxHeadDim || head_dim % 2 != 0) return cudaErrorInvalidValue;
  const int units = heads + 2 * kv_heads;
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>((units + kQkWarps - 1) / kQkWarps));
  QkNormRopeStoreKernel<<<grid, kQkWarps * kWarpSize, 0, stream>>>(
      qkv, positions, kv_slot, q_norm, k_norm, inv_freq, q, k_pool, v_pool, heads, kv_heads,
      head_dim, eps);
  return cudaGetLastError();
}

cudaError_t LaunchRouterTopK(const float* x, const float* norm_w, float eps, const float* router,
                             const float* bias, int rows, int hidden, int experts, int k,
                             bool softmax, bool normalise, float scale, std::int32_t* ids,
                             float* weights, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  const std::size_t smem = static_cast<std::size_t>(hidden + 3 * experts) * sizeof(float) + experts;
  RouterTopKKernel<<<rows, kRouterThreads, smem, stream>>>(x, norm_w, eps, router, bias, hidden, experts, k,
                                                           softmax, normalise, scale, ids, weights);
  return cudaGetLastError();
}

cudaError_t LaunchSortByExpert(const std::int32_t* ids, int rows, int k, int experts,
                               std::int32_t* offsets, std::int32_t* row_token,
                               std::int32_t* pair_row, std::int32_t* active,
                               std::int32_t* num_active, cudaStream_t stream) {
  if (experts > 1024) return cudaErrorInvalidValue;
  SortByExpertKernel<<<1, kSortThreads, 0, stream>>>(ids, rows * k, k, experts, offsets,
                                                     row_token, pair_row, active, num_active);
  return cudaGetLastError();
}

cudaError_t LaunchCombine(const float* base, const float* extra, const float* y,
                          const std::int32_t* pair_row, const float* weights, int rows, int k,
                          int hidden, float* out, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  if (k > kMaxTopK) return cudaErrorInvalidValue;
  // Several blocks per token (each sorts its k rows again): one block per row is too
  // little parallelism at decode sizes.
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>((hidden + 255) / 256));
  CombineKernel<<<grid, 256, 0, stream>>>(
      base, extra, y, pair_row, weights, k, hidden, out);
  return cudaGetLastError();
}

cudaError_t LaunchCastBf16(const float* x, __nv_bfloat16* out, std::int64_t n,
                           cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  std::int64_t blocks = (n + 255) / 256;
  if (blocks > 65535) blocks = 65535;
  CastBf16Kernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(x, out, n);
  return cudaGetLastError();
}

cudaError_t LaunchArgmax(const float* logits, int rows, int vocab, unsigned long long* keys,
                         cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  int slices = (vocab + 4 * kArgmaxThreads - 1) / (4 * kArgmaxThreads);
  slices = slices < 1 ? 1 : (slices > 64 ? 64 : slices);
  ArgmaxKernel<<<dim3(static_cast<unsigned>(rows), static_cast<unsigned>(slices)), kArgmaxThreads, 0,
                 stream>>>(logits, vocab, keys);
  return cudaGetLastError();
}

cudaError_t LaunchAdvanceDecode(int rows, unsigned long long* keys, std::int32_t* next,
                                std::int32_t* history, std::int32_t* positions,
                                AttnSeqInfo* infos, std::int64_t* kv_slot,
                                const std::int32_t* tables, int block_size, int* step,
                                cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  AdvanceDecodeKernel<<<(rows + 255) / 256, 256, 0, stream>>>(rows, keys, next, history, positions,
                                                               infos, kv_slot, tables, block_size, step);
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  StepKernel<<<1, 1, 0, stream>>>(step);  // after every row has used this step's index
  return cudaGetLastError();
}

}  // namespace tide::engine::cuda_internal
