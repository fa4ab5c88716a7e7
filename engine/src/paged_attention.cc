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
//
// Shared prefixes (a swarm: 100 agents, one system prompt): query blocks whose sequences'
// block tables name the same blocks for their first S key tiles (tiles every one of their
// queries sees whole) form a group, and the group's work is cut into units of up to
// kMembersPerUnit query blocks for one kv head. A unit gathers and transposes each shared K tile once and
// folds it into the online-softmax state of every member (ApplyKeyTile), while the tile
// sits in L1, then each member walks its own remaining keys. A member's arithmetic is
// exactly its walk alone (same tiles, same order, same kernels), so results stay
// bit-identical; the batch reads the shared K/V once per unit instead of once per sequence.
#include "tide/engine/kernels/paged_attention.h"

#include <algorithm>
#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "attention_kernels.h"
#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

using attention_internal::ApplyKeyTile;
using attention_internal::ApplyKeyTilesFrom;
using attention_internal::BeginTileWalk;
using attention_internal::EndTileWalk;
using attention_internal::ForwardKernels;
using attention_internal::ForwardScratch;
using attention_internal::ForwardTileHeads;
using attention_internal::GatherRows;
using attention_internal::kKeyBlock;
using attention_internal::kQueryBlock;
using attention_internal::TileWalk;

// Sequences of one shared-prefix unit: enough to amortise a tile's transpose many times
// over, few enough that the batch still splits into several units per thread.
constexpr int kMembersPerUnit = 16;

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

// One query block: queries t0 .. t0 + kQueryBlock - 1 (at most) of sequence `seq`.
struct QueryBlock {
  int32_t seq, t0;
  auto operator<=>(const QueryBlock&) const = default;
};

// Query blocks whose first `tiles` key tiles live in the same blocks and are seen whole by
// every query; members[0]'s block table is the one the shared tiles are read through.
struct SharedPrefix {
  std::vector<QueryBlock> members;
  int tiles = 0;
};

// The heads of kv head `kv_head` on queries t0 .. t0 + kQueryBlock - 1 of sequence `seq`;
// or, when prefix >= 0, every query of members [member_begin, member_end) of that shared
// prefix.
struct Unit {
  int64_t cost;  // rough work estimate: key rows touched, weighted by queries
  int32_t kv_head;
  int32_t seq = 0, t0 = 0;
  int32_t prefix = -1, member_begin = 0, member_end = 0;
};

int64_t Cost(const PagedSequence& sq, int t0, int nq, int group) {
  // Every key up to the block's last query is transposed once, then scored and
  // accumulated per (head, query).
  return static_cast<int64_t>(sq.past + t0 + nq) * (2 * nq * group + 1);
}

// Key tiles that every query of the block sees whole (query t sees keys 0 .. past + t).
int VisibleTiles(const PagedSequence& sq, int t0) { return (sq.past + t0 + 1) / kKeyBlock; }

// Leading key tiles that a and b (at most `limit`) read from the same blocks.
int CommonTiles(const int32_t* a, const int32_t* b, int limit, int block_size) {
  for (int t = 0; t < limit; ++t) {
    const int first = t * kKeyBlock / block_size, last = (t * kKeyBlock + kKeyBlock - 1) / block_size;
    for (int i = first; i <= last; ++i) {
      if (a[i] != b[i]) return t;
    }
  }
  return limit;
}

// Groups the batch's query blocks by the blocks their first key tiles come from. Within
// the query blocks whose first block is the same, the shared length S is the one that
// saves the most tile reads (S times the members that share at least S tiles); members
// sharing fewer walk alone.
std::vector<SharedPrefix> FindSharedPrefixes(std::span<const PagedSequence> seqs, int block_size) {
  std::unordered_map<int32_t, std::vector<QueryBlock>> by_first_block;
  for (size_t i = 0; i < seqs.size(); ++i) {
    for (int t0 = 0; t0 < seqs[i].tokens; t0 += kQueryBlock) {
      if (VisibleTiles(seqs[i], t0) > 0) {
        by_first_block[seqs[i].block_table[0]].push_back({static_cast<int32_t>(i), t0});
      }
    }
  }
  std::vector<SharedPrefix> out;
  for (auto& [block, candidates] : by_first_block) {
    if (candidates.size() < 2) continue;
    auto seq_of = [&](const QueryBlock& b) -> const PagedSequence& { return seqs[static_cast<size_t>(b.seq)]; };
    const PagedSequence& lead = seq_of(candidates[0]);
    const int lead_tiles = VisibleTiles(lead, candidates[0].t0);
    std::vector<int> common(candidates.size());
    for (size_t c = 0; c < candidates.size(); ++c) {
      const int limit = std::min(lead_tiles, VisibleTiles(seq_of(candidates[c]), candidates[c].t0));
      common[c] = CommonTiles(lead.block_table, seq_of(candidates[c]).block_table, limit, block_size);
    }
    std::vector<int> sorted = common;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    int best = 0;
    int64_t best_saved = 0;
    for (size_t r = 0; r < sorted.size(); ++r) {  // r + 1 members share at least sorted[r] tiles
      const int64_t saved = static_cast<int64_t>(sorted[r]) * static_cast<int64_t>(r);
      if (sorted[r] > 0 && saved > best_saved) {
        best_saved = saved;
        best = sorted[r];
      }
    }
    if (best == 0) continue;
    SharedPrefix prefix;
    prefix.tiles = best;
    for (size_t c = 0; c < candidates.size(); ++c) {
      if (common[c] >= best) prefix.members.push_back(candidates[c]);
    }
    if (prefix.members.size() >= 2) out.push_back(std::move(prefix));
  }
  // Deterministic order whatever the hash map's.
  std::sort(out.begin(), out.end(),
            [](const SharedPrefix& a, const SharedPrefix& b) { return a.members[0] < b.members[0]; });
  return out;
}

}  // namespace

void PagedAttentionForwardAt(SimdLevel level, const AttentionShape& shape, const PagedKv& kv,
                             std::span<const PagedSequence> seqs, PagedAttentionStats* stats) {
  if (shape.heads <= 0 || shape.kv_heads <= 0 || shape.head_dim <= 0 || kv.block_size <= 0) return;
  const int d = shape.head_dim;
  const int group = shape.heads / shape.kv_heads;
  const std::ptrdiff_t q_stride = static_cast<std::ptrdiff_t>(shape.heads) * d;
  const std::ptrdiff_t kv_stride = static_cast<std::ptrdiff_t>(shape.kv_heads) * d;

  const std::vector<SharedPrefix> prefixes = FindSharedPrefixes(seqs, kv.block_size);
  std::vector<QueryBlock> in_prefix;
  std::vector<Unit> units;
  for (size_t p = 0; p < prefixes.size(); ++p) {
    const std::vector<QueryBlock>& members = prefixes[p].members;
    for (size_t m0 = 0; m0 < members.size(); m0 += kMembersPerUnit) {
      const size_t m1 = std::min(members.size(), m0 + kMembersPerUnit);
      int64_t cost = 0;
      for (size_t m = m0; m < m1; ++m) {
        const PagedSequence& sq = seqs[static_cast<size_t>(members[m].seq)];
        cost += Cost(sq, members[m].t0, std::min(kQueryBlock, sq.tokens - members[m].t0), group);
        in_prefix.push_back(members[m]);
      }
      for (int g = 0; g < shape.kv_heads; ++g) {
        units.push_back({.cost = cost,
                         .kv_head = g,
                         .prefix = static_cast<int32_t>(p),
                         .member_begin = static_cast<int32_t>(m0),
                         .member_end = static_cast<int32_t>(m1)});
      }
    }
  }
  std::sort(in_prefix.begin(), in_prefix.end());
  for (size_t i = 0; i < seqs.size(); ++i) {
    const PagedSequence& sq = seqs[i];
    for (int t0 = 0; t0 < sq.tokens; t0 += kQueryBlock) {
      if (std::binary_search(in_prefix.begin(), in_prefix.end(), QueryBlock{static_cast<int32_t>(i), t0})) continue;
      const int nq = std::min(kQueryBlock, sq.tokens - t0);
      const int64_t cost = Cost(sq, t0, nq, group);
      for (int g = 0; g < shape.kv_heads; ++g) {
        units.push_back({.cost = cost, .kv_head = g, .seq = static_cast<int32_t>(i), .t0 = t0});
      }
    }
  }
  if (units.empty()) return;
  std::stable_sort(units.begin(), units.end(), [](const Unit& a, const Unit& b) { return a.cost > b.cost; });

  const ForwardKernels mk = attention_internal::PickForwardKernels(level);
  auto rows_of = [&](const PagedSequence& sq, const float* base, int kv_head) {
    return PagedRows{base + static_cast<std::ptrdiff_t>(kv_head) * d, sq.block_table, kv.block_stride,
                     kv.block_size, kv_stride};
  };
  auto walk_of = [&](const PagedSequence& sq, int kv_head, int t0, int t1) {
    const std::ptrdiff_t h_off = static_cast<std::ptrdiff_t>(kv_head) * group * d;
    return TileWalk{sq.q + h_off, q_stride, d, group, sq.past, t0, t1, d, shape.scale};
  };
  std::atomic<size_t> next{0};
  std::atomic<int64_t> tiles_read{0}, shared_uses{0};
  // One ParallelFor over all (sequence, head, query block) tasks: each participant (however
  // many the pool runs, one when inline) drains the shared cursor; the [begin, end) of its
  // chunk only sets how many participants there are.
  const int64_t tasks = static_cast<int64_t>(units.size()) * group;
  ThreadPool::Default().ParallelFor(tasks, group, [&](int64_t, int64_t) {
    ForwardScratch scratch(d, group);
    std::vector<ForwardScratch> member_scratch;  // one per member of a shared-prefix unit
    for (size_t i = next.fetch_add(1, std::memory_order_relaxed); i < units.size();
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      const Unit& u = units[i];
      const std::ptrdiff_t h_off = static_cast<std::ptrdiff_t>(u.kv_head) * group * d;
      if (u.prefix < 0) {
        const PagedSequence& sq = seqs[static_cast<size_t>(u.seq)];
        const int t1 = std::min(u.t0 + kQueryBlock, sq.tokens);
        ForwardTileHeads(mk, rows_of(sq, kv.k, u.kv_head), rows_of(sq, kv.v, u.kv_head), sq.q + h_off,
                         sq.out + h_off, q_stride, d, nullptr, 0, 0, group, sq.past, u.t0, t1, d, shape.scale,
                         scratch);
        if (stats != nullptr) tiles_read += (sq.past + t1 + kKeyBlock - 1) / kKeyBlock;
        continue;
      }
      const SharedPrefix& prefix = prefixes[static_cast<size_t>(u.prefix)];
      const int count = u.member_end - u.member_begin;
      while (static_cast<int>(member_scratch.size()) < count) member_scratch.emplace_back(d, group);
      auto member_walk = [&](int m) {
        const QueryBlock& b = prefix.members[static_cast<size_t>(u.member_begin + m)];
        const PagedSequence& sq = seqs[static_cast<size_t>(b.seq)];
        return walk_of(sq, u.kv_head, b.t0, std::min(b.t0 + kQueryBlock, sq.tokens));
      };
      for (int m = 0; m < count; ++m) BeginTileWalk(member_walk(m), member_scratch[m]);
      // The shared tiles: read, transposed and scored once for every member.
      const PagedSequence& lead = seqs[static_cast<size_t>(prefix.members[0].seq)];
      const PagedRows krows = rows_of(lead, kv.k, u.kv_head), vrows = rows_of(lead, kv.v, u.kv_head);
      const float* kp[kKeyBlock];
      const float* vp[kKeyBlock];
      for (int tile = 0; tile < prefix.tiles; ++tile) {
        const int j0 = tile * kKeyBlock;
        GatherRows(krows, j0, kKeyBlock, kp);
        GatherRows(vrows, j0, kKeyBlock, vp);
        mk.transpose(kp, kKeyBlock, d, scratch.kt.data());
        for (int m = 0; m < count; ++m) {
          ApplyKeyTile(mk, member_walk(m), scratch.kt.data(), vp, j0, kKeyBlock, member_scratch[m]);
        }
      }
      // Each member's own keys, then its outputs.
      for (int m = 0; m < count; ++m) {
        const QueryBlock& b = prefix.members[static_cast<size_t>(u.member_begin + m)];
        const PagedSequence& sq = seqs[static_cast<size_t>(b.seq)];
        const TileWalk w = member_walk(m);
        ApplyKeyTilesFrom(mk, rows_of(sq, kv.k, u.kv_head), rows_of(sq, kv.v, u.kv_head), w,
                          prefix.tiles * kKeyBlock, member_scratch[m]);
        EndTileWalk(w, sq.out + h_off, nullptr, 0, 0, member_scratch[m]);
        if (stats != nullptr) tiles_read += (sq.past + w.t1 + kKeyBlock - 1) / kKeyBlock - prefix.tiles;
      }
      if (stats != nullptr) {
        tiles_read += prefix.tiles;
        shared_uses += static_cast<int64_t>(prefix.tiles) * count;
      }
    }
  });
  if (stats != nullptr) {
    stats->key_tiles_read += tiles_read.load();
    stats->shared_tile_uses += shared_uses.load();
  }
}

void PagedAttentionForward(const AttentionShape& shape, const PagedKv& kv, std::span<const PagedSequence> seqs) {
  PagedAttentionForwardAt(DetectSimdLevel(), shape, kv, seqs);
}

}  // namespace tide::engine
