#include "tide/engine/kv_block_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace tide::engine {
namespace {

std::unique_ptr<KvBlockPool> MakePool(int num_blocks, int block_size = 4, bool prefix_cache = true, int num_layers = 2,
                                      int kv_dim = 3) {
  auto pool = KvBlockPool::Create({num_blocks, block_size, num_layers, kv_dim, prefix_cache});
  EXPECT_TRUE(pool.ok()) << pool.status().ToString();
  return std::move(pool).value();
}

// block_size tokens derived from `seed`.
std::vector<int32_t> Tokens(int seed, int block_size = 4) {
  std::vector<int32_t> t(static_cast<size_t>(block_size));
  for (int i = 0; i < block_size; ++i) t[static_cast<size_t>(i)] = seed * 100 + i;
  return t;
}

void ExpectStatsSum(const KvBlockPool& pool) {
  const KvBlockPool::Stats s = pool.stats();
  EXPECT_EQ(s.free + s.cached + s.used, pool.num_blocks());
  EXPECT_EQ(pool.available(), s.free + s.cached);
}

TEST(KvBlockPoolTest, CreateRejectsBadOptionsNamingTheField) {
  const char* fields[] = {"num_blocks", "block_size", "num_layers", "kv_dim"};
  for (int f = 0; f < 4; ++f) {
    const char* field = fields[f];
    for (int bad : {0, -1}) {
      KvBlockPool::Options o{.num_blocks = 4, .block_size = 4, .num_layers = 1, .kv_dim = 8};
      int* sizes[] = {&o.num_blocks, &o.block_size, &o.num_layers, &o.kv_dim};
      *sizes[f] = bad;
      auto pool = KvBlockPool::Create(o);
      ASSERT_FALSE(pool.ok()) << field;
      EXPECT_EQ(pool.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(pool.status().message().find(field), std::string::npos) << pool.status().message();
    }
  }
  KvBlockPool::Options huge{.num_blocks = INT_MAX, .block_size = INT_MAX, .num_layers = INT_MAX, .kv_dim = INT_MAX};
  auto pool = KvBlockPool::Create(huge);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), StatusCode::kInvalidArgument);
}

TEST(KvBlockPoolTest, AllocatesEveryBlockOnceThenFailsAndReleaseFrees) {
  auto pool = MakePool(5);
  std::set<int> got;
  for (int i = 0; i < 5; ++i) {
    const int b = pool->Allocate();
    ASSERT_GE(b, 0);
    ASSERT_LT(b, 5);
    EXPECT_TRUE(got.insert(b).second) << "block " << b << " handed out twice";
    EXPECT_EQ(pool->refcount(b), 1);
  }
  EXPECT_EQ(pool->Allocate(), -1);
  EXPECT_EQ(pool->stats().used, 5);
  EXPECT_EQ(pool->available(), 0);
  ExpectStatsSum(*pool);

  // A private block returns to the free list when its last reference goes.
  const int a = *got.begin();
  pool->AddRef(a);
  pool->Release(a);
  EXPECT_EQ(pool->refcount(a), 1);
  EXPECT_EQ(pool->Allocate(), -1);
  pool->Release(a);
  EXPECT_EQ(pool->refcount(a), 0);
  EXPECT_EQ(pool->stats().free, 1);
  EXPECT_EQ(pool->stats().cached, 0);
  EXPECT_EQ(pool->Allocate(), a);
  ExpectStatsSum(*pool);
}

TEST(KvBlockPoolTest, PublishThenLookupSharesTheBlock) {
  auto pool = MakePool(4);
  const int a = pool->Allocate();
  EXPECT_EQ(pool->Publish(a, -1, Tokens(1)), a);
  EXPECT_TRUE(pool->published(a));
  const int b = pool->Allocate();
  EXPECT_EQ(pool->Publish(b, a, Tokens(2)), b);

  EXPECT_EQ(pool->Lookup(-1, Tokens(1)), a);
  EXPECT_EQ(pool->refcount(a), 2);
  EXPECT_EQ(pool->Lookup(a, Tokens(2)), b);
  EXPECT_EQ(pool->refcount(b), 2);
  // The sharing sequence addresses the same storage.
  const float* k_a = pool->k_layer(1) + a * pool->block_stride();
  EXPECT_EQ(pool->k_layer(1) + pool->Lookup(-1, Tokens(1)) * pool->block_stride(), k_a);
  EXPECT_EQ(pool->refcount(a), 3);
  EXPECT_EQ(pool->stats().hits, 3);
  EXPECT_EQ(pool->stats().misses, 0);

  // Different tokens (even one), a different parent, or a first block with a parent: misses.
  std::vector<int32_t> t = Tokens(2);
  t.back() += 1;
  EXPECT_EQ(pool->Lookup(a, t), -1);
  EXPECT_EQ(pool->Lookup(-1, Tokens(2)), -1);
  EXPECT_EQ(pool->Lookup(b, Tokens(2)), -1);
  EXPECT_EQ(pool->Lookup(a, Tokens(1)), -1);
  EXPECT_EQ(pool->stats().misses, 4);
  EXPECT_EQ(pool->stats().used, 2);
  ExpectStatsSum(*pool);
}

TEST(KvBlockPoolTest, PublishOfDuplicateReturnsExistingWithAReference) {
  auto pool = MakePool(4);
  const int a = pool->Allocate();
  ASSERT_EQ(pool->Publish(a, -1, Tokens(1)), a);
  EXPECT_EQ(pool->Publish(a, -1, Tokens(1)), a);  // again, same key: no-op
  EXPECT_EQ(pool->refcount(a), 1);
  pool->Release(a);  // cached
  EXPECT_EQ(pool->stats().cached, 1);

  const int mine = pool->Allocate();
  ASSERT_NE(mine, a);
  EXPECT_EQ(pool->Publish(mine, -1, Tokens(1)), a);
  EXPECT_FALSE(pool->published(mine));
  EXPECT_EQ(pool->refcount(a), 1);  // taken for the caller, out of the LRU
  EXPECT_EQ(pool->stats().cached, 0);
  pool->Release(mine);  // switch to a: mine goes back to free
  EXPECT_EQ(pool->refcount(mine), 0);
  EXPECT_EQ(pool->stats().free, 3);
  EXPECT_EQ(pool->stats().used, 1);
  ExpectStatsSum(*pool);

  // Under a parent that is not published (here: private) a block stays private.
  const int p = pool->Allocate(), c = pool->Allocate();
  EXPECT_EQ(pool->Publish(c, p, Tokens(2)), c);
  EXPECT_FALSE(pool->published(c));
  EXPECT_EQ(pool->Lookup(p, Tokens(2)), -1);
}

TEST(KvBlockPoolTest, CachedBlocksAreEvictedInLruOrderOnlyWhenFreeRunsOut) {
  auto pool = MakePool(4);
  const int a = pool->Allocate();
  const int b = pool->Allocate();
  const int c = pool->Allocate();
  pool->Publish(a, -1, Tokens(1));
  pool->Publish(b, -1, Tokens(2));
  pool->Publish(c, -1, Tokens(3));
  pool->Release(b);  // LRU order: b, c, a
  pool->Release(c);
  pool->Release(a);
  EXPECT_EQ(pool->stats().cached, 3);
  EXPECT_EQ(pool->available(), 4);

  const int d = pool->Allocate();  // the free block first
  EXPECT_TRUE(d != a && d != b && d != c);
  EXPECT_EQ(pool->stats().evictions, 0);
  EXPECT_EQ(pool->Allocate(), b);
  EXPECT_EQ(pool->stats().evictions, 1);
  EXPECT_FALSE(pool->published(b));
  EXPECT_EQ(pool->Lookup(-1, Tokens(2)), -1);  // b's entry is gone

  // A hit takes c out of the LRU; released again it becomes the most recent.
  EXPECT_EQ(pool->Lookup(-1, Tokens(3)), c);
  pool->Release(c);  // order: a, c
  EXPECT_EQ(pool->Allocate(), a);
  EXPECT_EQ(pool->Allocate(), c);
  EXPECT_EQ(pool->Allocate(), -1);
  EXPECT_EQ(pool->stats().evictions, 3);
  EXPECT_EQ(pool->Lookup(-1, Tokens(1)), -1);
  EXPECT_EQ(pool->Lookup(-1, Tokens(3)), -1);
  ExpectStatsSum(*pool);
}

TEST(KvBlockPoolTest, ChildOfEvictedParentNeverHitsAfterIdReuse) {
  auto pool = MakePool(3);
  const int p = pool->Allocate();
  const int c = pool->Allocate();
  pool->Publish(p, -1, Tokens(1));
  pool->Publish(c, p, Tokens(2));
  pool->Release(p);  // p is the LRU head, its child c is cached behind it
  pool->Release(c);
  const int other = pool->Allocate();  // the free block
  ASSERT_NE(other, p);
  ASSERT_EQ(pool->Allocate(), p);  // evicts p: c goes with it, to the free list
  EXPECT_FALSE(pool->published(c));
  EXPECT_EQ(pool->stats().evictions, 2);
  EXPECT_EQ(pool->stats().free, 1);
  // p's id now holds other contents, published under another key.
  EXPECT_EQ(pool->Publish(p, -1, Tokens(7)), p);
  EXPECT_EQ(pool->Lookup(p, Tokens(2)), -1);
  EXPECT_EQ(pool->Lookup(-1, Tokens(1)), -1);
  EXPECT_EQ(pool->Lookup(-1, Tokens(7)), p);
  ExpectStatsSum(*pool);
}

TEST(KvBlockPoolTest, UsedChildOfEvictedParentBecomesPrivate) {
  auto pool = MakePool(2);
  const int p = pool->Allocate();
  const int c = pool->Allocate();
  pool->Publish(p, -1, Tokens(1));
  pool->Publish(c, p, Tokens(2));
  pool->Release(p);                // c stays used
  ASSERT_EQ(pool->Allocate(), p);  // evicts p
  EXPECT_FALSE(pool->published(c));
  EXPECT_EQ(pool->refcount(c), 1);
  pool->Publish(p, -1, Tokens(5));
  EXPECT_EQ(pool->Lookup(p, Tokens(2)), -1);
  pool->Release(c);  // private now: free, not cached
  EXPECT_EQ(pool->stats().free, 1);
  EXPECT_EQ(pool->stats().cached, 0);
  ExpectStatsSum(*pool);
}

TEST(KvBlockPoolTest, UnpublishAllEmptiesTheCacheAndLeavesUsedBlocksToTheirHolders) {
  auto pool = MakePool(6);
  // Two cached chains (a -> b, c) and one used chain (d -> e) with a cached child f of e.
  const int a = pool->Allocate(), b = pool->Allocate(), c = pool->Allocate();
  const int d = pool->Allocate(), e = pool->Allocate(), f = pool->Allocate();
  pool->Publish(a, -1, Tokens(1));
  pool->Publish(b, a, Tokens(2));
  pool->Publish(c, -1, Tokens(3));
  pool->Publish(d, -1, Tokens(4));
  pool->Publish(e, d, Tokens(5));
  pool->Publish(f, e, Tokens(6));
  for (int block : {a, b, c, f}) pool->Release(block);
  ASSERT_EQ(pool->stats().cached, 4);

  EXPECT_EQ(pool->UnpublishAll(), 6);
  for (int block : {a, b, c, d, e, f}) EXPECT_FALSE(pool->published(block)) << block;
  EXPECT_EQ(pool->stats().cached, 0);
  EXPECT_EQ(pool->stats().free, 4);
  EXPECT_EQ(pool->refcount(d), 1);  // still its holder's
  EXPECT_EQ(pool->refcount(e), 1);
  for (int seed = 1; seed <= 6; ++seed) EXPECT_EQ(pool->Lookup(-1, Tokens(seed)), -1) << seed;
  EXPECT_EQ(pool->Lookup(d, Tokens(5)), -1);
  // A child published under a block that is private now stays private too.
  const int g = pool->Allocate();
  EXPECT_EQ(pool->Publish(g, e, Tokens(7)), g);
  EXPECT_FALSE(pool->published(g));
  for (int block : {d, e, g}) pool->Release(block);  // private: back to the free list
  EXPECT_EQ(pool->stats().free, 6);
  EXPECT_EQ(pool->UnpublishAll(), 0);
  ExpectStatsSum(*pool);
}

TEST(KvBlockPoolTest, PrefixCacheOffNeverHits) {
  auto pool = MakePool(3, 4, /*prefix_cache=*/false);
  const int a = pool->Allocate();
  EXPECT_EQ(pool->Publish(a, -1, Tokens(1)), a);
  EXPECT_FALSE(pool->published(a));
  const int b = pool->Allocate();
  EXPECT_EQ(pool->Publish(b, -1, Tokens(1)), b);
  EXPECT_EQ(pool->Lookup(-1, Tokens(1)), -1);
  pool->Release(a);
  EXPECT_EQ(pool->stats().free, 2);
  EXPECT_EQ(pool->stats().cached, 0);
  EXPECT_EQ(pool->stats().hits, 0);
  EXPECT_EQ(pool->stats().misses, 1);
}

// Value of float i of row (layer, block, slot) of K (v = false) or V.
float Pattern(int layer, int block, int slot, int i, bool v) {
  return static_cast<float>((v ? -1 : 1) * (1 + layer * 100000 + block * 1000 + slot * 10 + i));
}

TEST(KvBlockPoolTest, WritingOneBlockLeavesEveryOtherBlockAlone) {
  const int num_blocks = 5, block_size = 4, num_layers = 3, kv_dim = 6;
  auto pool = MakePool(num_blocks, block_size, true, num_layers, kv_dim);
  EXPECT_EQ(pool->block_stride(), block_size * kv_dim);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(pool->k_layer(0)) % 64, 0u);
  EXPECT_EQ(pool->k_layer(1) - pool->k_layer(0), num_blocks * pool->block_stride());
  // Calls fn(layer, block, slot, i, v) for every float of K (v = false) and V.
  auto for_each_float = [&](auto fn) {
    for (int r = 0; r < 2 * num_layers * num_blocks * block_size * kv_dim; ++r) {
      fn(r / 2 / kv_dim / block_size / num_blocks, r / 2 / kv_dim / block_size % num_blocks,
         r / 2 / kv_dim % block_size, r / 2 % kv_dim, r % 2 == 1);
    }
  };
  // Float i of row `slot` of `block`, addressed as a kernel would.
  auto at = [&](int l, int b, int s, int i, bool v) -> float& {
    return (v ? pool->v_layer(l) : pool->k_layer(l))[b * pool->block_stride() + s * kv_dim + i];
  };
  // Floats that differ from the pattern in blocks < written and from zero in the others.
  auto mismatches = [&](int written) {
    int bad = 0;
    for_each_float([&](int l, int b, int s, int i, bool v) {
      bad += at(l, b, s, i, v) != (b < written ? Pattern(l, b, s, i, v) : 0.f);
    });
    return bad;
  };
  EXPECT_EQ(mismatches(0), 0);            // zeroed by Create
  for (int b = 0; b < num_blocks; ++b) {  // write block b in every layer
    for_each_float([&](int l, int bb, int s, int i, bool v) {
      if (bb == b) at(l, b, s, i, v) = Pattern(l, b, s, i, v);
    });
    EXPECT_EQ(mismatches(b + 1), 0) << "after writing block " << b;
  }
  const KvBlockPool& cpool = *pool;  // the const accessors see the same storage
  EXPECT_EQ(cpool.v_layer(2)[3 * cpool.block_stride() + kv_dim + 1], Pattern(2, 3, 1, 1, true));
}

// Reference model of the pool's state: the same rules, written the plain way.
struct ModelPool {
  explicit ModelPool(int n) : ref(n), pub(n), parent(n, -1), key(n) {
    for (int b = 0; b < n; ++b) free.insert(b);
  }
  int Find(int p, const std::vector<int32_t>& t) const {
    if (p != -1 && !pub[p]) return -1;
    for (size_t b = 0; b < pub.size(); ++b) {
      if (pub[b] && parent[b] == p && key[b] == t) return static_cast<int>(b);
    }
    return -1;
  }
  void TakeRef(int b) {
    if (ref[b]++ == 0) std::erase(lru, b);
  }
  void Release(int b) {
    if (--ref[b] == 0) pub[b] ? lru.push_back(b) : static_cast<void>(free.insert(b));
  }
  void UnpublishSubtree(int id, bool root = true) {
    pub[id] = false;
    for (size_t c = 0; c < pub.size(); ++c) {
      if (pub[c] && parent[c] == id) UnpublishSubtree(static_cast<int>(c), false);
    }
    if (!root && ref[id] == 0) {  // a cached descendant goes to free
      std::erase(lru, id);
      free.insert(id);
      ++evictions;
    }
  }
  std::vector<int> ref;
  std::vector<bool> pub;
  std::vector<int> parent;
  std::vector<std::vector<int32_t>> key;
  std::set<int> free;
  std::vector<int> lru;  // front: least recently released
  int64_t hits = 0, misses = 0, evictions = 0;
};

void ExpectMatchesModel(const KvBlockPool& pool, const ModelPool& m, size_t held) {
  int used = 0;
  size_t refs = 0;
  for (int b = 0; b < pool.num_blocks(); ++b) {
    ASSERT_GE(pool.refcount(b), 0);
    ASSERT_EQ(pool.refcount(b), m.ref[b]) << "block " << b;
    ASSERT_EQ(pool.published(b), static_cast<bool>(m.pub[b])) << "block " << b;
    if (m.free.count(b)) {
      ASSERT_TRUE(pool.refcount(b) == 0 && !pool.published(b)) << "free block " << b << " in use";
    }
    if (m.pub[b] && m.parent[b] >= 0) {
      ASSERT_TRUE(m.pub[m.parent[b]]) << "block " << b << " under a dropped parent";
    }
    used += m.ref[b] > 0;
    refs += static_cast<size_t>(m.ref[b]);
  }
  ASSERT_EQ(refs, held);
  const KvBlockPool::Stats s = pool.stats();
  ASSERT_EQ(s.free, static_cast<int>(m.free.size()));
  ASSERT_EQ(s.cached, static_cast<int>(m.lru.size()));
  ASSERT_EQ(s.used, used);
  ASSERT_EQ(s.free + s.cached + s.used, pool.num_blocks());
  ASSERT_EQ(pool.available(), s.free + s.cached);
  ASSERT_EQ(s.hits, m.hits);
  ASSERT_EQ(s.misses, m.misses);
  ASSERT_EQ(s.evictions, m.evictions);
}

TEST(KvBlockPoolTest, RandomOperationsMatchReferenceModel) {
  const int n = 8, bs = 2;
  auto pool = MakePool(n, bs, true, 1, 1);
  ModelPool m(n);
  std::vector<int> held;  // one entry per reference the test holds
  std::mt19937 rng(1234);
  auto rand = [&](size_t hi) { return std::uniform_int_distribution<size_t>(0, hi - 1)(rng); };
  auto pick = [&](const std::vector<int>& v) { return v[rand(v.size())]; };
  auto random_tokens = [&] {  // two symbols: duplicates and hash-bucket sharing are common
    std::vector<int32_t> t(bs);
    for (int32_t& x : t) x = static_cast<int32_t>(rand(2));
    return t;
  };
  auto random_parent = [&] {  // -1, a held block, a published block, or any block
    const size_t r = rand(4);
    std::vector<int> published;
    for (int b = 0; b < n; ++b) {
      if (m.pub[b]) published.push_back(b);
    }
    if (r == 0) return -1;
    if (r == 1 && !held.empty()) return pick(held);
    if (r == 2 && !published.empty()) return pick(published);
    return static_cast<int>(rand(n));
  };

  for (int step = 0; step < 10000; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const size_t op = rand(held.size() > 12 ? 8 : 6);  // release more often when holding many
    if (op == 0) {  // Allocate: a free block, else the LRU head (and its subtree), else -1
      const int got = pool->Allocate();
      if (m.free.empty() && m.lru.empty()) {
        ASSERT_EQ(got, -1);
        continue;
      }
      if (!m.free.empty()) {
        ASSERT_EQ(m.free.erase(got), 1u);
      } else {
        ASSERT_EQ(got, m.lru.front());
        ++m.evictions;
        m.TakeRef(got);  // out of the LRU
        m.UnpublishSubtree(got);
      }
      m.ref[got] = 1;
      held.push_back(got);
    } else if (op == 1 && !held.empty()) {  // Publish
      const int b = pick(held);
      int parent = random_parent();
      std::vector<int32_t> t = random_tokens();
      if (m.pub[b]) {  // republish under its own key (another key is a misuse)
        parent = m.parent[b];
        t = m.key[b];
      }
      int want = b;
      const int e = m.Find(parent, t);
      if (e >= 0 && e != b) {
        want = e;
        m.TakeRef(e);
        held.push_back(e);
      } else if (e < 0 && (parent == -1 || m.pub[parent])) {
        m.pub[b] = true;
        m.parent[b] = parent;
        m.key[b] = t;
      }
      ASSERT_EQ(pool->Publish(b, parent, t), want);
    } else if (op == 2) {  // Lookup
      const int parent = random_parent();
      const std::vector<int32_t> t = random_tokens();
      const int want = m.Find(parent, t);
      ASSERT_EQ(pool->Lookup(parent, t), want);
      ++(want >= 0 ? m.hits : m.misses);
      if (want >= 0) {
        m.TakeRef(want);
        held.push_back(want);
      }
    } else if (op == 3 && !held.empty()) {  // AddRef
      const int b = pick(held);
      pool->AddRef(b);
      m.TakeRef(b);
      held.push_back(b);
    } else if (op >= 4 && !held.empty()) {  // Release
      const size_t i = rand(held.size());
      const int b = held[i];
      held[i] = held.back();
      held.pop_back();
      pool->Release(b);
      m.Release(b);
    }
    ExpectMatchesModel(*pool, m, held.size());
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(m.hits, 100);  // the run exercised sharing and eviction
  EXPECT_GT(m.evictions, 50);
}

}  // namespace
}  // namespace tide::engine
