// Private to engine/cuda: launchers of the device-resident model forward's kernels
// (model_kernels.cu, expert_kernels.cu), called by device_model.cu. Every pointer is device
// memory; every launcher only queues work on `stream` (no host waits, no allocation), so a
// sequence of them can be captured into a CUDA graph. Shapes that depend on the routing
// (rows per expert) are read by the kernels from device memory, never by the host.
//
// Weights come in two element types, f32 and bf16 (`W` below); activations are f32 and
// every kernel accumulates in f32. Each launcher returns the launch's cudaError_t.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "paged_attention_launch.h"

namespace tide::engine::cuda_internal {

// h[r, :] = embed[ids[r], :] for r < rows.
template <typename W>
cudaError_t LaunchEmbed(const std::int32_t* ids, const W* embed, float* h, int rows, int hidden,
                        cudaStream_t stream);

// out[r] = x[src_row(r)] * rsqrt(mean(x²) + eps) * w, with src_row(r) = rows_idx[r] when
// rows_idx is not null, else r. out must not overlap x.
cudaError_t LaunchRmsNormRows(const float* x, const std::int32_t* rows_idx, const float* w,
                              float* out, int rows, int dim, float eps, cudaStream_t stream);

// The attention inputs of one layer from the fused projection qkv [rows, qd + 2·kvd]
// (q, then k, then v): q heads get q_norm and RoPE and go to q [rows, qd]; k heads get
// k_norm and RoPE and go to the KV pool row kv_slot[r] (block · block_size + offset) of
// k_pool; v rows are copied to the same row of v_pool. Pool rows hold kv_heads·head_dim
// floats. positions[r] is the RoPE position; inv_freq [head_dim / 2] as rope.cc forms it.
cudaError_t LaunchQkNormRopeStore(const float* qkv, const std::int32_t* positions,
                                  const std::int64_t* kv_slot, const float* q_norm,
                                  const float* k_norm, const float* inv_freq, float* q,
                                  float* k_pool, float* v_pool, int rows, int heads, int kv_heads,
                                  int head_dim, float eps, cudaStream_t stream);

// Per token row of x [rows, hidden]: router logits x·Rᵀ (R [experts, hidden] f32), scores
// (softmax in double rounded once, or sigmoid), top-k chosen on scores (+ bias when not
// null; ties to the lower id, NaN last), weights = score / Σ chosen scores (+1e-20 for
// sigmoid) when normalise, times scale. ids/weights [rows, k].
// x rows are RMS-normalised with norm_w (eps) first when norm_w is not null.
cudaError_t LaunchRouterTopK(const float* x, const float* norm_w, float eps, const float* router,
                             const float* bias, int rows, int hidden, int experts, int k,
                             bool softmax, bool normalise, float scale, std::int32_t* ids,
                             float* weights, cudaStream_t stream);

// Stable counting sort of the rows·k (token, slot) pairs of ids by expert (token order
// within an expert, as SortByExpert): offsets [experts + 1], row_token [rows·k] (the token
// of each sorted row) and pair_row [rows·k] (the sorted row of pair t·k + j). One block;
// experts <= 1024.
// active [experts] lists the experts with rows in increasing order, *num_active of them.
cudaError_t LaunchSortByExpert(const std::int32_t* ids, int rows, int k, int experts,
                               std::int32_t* offsets, std::int32_t* row_token,
                               std::int32_t* pair_row, std::int32_t* active,
                               std::int32_t* num_active, cudaStream_t stream);

// out[t] = base[t] + extra[t] (when extra is not null) + Σ over t's k slots, in the order
// of their sorted rows, of weights[t·k + j] · y[pair_row[t·k + j]]. out may alias base.
cudaError_t LaunchCombine(const float* base, const float* extra, const float* y,
                          const std::int32_t* pair_row, const float* weights, int rows, int k,
                          int hidden, float* out, cudaStream_t stream);

// The row-gathered expert products ("grouped GEMV"): rows of expert e are
// offsets[e] .. offsets[e+1] (device memory). With gate_up: h[i] = silu(x_i·Gₑᵀ) ⊙ (x_i·Uₑᵀ)
// with x_i = x[row_token[i]] (or x[i] when row_token is null), G/U [experts, n, k_dim];
// else y[i] = x_i·Dₑᵀ (+ residual[i] when not null) with D [experts, n, k_dim]. Each block
// keeps up to 8 input rows in shared memory and reads every weight row it needs once per
// 8 rows, so at decode sizes the weights stream from memory once.
// When norm_w is not null every input row is RMS-normalised with it (eps) as it is loaded,
// so the RMSNorm before a projection needs no kernel or buffer of its own.
// Only the experts listed in active[0 .. *num_active) run (grid_experts >= *num_active
// blocks are launched per column tile; the sort writes both); max_rows bounds the rows of
// any expert (it picks the kernel's rows per pass).
template <typename W>
cudaError_t LaunchExpertGemv(const float* x, const std::int32_t* row_token,
                             const std::int32_t* offsets, const std::int32_t* active,
                             const std::int32_t* num_active, int grid_experts, int max_rows,
                             const W* w0, const W* w1, const float* residual,
                             const float* norm_w, float eps, float* out, int n, int k_dim,
                             bool gate_up, cudaStream_t stream);

// Must be called once (any thread) before LaunchExpertGemv with k_dim above 1536: raises
// the kernels' dynamic shared-memory limit. Returns the first failure.
cudaError_t PrepareExpertGemv(int max_k_dim);

// out[i] = bf16(x[i]) for i < n.
cudaError_t LaunchCastBf16(const float* x, __nv_bfloat16* out, std::int64_t n,
                           cudaStream_t stream);

// Folds the argmax of each row of logits [rows, vocab] (lowest id on ties, NaN last) into
// keys[row] (atomicMax of an orderable key; keys must start at 0). Several blocks per row.
cudaError_t LaunchArgmax(const float* logits, int rows, int vocab, unsigned long long* keys,
                         cudaStream_t stream);

// One decode step done, for every sequence r < rows (one row each): the token in keys[r]
// goes to next[r] and history[*step · rows + r], keys[r] is cleared, positions[r] and
// infos[r].past + 1, kv_slot[r] from its block table (tables + infos[r].table_offset);
// then *step + 1.
cudaError_t LaunchAdvanceDecode(int rows, unsigned long long* keys, std::int32_t* next,
                                std::int32_t* history, std::int32_t* positions,
                                AttnSeqInfo* infos, std::int64_t* kv_slot,
                                const std::int32_t* tables, int block_size, int* step,
                                cudaStream_t stream);

// PagedAttentionKernel (paged_attention.cu) on device buffers: rows query rows
// q [rows, heads, head_dim] -> out; row_seq / row_token give each row's sequence (an index
// into seqs) and its index among that sequence's new rows; k and v are one layer's pool.
// head_dim <= 256.
cudaError_t LaunchPagedAttention(const float* q, float* out, const int* row_seq,
                                 const int* row_token, const AttnSeqInfo* seqs,
                                 const std::int32_t* tables, const float* k, const float* v,
                                 std::int64_t block_stride, int block_size, int rows, int heads,
                                 int kv_heads, int head_dim, float scale, cudaStream_t stream);

}  // namespace tide::engine::cuda_internal
