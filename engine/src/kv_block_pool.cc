// KvBlockPool (see kv_block_pool.h).
//
// Bookkeeping is per block in one array: refcount, the published key (parent id, hash;
// the tokens live in key_tokens_), links of the intrusive LRU list of cached blocks, and
// links of the intrusive child list (first_child / siblings) of published blocks, so
// eviction can walk a block's published subtree without searching the index. The index is
// a multimap from key hash to block id; Find checks parent and tokens exactly.
#include "tide/engine/kv_block_pool.h"

#include <cassert>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

namespace tide::engine {
namespace {

constexpr size_t kAlignment = 64;

uint64_t Mix(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

Result<std::unique_ptr<KvBlockPool>> KvBlockPool::Create(const Options& options) {
  const struct {
    const char* name;
    int value;
  } sizes[] = {{"num_blocks", options.num_blocks},
               {"block_size", options.block_size},
               {"num_layers", options.num_layers},
               {"kv_dim", options.kv_dim}};
  for (const auto& s : sizes) {
    if (s.value <= 0) {
      return InvalidArgument(std::string("KvBlockPool: ") + s.name + " must be positive, got " +
                             std::to_string(s.value));
    }
  }
  // 2 (K and V) * num_layers * num_blocks * block_size * kv_dim floats, checked for overflow.
  constexpr uint64_t kMaxFloats = std::numeric_limits<size_t>::max() / sizeof(float) / 2 - kAlignment;
  uint64_t floats = 1;
  for (const auto& s : sizes) {
    if (floats > kMaxFloats / static_cast<uint64_t>(s.value)) {
      return InvalidArgument("KvBlockPool: num_blocks * block_size * num_layers * kv_dim is too large (overflow at " +
                             std::string(s.name) + ")");
    }
    floats *= static_cast<uint64_t>(s.value);
  }
  size_t bytes = static_cast<size_t>(floats) * 2 * sizeof(float);
  bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;  // aligned_alloc wants a multiple
  void* storage = std::aligned_alloc(kAlignment, bytes);
  if (storage == nullptr) {
    return ResourceExhausted("KvBlockPool: cannot allocate " + std::to_string(bytes) + " bytes of K/V storage");
  }
  std::memset(storage, 0, bytes);
  std::unique_ptr<KvBlockPool> pool(new KvBlockPool(options));
  pool->storage_ = static_cast<float*>(storage);
  return pool;
}

KvBlockPool::KvBlockPool(const Options& options)
    : options_(options),
      layer_floats_(static_cast<int64_t>(options.num_blocks) * options.block_size * options.kv_dim),
      blocks_(static_cast<size_t>(options.num_blocks)) {
  if (options_.prefix_cache) {
    key_tokens_.resize(static_cast<size_t>(options.num_blocks) * static_cast<size_t>(options.block_size));
    index_.reserve(static_cast<size_t>(options.num_blocks));
  }
  free_.reserve(static_cast<size_t>(options.num_blocks));
  for (int b = options.num_blocks - 1; b >= 0; --b) free_.push_back(b);  // block 0 is handed out first
}

KvBlockPool::~KvBlockPool() { std::free(storage_); }

float* KvBlockPool::k_layer(int layer) {
  assert(layer >= 0 && layer < options_.num_layers);
  return storage_ + layer * layer_floats_;
}
float* KvBlockPool::v_layer(int layer) {
  assert(layer >= 0 && layer < options_.num_layers);
  return storage_ + (options_.num_layers + layer) * layer_floats_;
}
const float* KvBlockPool::k_layer(int layer) const { return const_cast<KvBlockPool*>(this)->k_layer(layer); }
const float* KvBlockPool::v_layer(int layer) const { return const_cast<KvBlockPool*>(this)->v_layer(layer); }

int KvBlockPool::Allocate() {
  int block;
  if (!free_.empty()) {
    block = free_.back();
    free_.pop_back();
  } else if (lru_head_ >= 0) {
    block = lru_head_;
    LruRemove(block);
    ++evictions_;
    UnpublishSubtree(block);
  } else {
    return -1;
  }
  blocks_[block].refcount = 1;
  ++used_;
  return block;
}

void KvBlockPool::TakeRef(int block) {
  Block& b = blocks_[block];
  if (b.refcount == 0) {
    LruRemove(block);  // only cached blocks reach here with refcount 0
    ++used_;
  }
  ++b.refcount;
}

void KvBlockPool::AddRef(int block) {
  assert(Valid(block) && "KvBlockPool::AddRef: block out of range");
  if (!Valid(block)) return;
  assert((blocks_[block].refcount > 0 || blocks_[block].published) && "KvBlockPool::AddRef: free block");
  if (blocks_[block].refcount == 0 && !blocks_[block].published) return;
  TakeRef(block);
}

void KvBlockPool::Release(int block) {
  assert(Valid(block) && "KvBlockPool::Release: block out of range");
  if (!Valid(block)) return;
  Block& b = blocks_[block];
  assert(b.refcount > 0 && "KvBlockPool::Release: block not referenced");
  if (b.refcount <= 0) return;
  if (--b.refcount > 0) return;
  --used_;
  if (b.published) {
    LruPushBack(block);
  } else {
    free_.push_back(block);  // private blocks never have published children
  }
}

int KvBlockPool::refcount(int block) const { return Valid(block) ? blocks_[block].refcount : 0; }
bool KvBlockPool::published(int block) const { return Valid(block) && blocks_[block].published; }

uint64_t KvBlockPool::Hash(int parent, std::span<const int32_t> tokens) const {
  uint64_t h = Mix(static_cast<uint64_t>(static_cast<int64_t>(parent)) + 0x9e3779b97f4a7c15ULL);
  for (int32_t t : tokens) h = (h ^ static_cast<uint32_t>(t)) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
  return Mix(h);
}

int KvBlockPool::Find(uint64_t hash, int parent, std::span<const int32_t> tokens) const {
  auto [it, end] = index_.equal_range(hash);
  const size_t bs = static_cast<size_t>(options_.block_size);
  for (; it != end; ++it) {
    const int id = it->second;
    if (blocks_[id].parent != parent) continue;
    if (std::memcmp(&key_tokens_[static_cast<size_t>(id) * bs], tokens.data(), bs * sizeof(int32_t)) == 0) return id;
  }
  return -1;
}

int KvBlockPool::Lookup(int parent, std::span<const int32_t> tokens) {
  assert((parent == -1 || Valid(parent)) && "KvBlockPool::Lookup: parent out of range");
  assert(tokens.size() == static_cast<size_t>(options_.block_size) && "KvBlockPool::Lookup: not a full block");
  int hit = -1;
  if (options_.prefix_cache && tokens.size() == static_cast<size_t>(options_.block_size) &&
      (parent == -1 || (Valid(parent) && blocks_[parent].published))) {
    hit = Find(Hash(parent, tokens), parent, tokens);
  }
  if (hit < 0) {
    ++misses_;
    return -1;
  }
  ++hits_;
  TakeRef(hit);
  return hit;
}

int KvBlockPool::Publish(int block, int parent, std::span<const int32_t> tokens) {
  assert(Valid(block) && "KvBlockPool::Publish: block out of range");
  assert((parent == -1 || Valid(parent)) && "KvBlockPool::Publish: parent out of range");
  assert(tokens.size() == static_cast<size_t>(options_.block_size) && "KvBlockPool::Publish: not a full block");
  if (!Valid(block) || tokens.size() != static_cast<size_t>(options_.block_size)) return block;
  Block& b = blocks_[block];
  assert(b.refcount > 0 && "KvBlockPool::Publish: block not referenced");
  if (b.refcount <= 0 || !options_.prefix_cache) return block;
  if (parent != -1 && !(Valid(parent) && blocks_[parent].published)) return block;  // unreachable prefix
  const uint64_t hash = Hash(parent, tokens);
  const int existing = Find(hash, parent, tokens);
  if (existing == block) return block;  // published again under the same key
  assert(!b.published && "KvBlockPool::Publish: block already published under another key");
  if (b.published) return block;
  if (existing >= 0) {
    TakeRef(existing);
    return existing;
  }
  b.published = true;
  b.parent = parent;
  b.hash = hash;
  const size_t bs = static_cast<size_t>(options_.block_size);
  std::memcpy(&key_tokens_[static_cast<size_t>(block) * bs], tokens.data(), bs * sizeof(int32_t));
  index_.emplace(hash, block);
  if (parent >= 0) {  // link as the first child of parent
    Block& p = blocks_[parent];
    b.prev_sibling = -1;
    b.next_sibling = p.first_child;
    if (p.first_child >= 0) blocks_[p.first_child].prev_sibling = block;
    p.first_child = block;
  }
  return block;
}

void KvBlockPool::UnpublishSubtree(int root) {
  {  // Unlink root from its parent's children; descendants' lists are dismantled below.
    Block& r = blocks_[root];
    if (r.parent >= 0) {
      if (r.prev_sibling >= 0) {
        blocks_[r.prev_sibling].next_sibling = r.next_sibling;
      } else {
        blocks_[r.parent].first_child = r.next_sibling;
      }
      if (r.next_sibling >= 0) blocks_[r.next_sibling].prev_sibling = r.prev_sibling;
    }
  }
  std::vector<int>& stack = scratch_;
  stack.assign(1, root);
  while (!stack.empty()) {
    const int id = stack.back();
    stack.pop_back();
    Block& b = blocks_[id];
    auto [it, end] = index_.equal_range(b.hash);
    for (; it != end; ++it) {
      if (it->second == id) {
        index_.erase(it);
        break;
      }
    }
    for (int c = b.first_child; c >= 0; c = blocks_[c].next_sibling) stack.push_back(c);
    b.published = false;
    b.parent = -1;
    b.first_child = b.prev_sibling = b.next_sibling = -1;
    if (id != root && b.refcount == 0) {  // a cached descendant: gone from the cache
      LruRemove(id);
      free_.push_back(id);
      ++evictions_;
    }
  }
}

int KvBlockPool::UnpublishAll() {
  int unpublished = 0;
  for (const Block& b : blocks_) unpublished += b.published ? 1 : 0;
  for (int id = 0; id < options_.num_blocks; ++id) {
    Block& b = blocks_[id];
    if (!b.published || b.parent >= 0) continue;  // roots only: a subtree goes with its root
    const bool cached = b.refcount == 0;
    if (cached) LruRemove(id);
    UnpublishSubtree(id);
    if (cached) free_.push_back(id);
  }
  return unpublished;
}

void KvBlockPool::LruPushBack(int block) {
  Block& b = blocks_[block];
  b.lru_prev = lru_tail_;
  b.lru_next = -1;
  if (lru_tail_ >= 0) {
    blocks_[lru_tail_].lru_next = block;
  } else {
    lru_head_ = block;
  }
  lru_tail_ = block;
  ++cached_;
}

void KvBlockPool::LruRemove(int block) {
  Block& b = blocks_[block];
  if (b.lru_prev >= 0) {
    blocks_[b.lru_prev].lru_next = b.lru_next;
  } else {
    lru_head_ = b.lru_next;
  }
  if (b.lru_next >= 0) {
    blocks_[b.lru_next].lru_prev = b.lru_prev;
  } else {
    lru_tail_ = b.lru_prev;
  }
  b.lru_prev = b.lru_next = -1;
  --cached_;
}

KvBlockPool::Stats KvBlockPool::stats() const {
  Stats s;
  s.free = static_cast<int>(free_.size());
  s.cached = cached_;
  s.used = used_;
  s.hits = hits_;
  s.misses = misses_;
  s.evictions = evictions_;
  return s;
}

}  // namespace tide::engine
