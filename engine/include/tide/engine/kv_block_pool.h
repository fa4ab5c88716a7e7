// KvBlockPool: paged key/value storage for the serving scheduler (vLLM's PagedAttention
// block manager), with exact prefix sharing between sequences.
//
// The pool owns num_blocks blocks of block_size token slots in every layer. A sequence is
// a block table (block ids, in order); its token j lives in block table[j / block_size],
// slot j % block_size. Storage, per layer, is [num_blocks][block_size][kv_dim] floats,
// keys and values in separate arrays, so a kernel addresses key row j as
//   k_layer(l) + table[j / block_size] * block_stride() + (j % block_size) * kv_dim
// (values alike through v_layer). The storage is allocated and zeroed once by Create and
// never moves; layer pointers stay valid for the pool's lifetime.
//
// Every block is in exactly one state:
//   free    refcount 0, not published: on the free list;
//   cached  refcount 0, published: kept for reuse, evictable, in LRU order by release time;
//   used    refcount > 0 (published or private).
// Allocate hands out a free block, else evicts the least recently released cached block,
// else fails (-1). Release at refcount 0 moves a published block to cached and a private
// one to free.
//
// Prefix cache: a full block whose keys and values are computed may be published under
// its key (parent, tokens): parent is the previous block of the sequence (-1 for the
// first block) and tokens its block_size token ids. Since a block's contents depend on
// every token before it, the parent id stands for the whole prefix, and Lookup compares
// the parent and all tokens exactly (the hash only picks a bucket), so a hit never shares
// a block of another prefix. A block is published only under a published parent (or -1),
// so the published blocks form a forest reachable from sequence starts.
// Eviction and children: when a published block is evicted its id will be reused for other
// contents, so every entry keyed on it would go stale. Evicting a block therefore
// un-publishes its whole published subtree: cached descendants go to the free list at once
// (each counted as an eviction), used descendants become private (they return to free on
// release). No entry ever names a parent whose contents changed. The cost is amortised
// O(1) per Publish (a block is un-published at most once per publication).
//
// Complexity: Allocate, AddRef, Release, Lookup and Publish are O(block_size) expected
// (a hash of the tokens; the LRU is an intrusive list), plus the amortised cascade above.
//
// Misuse (a block id out of range, AddRef/Release of a free block, Publish of an unused
// block or with tokens.size() != block_size) is a programming error: asserted in debug
// builds, ignored (no state change; Publish returns `block`, Lookup -1) in release builds.
//
// Thread safety: none. One scheduler thread owns the pool and makes every call; kernels on
// other threads may read and write the K/V storage of blocks that thread has handed them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "tide/core/status.h"

namespace tide::engine {

class KvBlockPool {
 public:
  struct Options {
    int num_blocks = 0;
    int block_size = 16;  // tokens per block
    int num_layers = 0;
    int kv_dim = 0;  // floats per token per layer for K (and for V): kv_heads * head_dim
    bool prefix_cache = true;
  };

  // InvalidArgument (naming the field) for a non-positive size or a total size that
  // overflows; ResourceExhausted when the 2 * num_blocks * num_layers * block_size * kv_dim
  // floats cannot be allocated. All blocks start free and zeroed.
  static Result<std::unique_ptr<KvBlockPool>> Create(const Options& options);

  ~KvBlockPool();
  KvBlockPool(const KvBlockPool&) = delete;
  KvBlockPool& operator=(const KvBlockPool&) = delete;

  // Per-layer K / V base pointers ([num_blocks][block_size][kv_dim]); 0 <= layer < num_layers.
  float* k_layer(int layer);
  float* v_layer(int layer);
  const float* k_layer(int layer) const;
  const float* v_layer(int layer) const;
  int64_t block_stride() const { return static_cast<int64_t>(options_.block_size) * options_.kv_dim; }
  int block_size() const { return options_.block_size; }
  int num_blocks() const { return options_.num_blocks; }
  int num_layers() const { return options_.num_layers; }
  int kv_dim() const { return options_.kv_dim; }
  bool prefix_cache() const { return options_.prefix_cache; }

  // A fresh private block with refcount 1, or -1 when every block is used. Takes a free
  // block first; only when none is left evicts the least recently released cached block
  // (and un-publishes its subtree, see above). Contents are whatever was there before.
  int Allocate();
  // One more reference to a used or cached block (a cached one leaves the LRU and is used).
  void AddRef(int block);
  // Drops one reference; at zero a published block becomes cached (most recently
  // released) and a private block returns to the free list.
  void Release(int block);
  int refcount(int block) const;
  bool published(int block) const;

  // The cached-or-used block published under exactly (parent, tokens), with one reference
  // taken for the caller (a cached block leaves the LRU); -1 on a miss, always when
  // prefix_cache is off. Counts a hit or a miss.
  int Lookup(int parent, std::span<const int32_t> tokens);
  // Publishes `block` (used, full, K/V computed) under (parent, tokens) and returns it.
  // If another block is already published under that key, nothing is published and that
  // block is returned with one reference taken for the caller, who then holds both and
  // usually switches to it and Releases its own (which stays private). `block` is returned
  // and stays private when prefix_cache is off or when parent is not -1 and not published.
  // Publishing an already published block again under the same key returns it.
  int Publish(int block, int parent, std::span<const int32_t> tokens);
  // Empties the prefix cache (after the weights its K/V were computed with change):
  // cached blocks go to the free list, used published blocks stay with their holders as
  // private blocks. Returns the number of blocks un-published.
  int UnpublishAll();

  struct Stats {
    int free = 0;    // never used, or returned private
    int cached = 0;  // published, refcount 0, evictable
    int used = 0;    // refcount > 0
    int64_t hits = 0, misses = 0;  // Lookup outcomes
    int64_t evictions = 0;         // cached blocks dropped (LRU victims and their subtrees)
  };
  Stats stats() const;  // free + cached + used == num_blocks
  int available() const { return static_cast<int>(free_.size()) + cached_; }  // Allocate can hand out

 private:
  explicit KvBlockPool(const Options& options);

  uint64_t Hash(int parent, std::span<const int32_t> tokens) const;
  // The block published under (parent, tokens) with that hash, or -1.
  int Find(uint64_t hash, int parent, std::span<const int32_t> tokens) const;
  bool Valid(int block) const { return block >= 0 && block < options_.num_blocks; }
  void LruPushBack(int block);
  void LruRemove(int block);
  // Un-publishes `root` (already out of the LRU if it was cached) and all its published
  // descendants; cached descendants go to the free list.
  void UnpublishSubtree(int root);
  void TakeRef(int block);  // refcount++, leaving the LRU when cached

  Options options_;
  float* storage_ = nullptr;  // K of every layer, then V of every layer
  int64_t layer_floats_ = 0;  // num_blocks * block_stride()

  struct Block {
    int refcount = 0;
    bool published = false;
    int parent = -1;        // key parent, when published
    uint64_t hash = 0;      // key hash, when published
    int lru_prev = -1, lru_next = -1;                          // when cached
    int first_child = -1, prev_sibling = -1, next_sibling = -1;  // published children
  };
  std::vector<Block> blocks_;
  std::vector<int32_t> key_tokens_;  // [num_blocks][block_size]: key tokens when published
  std::vector<int> free_;            // stack of free block ids
  int lru_head_ = -1, lru_tail_ = -1;  // head: least recently released cached block
  int cached_ = 0;
  int used_ = 0;
  std::unordered_multimap<uint64_t, int> index_;  // key hash -> published block
  int64_t hits_ = 0, misses_ = 0, evictions_ = 0;
  std::vector<int> scratch_;  // UnpublishSubtree's stack
};

}  // namespace tide::engine
