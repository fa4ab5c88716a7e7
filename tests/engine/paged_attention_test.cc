#include "tide/engine/kernels/paged_attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "tide/engine/kernels/attention.h"
#include "tide/engine/kernels/cpu_features.h"
#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

using testing::RandomVector;
using testing::SupportedLevels;
using testing::WorstRowError;


struct SeqSpec {
  int tokens, past;
};

// Decode rows and prefill chunks; totals straddle 64-key tiles and 16-query blocks.
const SeqSpec kMixed[] = {{1, 0}, {1, 37}, {1, 200}, {17, 0}, {64, 64}, {70, 130}};

// A block pool of random K/V with a few spare blocks, each sequence owning a shuffled,
// non-contiguous set of block ids, plus every sequence's queries, its K/V gathered
// contiguous (for the reference) and NaN-poisoned outputs.
struct Batch {
  AttentionShape shape;
  PagedKv kv;
  std::vector<float> k_pool, v_pool;
  std::vector<std::vector<int32_t>> tables;
  std::vector<std::vector<float>> q, k, v, out;
  std::vector<PagedSequence> seqs;

  Batch(std::mt19937& rng, std::span<const SeqSpec> specs, int heads, int kv_heads, int d, int block_size) {
    shape.heads = heads;
    shape.kv_heads = kv_heads;
    shape.head_dim = d;
    shape.scale = 1.0f / std::sqrt(static_cast<float>(d));
    const int64_t row = static_cast<int64_t>(kv_heads) * d;
    int blocks = 3;  // spares nobody reads
    for (const SeqSpec& s : specs) blocks += (s.past + s.tokens + block_size - 1) / block_size;
    kv.block_size = block_size;
    kv.block_stride = block_size * row + 7;  // padded: the stride is not implied by block_size
    k_pool = RandomVector(rng, static_cast<size_t>(blocks * kv.block_stride), -2.5f, 2.5f);
    v_pool = RandomVector(rng, k_pool.size(), -1.0f, 1.0f);
    kv.k = k_pool.data();
    kv.v = v_pool.data();
    std::vector<int32_t> ids(static_cast<size_t>(blocks));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    size_t used = 0;
    for (const SeqSpec& s : specs) {
      const int total = s.past + s.tokens;
      tables.emplace_back(ids.begin() + static_cast<std::ptrdiff_t>(used),
                          ids.begin() + static_cast<std::ptrdiff_t>(used) + (total + block_size - 1) / block_size);
      used += tables.back().size();
      std::vector<float> kc(static_cast<size_t>(total * row)), vc(kc.size());
      for (int j = 0; j < total; ++j) {
        const int64_t at = tables.back()[static_cast<size_t>(j / block_size)] * kv.block_stride + (j % block_size) * row;
        std::copy_n(k_pool.begin() + at, row, kc.begin() + j * row);
        std::copy_n(v_pool.begin() + at, row, vc.begin() + j * row);
      }
      k.push_back(std::move(kc));
      v.push_back(std::move(vc));
      q.push_back(RandomVector(rng, static_cast<size_t>(s.tokens) * heads * d, -2.5f, 2.5f));
      out.emplace_back(q.back().size(), std::numeric_limits<float>::quiet_NaN());
    }
    for (size_t i = 0; i < tables.size(); ++i) {
      seqs.push_back({specs[i].tokens, specs[i].past, q[i].data(), out[i].data(), tables[i].data()});
    }
  }

  std::vector<float> Reference(size_t i) const {
    AttentionShape s = shape;
    s.tokens = seqs[i].tokens;
    s.past = seqs[i].past;
    std::vector<float> ref(q[i].size());
    AttentionForwardReference(s, q[i].data(), k[i].data(), v[i].data(), ref.data(), nullptr);
    return ref;
  }
};

struct HeadShape {
  int heads, kv_heads, head_dim;
};
const HeadShape kShapes[] = {{6, 2, 32}, {4, 4, 64}, {8, 1, 20}};
const int kBlockSizes[] = {1, 16, 64, 5};

TEST(PagedAttentionTest, MixedBatchMatchesReferenceAtEveryLevel) {
  std::mt19937 rng(41);
  for (SimdLevel level : SupportedLevels()) {
    for (const HeadShape& hs : kShapes) {
      for (int bs : kBlockSizes) {
        Batch b(rng, kMixed, hs.heads, hs.kv_heads, hs.head_dim, bs);
        PagedAttentionForwardAt(level, b.shape, b.kv, b.seqs);
        for (size_t i = 0; i < b.seqs.size(); ++i) {
          EXPECT_LT(WorstRowError(b.out[i], b.Reference(i), hs.head_dim), 1e-5)
              << SimdLevelName(level) << " heads=" << hs.heads << "/" << hs.kv_heads << " d=" << hs.head_dim
              << " block=" << bs << " tokens=" << b.seqs[i].tokens << " past=" << b.seqs[i].past;
        }
      }
    }
  }
}

TEST(PagedAttentionTest, IndependentOfBatchComposition) {
  std::mt19937 rng(42);
  for (SimdLevel level : SupportedLevels()) {
    for (int bs : kBlockSizes) {
      Batch b(rng, kMixed, 6, 2, 32, bs);
      PagedAttentionForwardAt(level, b.shape, b.kv, b.seqs);
      // Each sequence alone, then the batch reversed: bit-identical outputs.
      for (size_t i = 0; i < b.seqs.size(); ++i) {
        std::vector<float> alone(b.out[i].size(), std::numeric_limits<float>::quiet_NaN());
        PagedSequence s = b.seqs[i];
        s.out = alone.data();
        PagedAttentionForwardAt(level, b.shape, b.kv, std::span<const PagedSequence>(&s, 1));
        EXPECT_EQ(alone, b.out[i]) << SimdLevelName(level) << " block=" << bs << " seq=" << i;
      }
      std::vector<std::vector<float>> outs;
      std::vector<PagedSequence> reversed(b.seqs.rbegin(), b.seqs.rend());
      for (PagedSequence& s : reversed) {
        outs.emplace_back(static_cast<size_t>(s.tokens) * 6 * 32, std::numeric_limits<float>::quiet_NaN());
        s.out = outs.back().data();
      }
      PagedAttentionForwardAt(level, b.shape, b.kv, reversed);
      for (size_t i = 0; i < b.seqs.size(); ++i) EXPECT_EQ(outs[b.seqs.size() - 1 - i], b.out[i]);
    }
  }
}

TEST(PagedAttentionTest, MatchesContiguousForwardBitForBit) {
  // The shared tile loop reaches rows through the block table but does the same arithmetic
  // as AttentionForward on the K/V gathered contiguous, whatever the block size.
  std::mt19937 rng(43);
  for (SimdLevel level : SupportedLevels()) {
    for (int bs : {1, 5, 16, 64, 128}) {
      Batch b(rng, kMixed, 8, 2, 48, bs);
      PagedAttentionForwardAt(level, b.shape, b.kv, b.seqs);
      for (size_t i = 0; i < b.seqs.size(); ++i) {
        AttentionShape s = b.shape;
        s.tokens = b.seqs[i].tokens;
        s.past = b.seqs[i].past;
        std::vector<float> out(b.q[i].size());
        AttentionForwardAt(level, s, b.q[i].data(), b.k[i].data(), b.v[i].data(), out.data(), nullptr);
        EXPECT_EQ(out, b.out[i]) << SimdLevelName(level) << " block=" << bs << " seq=" << i;
      }
    }
  }
}

TEST(PagedAttentionTest, GroupedHeadsMatchOneHeadWalksBitForBit) {
  // The heads of a GQA group share each transposed K tile but keep their own softmax
  // state: every head's output equals that head run alone (a one-head, one-kv-head
  // contiguous forward on its slices), paged and contiguous. kv_heads = pool size, so the
  // contiguous forward takes its grouped path too.
  std::mt19937 rng(45);
  const int kv_heads = ThreadPool::Default().size(), group = 3, d = 24;
  const int heads = kv_heads * group;
  for (SimdLevel level : SupportedLevels()) {
    Batch b(rng, kMixed, heads, kv_heads, d, 16);
    PagedAttentionForwardAt(level, b.shape, b.kv, b.seqs);
    for (size_t i = 0; i < b.seqs.size(); ++i) {
      const int tokens = b.seqs[i].tokens, total = b.seqs[i].past + tokens;
      AttentionShape s = b.shape;
      s.tokens = tokens;
      s.past = b.seqs[i].past;
      std::vector<float> grouped(b.q[i].size());
      AttentionForwardAt(level, s, b.q[i].data(), b.k[i].data(), b.v[i].data(), grouped.data(), nullptr);
      EXPECT_EQ(grouped, b.out[i]) << SimdLevelName(level) << " seq=" << i;
      AttentionShape one = s;
      one.heads = 1;
      one.kv_heads = 1;
      for (int h = 0; h < heads; ++h) {
        const int g = h / group;
        std::vector<float> qh(static_cast<size_t>(tokens) * d), kh(static_cast<size_t>(total) * d), vh(kh.size());
        for (int t = 0; t < tokens; ++t) {
          std::copy_n(b.q[i].begin() + (static_cast<int64_t>(t) * heads + h) * d, d, qh.begin() + t * d);
        }
        for (int j = 0; j < total; ++j) {
          std::copy_n(b.k[i].begin() + (static_cast<int64_t>(j) * kv_heads + g) * d, d, kh.begin() + j * d);
          std::copy_n(b.v[i].begin() + (static_cast<int64_t>(j) * kv_heads + g) * d, d, vh.begin() + j * d);
        }
        std::vector<float> oh(qh.size());
        AttentionForwardAt(level, one, qh.data(), kh.data(), vh.data(), oh.data(), nullptr);
        for (int t = 0; t < tokens; ++t) {
          const auto at = b.out[i].begin() + (static_cast<int64_t>(t) * heads + h) * d;
          EXPECT_TRUE(std::equal(oh.begin() + t * d, oh.begin() + (t + 1) * d, at))
              << SimdLevelName(level) << " seq=" << i << " head=" << h << " token=" << t;
        }
      }
    }
  }
}

TEST(PagedAttentionTest, SharedPrefixBlocksAndDefaultEntryPoint) {
  // Two sequences read the same prefix blocks (prefix caching); the default entry point
  // equals the best level.
  std::mt19937 rng(44);
  const SeqSpec specs[] = {{3, 40}, {1, 45}};
  Batch b(rng, specs, 4, 2, 16, 16);
  b.tables[1][0] = b.tables[0][0];  // positions 0..15 shared
  b.tables[1][1] = b.tables[0][1];  // positions 16..31 shared
  for (int j = 0; j < 32; ++j) {
    const int64_t row = 2 * 16, at = b.tables[0][static_cast<size_t>(j / 16)] * b.kv.block_stride + (j % 16) * row;
    std::copy_n(b.k_pool.begin() + at, row, b.k[1].begin() + j * row);
    std::copy_n(b.v_pool.begin() + at, row, b.v[1].begin() + j * row);
  }
  PagedAttentionForward(b.shape, b.kv, b.seqs);
  for (size_t i = 0; i < b.seqs.size(); ++i) EXPECT_LT(WorstRowError(b.out[i], b.Reference(i), 16), 1e-5);
  std::vector<std::vector<float>> best = b.out;
  PagedAttentionForwardAt(DetectSimdLevel(), b.shape, b.kv, b.seqs);
  EXPECT_EQ(best, b.out);
}

// Sequence `to` reads sequence `from`'s first `blocks` blocks (a shared prompt in the
// prefix cache); its contiguous K/V copy for the reference follows.
void ShareBlocks(Batch& b, size_t from, size_t to, int blocks) {
  const int64_t row = static_cast<int64_t>(b.shape.kv_heads) * b.shape.head_dim;
  const int bs = b.kv.block_size;
  for (int i = 0; i < blocks; ++i) b.tables[to][static_cast<size_t>(i)] = b.tables[from][static_cast<size_t>(i)];
  for (int j = 0; j < blocks * bs; ++j) {
    const int64_t at = b.tables[to][static_cast<size_t>(j / bs)] * b.kv.block_stride + (j % bs) * row;
    std::copy_n(b.k_pool.begin() + at, row, b.k[to].begin() + j * row);
    std::copy_n(b.v_pool.begin() + at, row, b.v[to].begin() + j * row);
  }
}

TEST(PagedAttentionTest, SharedKeyTilesAreReadOnceAndResultsStayBitIdentical) {
  // A swarm step: 24 decode rows and short chunks behind one 320-token prompt (some of
  // them share only its first 200 tokens), a prefill chunk behind it too, 3 sequences
  // behind another prompt, and strangers.
  std::mt19937 rng(45);
  std::vector<SeqSpec> specs;
  for (int i = 0; i < 24; ++i) specs.push_back({i % 5 == 0 ? 7 : 1, 330 + 3 * i});
  for (int i = 0; i < 3; ++i) specs.push_back({1, 140 + i});
  specs.push_back({40, 330});  // a prefill chunk: three query blocks
  specs.push_back({1, 90});
  specs.push_back({2, 10});
  for (SimdLevel level : SupportedLevels()) {
    for (int bs : {16, 5, 64}) {
      Batch b(rng, specs, 6, 2, 32, bs);
      for (size_t i = 1; i < 24; ++i) ShareBlocks(b, 0, i, (i % 4 == 0 ? 200 : 320) / bs);
      ShareBlocks(b, 0, 27, 320 / bs);
      for (size_t i = 25; i < 27; ++i) ShareBlocks(b, 24, i, 128 / bs);
      const int big = 320 / bs * bs / 64, small = 128 / bs * bs / 64;
      PagedAttentionStats stats;
      PagedAttentionForwardAt(level, b.shape, b.kv, b.seqs, &stats);
      int64_t alone_tiles = 0;
      for (size_t i = 0; i < b.seqs.size(); ++i) {
        ASSERT_LT(WorstRowError(b.out[i], b.Reference(i), 32), 1e-5) << "seq " << i;
        std::vector<float> alone(b.out[i].size(), std::numeric_limits<float>::quiet_NaN());
        PagedSequence s = b.seqs[i];
        s.out = alone.data();
        PagedAttentionStats one;
        PagedAttentionForwardAt(level, b.shape, b.kv, std::span<const PagedSequence>(&s, 1), &one);
        // A walk per query block and kv head reads every key tile its last query sees.
        int64_t plain = 0;
        for (int t0 = 0; t0 < s.tokens; t0 += 16) plain += 2 * ((s.past + std::min(t0 + 16, s.tokens) + 63) / 64);
        alone_tiles += plain;
        // Alone, only the chunk's own query blocks share tiles (one unit per kv head).
        if (s.tokens <= 16) {
          EXPECT_EQ(one.shared_tile_uses, 0);
        }
        EXPECT_EQ(one.key_tiles_read, plain - one.shared_tile_uses + (one.shared_tile_uses > 0 ? 2 * big : 0));
        ASSERT_EQ(alone, b.out[i]) << SimdLevelName(level) << " block=" << bs << " seq=" << i;
      }
      // Tiles every query sees whole and whose blocks are shared: 22 query blocks (the 18
      // full sharers, sequence 0 and the 3 blocks of the 40-row chunk) share the 320-token
      // prompt's whole 64-key tiles, in two units of at most 16; the other prompt's 3
      // sequences share one unit. Each unit reads a shared tile once per kv head instead
      // of once per query block.
      EXPECT_EQ(stats.shared_tile_uses, 2 * (22 * big + 3 * small)) << "block=" << bs;
      EXPECT_EQ(stats.key_tiles_read, alone_tiles - stats.shared_tile_uses + 2 * (2 * big + small))
          << "block=" << bs;
    }
  }
}

TEST(PagedAttentionTest, EmptyBatchIsNoOp) {
  AttentionShape shape{0, 0, 6, 2, 32, 0.17677669f};
  PagedKv kv{nullptr, nullptr, 16 * 64, 16};
  PagedAttentionForward(shape, kv, {});
  // Sequences without new tokens write nothing.
  std::vector<float> out(6 * 32, 7.0f);
  const PagedSequence idle{0, 10, nullptr, out.data(), nullptr};
  PagedAttentionForward(shape, kv, std::span<const PagedSequence>(&idle, 1));
  EXPECT_EQ(out, std::vector<float>(6 * 32, 7.0f));
}

}  // namespace
}  // namespace tide::engine
