// CUDA implementation of PagedAttentionOnDevice (paged_attention_launch.h), behind
// CudaPagedAttentionForward (tide/engine/cuda/cuda_paged_attention.h).
//
// One thread block of kWarps warps per (query row, head). Warp w takes keys w, w + kWarps,
// ...: each lane holds head_dim / 32 elements of q and of the running output, the dot
// product is a warp shuffle reduction, and the warp keeps an online softmax (running max m,
// running sum l, output rescaled by exp(m_old - m_new)). At the end the warps' partial
// results are merged through shared memory. K and V rows are read straight from the paged
// pool through the sequence's block table, a whole row per warp (coalesced).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda_check.h"
#include "model_kernels.h"
#include "paged_attention_launch.h"

namespace tide::engine::cuda_internal {
namespace {

constexpr int kWarpSize = 32;
constexpr int kWarps = 8;  // decode rows have few blocks: more warps split their keys
constexpr int kThreads = kWarps * kWarpSize;
constexpr int kMaxHeadDim = 256;
constexpr int kPerLane = kMaxHeadDim / kWarpSize;
constexpr int kMaxHeads = 65535;  // gridDim.y

using SeqInfo = AttnSeqInfo;

__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
}

// grid (rows, heads). q and out: [rows, heads, head_dim] (all sequences' rows concatenated);
// row_seq / row_token: the sequence of each row and its index among that sequence's tokens.
__global__ void __launch_bounds__(kThreads)
    PagedAttentionKernel(const float* __restrict__ q, float* __restrict__ out,
                         const int* __restrict__ row_seq, const int* __restrict__ row_token,
                         const SeqInfo* __restrict__ seqs, const std::int32_t* __restrict__ tables,
                         const float* __restrict__ k, const float* __restrict__ v,
                         long long block_stride, int block_size, int heads, int kv_heads,
                         int head_dim, float scale) {
  __shared__ float warp_m[kWarps], warp_l[kWarps];
  __shared__ float warp_acc[kWarps][kMaxHeadDim];

  const int row = blockIdx.x;
  const int h = blockIdx.y;
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  const SeqInfo info = seqs[row_seq[row]];
  const int keys = info.past + row_token[row] + 1;  // causal: positions 0 ..= past + t
  const int kv_head = h / (heads / kv_heads);
  const long long row_floats = static_cast<long long>(kv_heads) * head_dim;
  const std::int32_t* table = tables + info.table_offset;

  const float* qv = q + (static_cast<long long>(row) * heads + h) * head_dim;
  float qr[kPerLane], acc[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int d = lane + i * kWarpSize;
    qr[i] = d < head_dim ? qv[d] : 0.f;
    acc[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int j = warp; j < keys; j += kWarps) {
    const long long base = static_cast<long long>(table[j / block_size]) * block_stride +
                           static_cast<long long>(j % block_size) * row_floats +
                           static_cast<long long>(kv_head) * head_dim;
    float dot = 0.f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + i * kWarpSize;
      if (d < head_dim) dot = fmaf(qr[i], k[base + d], dot);
    }
    const float s = WarpSum(dot) * scale;
    const float m_new = fmaxf(m, s);
    const float correction = expf(m - m_new);  // 0 for the first key (m = -inf)
    const float p = expf(s - m_new);
    l = l * correction + p;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + i * kWarpSize;
      if (d < head_dim) acc[i] = fmaf(p, v[base + d], acc[i] * correction);
    }
    m = m_new;
  }

  if (lane == 0) {
    warp_m[warp] = m;
    warp_l[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int d = lane + i * kWarpSize;
    if (d < head_dim) warp_acc[warp][d] = acc[i];
  }
  __syncthreads();

  // Merge: out = Σ_w acc_w e^(m_w - M) / Σ_w l_w e^(m_w - M); warps that saw no key
  // (m_w = -inf) contribute nothing.
  float big = -INFINITY;
  for (int w = 0; w < kWarps; ++w) big = fmaxf(big, warp_m[w]);
  float weight[kWarps];
  float denominator = 0.f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    weight[w] = warp_m[w] == -INFINITY ? 0.f : expf(warp_m[w] - big);
    denominator += warp_l[w] * weight[w];
  }
  float* o = out + (static_cast<long long>(row) * heads + h) * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += kThreads) {
    float numerator = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) numerator += warp_acc[w][d] * weight[w];
    o[d] = numerator / denominator;
  }
}

}  // namespace

cudaError_t LaunchPagedAttention(const float* q, float* out, const int* row_seq,
                                 const int* row_token, const AttnSeqInfo* seqs,
                                 const std::int32_t* tables, const float* k, const float* v,
                                 std::int64_t block_stride, int block_size, int rows, int heads,
                                 int kv_heads, int head_dim, float scale, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(heads));
  PagedAttentionKernel<<<grid, kThreads, 0, stream>>>(
      q, out, row_seq, row_token, seqs, tables, k, v, static_cast<long long>(block_stride),
      block_size, heads, kv_heads, head_dim, scale);
  return cudaGetLastError();
}

Status PagedAttentionOnDevice(const AttentionShape& shape, const float* k, const float* v,
                              std::int64_t block_stride, int block_size,
                              const PagedSeqDesc* seqs, int num_seqs) {
  constexpr const char* kFn = "CudaPagedAttentionForward";
  const int heads = shape.heads, kv_heads = shape.kv_heads, head_dim = shape.head_dim;
  if (heads <= 0 || heads > kMaxHeads || kv_heads <= 0 || heads % kv_heads != 0) {
    return BadArgument(kFn, "heads must be in [1, " + std::to_string(kMaxHeads) +
                                "] and a multiple of kv_heads > 0, got heads=" +
                                std::to_string(heads) + " kv_heads=" + std::to_string(kv_heads));
  }
  if (head_dim <= 0 || head_dim > kMaxHeadDim) {
    return BadArgument(kFn, "head_dim must be in [1, " + std::to_string(kMaxHeadDim) +
                                "], got " + std::to_string(head_dim));
  }
  const std::int64_t row_floats = static_cast<std::int64_t>(kv_heads) * head_dim;
  if (block_size <= 0 || block_stride < static_cast<std::int64_t>(block_size) * row_floats) {
    return BadArgument(kFn, "block_size must be > 0 and block_stride >= block_size * kv_heads * "
                            "head_dim, got block_size=" + std::to_string(block_size) +
                                " block_stride=" + std::to_string(block_stride));
  }
  if (num_seqs < 0 || (num_seqs > 0 && seqs == nullptr)) {
    return BadArgument(kFn, "seqs must not be null");
  }

  // Flatten the batch: per row its sequence and token; the block tables concatenated.
  std::vector<SeqInfo> infos;
  std::vector<int> row_seq, row_token, seq_of_info;
  std::vector<std::int32_t> tables;
  std::int64_t max_block = -1;
  for (int s = 0; s < num_seqs; ++s) {
    const PagedSeqDesc& d = seqs[s];
    if (d.tokens <= 0) continue;
    const std::string which = "sequence " + std::to_string(s);
    if (d.past < 0) return BadArgument(kFn, which + ": past must be >= 0");
    if (d.q == nullptr || d.out == nullptr || d.block_table == nullptr) {
      return BadArgument(kFn, which + ": q, out and block_table must not be null");
    }
    const std::int64_t positions = static_cast<std::int64_t>(d.past) + d.tokens;
    if (positions > (std::int64_t{1} << 31) - 1) {
      return BadArgument(kFn, which + ": past + tokens overflows int");
    }
    const std::int64_t blocks = (positions + block_size - 1) / block_size;
    const int info_index = static_cast<int>(infos.size());
    infos.push_back({d.past, static_cast<int>(tables.size())});
    seq_of_info.push_back(s);
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int32_t id = d.block_table[b];
      if (id < 0) {
        return BadArgument(kFn, which + ": block_table[" + std::to_string(b) + "] is negative");
      }
      max_block = std::max<std::int64_t>(max_block, id);
      tables.push_back(id);
    }
    for (int t = 0; t < d.tokens; ++t) {
      row_seq.push_back(info_index);
      row_token.push_back(t);
    }
  }
  const std::size_t rows = row_seq.size();
  if (rows == 0) return Status::Ok();
  if (k == nullptr || v == nullptr) return BadArgument(kFn, "kv.k and kv.v must not be null");
  if (rows > static_cast<std::size_t>(INT32_MAX)) {
    return BadArgument(kFn, "too many query rows in one batch");
  }
  TIDE_RETURN_IF_ERROR(RequireDevice());

  // The pool up to the last row of the highest block referenced.
  const std::size_t pool = static_cast<std::size_t>(max_block) * block_stride +
                           static_cast<std::size_t>(block_size) * row_floats;
  const std::size_t row_elems = static_cast<std::size_t>(heads) * head_dim;
  std::vector<float> q_host(rows * row_elems);
  {
    std::size_t r = 0;
    for (int seq : seq_of_info) {
      const PagedSeqDesc& d = seqs[seq];
      const std::size_t n = static_cast<std::size_t>(d.tokens) * row_elems;
      std::copy(d.q, d.q + n, q_host.begin() + r * row_elems);
      r += d.tokens;
    }
  }

  Stream stream;
  TIDE_RETURN_IF_ERROR(stream.Create());
  DeviceBuffer<float> k_dev, v_dev, q_dev, out_dev;
  DeviceBuffer<int> row_seq_dev, row_token_dev;
  DeviceBuffer<SeqInfo> info_dev;
  DeviceBuffer<std::int32_t> table_dev;
  TIDE_RETURN_IF_ERROR(Upload(k, pool, stream.get(), "k pool", &k_dev));
  TIDE_RETURN_IF_ERROR(Upload(v, pool, stream.get(), "v pool", &v_dev));
  TIDE_RETURN_IF_ERROR(Upload(q_host.data(), q_host.size(), stream.get(), "q", &q_dev));
  TIDE_RETURN_IF_ERROR(Upload(row_seq.data(), rows, stream.get(), "row_seq", &row_seq_dev));
  TIDE_RETURN_IF_ERROR(Upload(row_token.data(), rows, stream.get(), "row_token", &row_token_dev));
  TIDE_RETURN_IF_ERROR(Upload(infos.data(), infos.size(), stream.get(), "seq info", &info_dev));
  TIDE_RETURN_IF_ERROR(Upload(tables.data(), tables.size(), stream.get(), "block tables",
                              &table_dev));
  TIDE_RETURN_IF_ERROR(out_dev.Allocate(q_host.size(), "out"));

  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(heads));
  PagedAttentionKernel<<<grid, kThreads, 0, stream.get()>>>(
      q_dev.get(), out_dev.get(), row_seq_dev.get(), row_token_dev.get(), info_dev.get(),
      table_dev.get(), k_dev.get(), v_dev.get(), static_cast<long long>(block_stride),
      block_size, heads, kv_heads, head_dim, shape.scale);
  TIDE_CUDA_RETURN_IF_LAUNCH_FAILED("PagedAttentionKernel");
  TIDE_RETURN_IF_ERROR(Synchronize(stream.get(), "PagedAttentionKernel execution"));
  TIDE_RETURN_IF_ERROR(Download(out_dev, q_host.size(), stream.get(), "out", q_host.data()));
  TIDE_RETURN_IF_ERROR(Synchronize(stream.get(), "cudaStreamSynchronize(out, device to host)"));
  std::size_t r = 0;
  for (int seq : seq_of_info) {
    const PagedSeqDesc& d = seqs[seq];
    const std::size_t n = static_cast<std::size_t>(d.tokens) * row_elems;
    std::copy(q_host.begin() + r * row_elems, q_host.begin() + r * row_elems + n, d.out);
    r += d.tokens;
  }
  return Status::Ok();
}

}  // namespace tide::engine::cuda_internal
