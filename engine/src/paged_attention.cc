// Batched paged attention forward: the (sequence, head, query block) tasks of the whole
// batch go through one ParallelFor, each running the same tile loop as AttentionForward
// (attention_internal::ForwardTileHeads) with key / value rows reached through the block
// table.
//
// Paging inside a 64-key tile: the tile's K and V row addresses are gathered through the
// block table once per tile (one division per block run, not per row), so a tile may
// straddle any number of blocks. K rows are transposed from those addresses into kt (the
// transpose copies every row anyway, so gathering costs nothing extra); V rows are read in
// place by the pointer-based P·V kernel, never copied, and P·V is not split at block
// boundaries. The arithmetic is thus exactly AttentionForward's for the same K/V values.
//
// Scheduling: a task is claimed as a unit of the heads that share one kv head, walked
// together by one ForwardTileHeads: each 64-key K tile is gathered and transposed once and
// scored against every head of the group while it (and the tile's V rows) sit in L1; each
// head keeps its own online-softmax state, so its arithmetic is exactly the one-head
// walk's. Units are sorted by estimated cost (longest first; ties keep batch order) and the
// ParallelFor participants claim them from a shared atomic cursor, so a long prefill block
// never leaves a thread idle behind a contiguous chunk of short decode rows. Which thread
// runs a task never changes its arithmetic.
#include "tide/engine/kernels/paged_attention.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "attention_kernels.h"
#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

using attention_internal::ForwardKernels;
using attention_internal::ForwardScratch;
using attention_internal::ForwardTileHeads;
using attention_internal::kQueryBlock;

// Key or value rows of one sequence and kv head in the block pool.
struct PagedRows {
  const float* base;  // pool base + kv head offset
  const int32_t* table;
  int64_t block_stride;
  int block_size;
  std::ptrdiff_t stride;  // floats between consecutive rows of one block

  const float* Row(int j) const {
    const int b = j / block_size;
    return base + static_cast<std::ptrdiff_t>(table[b]) * block_stride +
           static_cast<std::ptrdiff_t>(j - b * block_size) * stride;
  }
  int Run(int j) const { return block_size - j % block_size; }
};

// The heads of kv head `kv_head` on queries t0 .. t0 + kQueryBlock - 1 of sequence `seq`.
struct Unit {
  int64_t cost;  // rough work estimate: key rows touched, weighted by queries
  int32_t seq;
  int32_t kv_head;
  int32_t t0;
};

}  // namespace

void PagedAttentionForwardAt(SimdLevel level, const AttentionShape& shape, const PagedKv& kv,
                             std::span<const PagedSequence> seqs) {
  if (shape.heads <= 0 || shape.kv_heads <= 0 || shape.head_dim <= 0 || kv.block_size <= 0) return;
  const int d = shape.head_dim;
  const int group = shape.heads / shape.kv_heads;
  const std::ptrdiff_t q_stride = static_cast<std::ptrdiff_t>(shape.heads) * d;
  const std::ptrdiff_t kv_stride = static_cast<std::ptrdiff_t>(shape.kv_heads) * d;

  std::vector<Unit> units;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const PagedSequence& sq = seqs[i];
    for (int t0 = 0; t0 < sq.tokens; t0 += kQueryBlock) {
      const int nq = std::min(kQueryBlock, sq.tokens - t0);
      // Every key up to the block's last query is transposed once, then scored and
      // accumulated per (head, query).
      const int64_t cost = static_cast<int64_t>(sq.past + t0 + nq) * (2 * nq * group + 1);
      for (int g = 0; g < shape.kv_heads; ++g) units.push_back({cost, static_cast<int32_t>(i), g, t0});
    }
  }
  if (units.empty()) return;
  std::stable_sort(units.begin(), units.end(), [](const Unit& a, const Unit& b) { return a.cost > b.cost; });

  const ForwardKernels mk = attention_internal::PickForwardKernels(level);
  std::atomic<size_t> next{0};
  // One ParallelFor over all (sequence, head, query block) tasks: each participant (however
  // many the pool runs, one when inline) drains the shared cursor; the [begin, end) of its
  // chunk only sets how many participants there are.
  const int64_t tasks = static_cast<int64_t>(units.size()) * group;
  ThreadPool::Default().ParallelFor(tasks, group, [&](int64_t, int64_t) {
    ForwardScratch scratch(d, group);
    for (size_t i = next.fetch_add(1, std::memory_order_relaxed); i < units.size();
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      const Unit& u = units[i];
      const PagedSequence& sq = seqs[static_cast<size_t>(u.seq)];
      const std::ptrdiff_t kv_off = static_cast<std::ptrdiff_t>(u.kv_head) * d;
      const PagedRows krows{kv.k + kv_off, sq.block_table, kv.block_stride, kv.block_size, kv_stride};
      const PagedRows vrows{kv.v + kv_off, sq.block_table, kv.block_stride, kv.block_size, kv_stride};
      const int t1 = std::min(u.t0 + kQueryBlock, sq.tokens);
      const std::ptrdiff_t h_off = static_cast<std::ptrdiff_t>(u.kv_head) * group * d;
      ForwardTileHeads(mk, krows, vrows, sq.q + h_off, sq.out + h_off, q_stride, d, nullptr, 0, 0, group, sq.past,
                       u.t0, t1, d, shape.scale, scratch);
    }
  });
}

void PagedAttentionForward(const AttentionShape& shape, const PagedKv& kv, std::span<const PagedSequence> seqs) {
  PagedAttentionForwardAt(DetectSimdLevel(), shape, kv, seqs);
}

}  // namespace tide::engine
