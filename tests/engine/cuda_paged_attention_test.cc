// Parity of CudaPagedAttentionForward against AttentionForwardReference on the same K/V laid
// out contiguously, on fresh random inputs: decode batches and mixed prefill/decode batches,
// GQA, odd head sizes, shuffled and shared blocks; skips when no CUDA device is usable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "tide/engine/cuda/cuda_paged_attention.h"
#include "tide/engine/cuda/cuda_runtime.h"
#include "tide/engine/kernels/attention.h"
#include "tide/engine/kernels/paged_attention.h"

namespace tide::engine {
namespace {

struct Case {
  const char* name;
  int heads, kv_heads, head_dim, block_size, stride_pad;
  std::vector<int> past, tokens;  // one entry per sequence
  bool share_prefix;              // sequences 0 and 1 share their first block
};

TEST(CudaPagedAttentionTest, MatchesContiguousReference) {
  std::string why;
  if (!CudaDeviceAvailable(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const Case cases[] = {
      {"decode", 8, 2, 64, 16, 0, {0, 1, 15, 16, 17, 300, 1000}, {1, 1, 1, 1, 1, 1, 1}, true},
      {"decode-mha-odd", 5, 5, 17, 7, 3, {3, 40, 129}, {1, 1, 1}, false},
      {"mixed", 16, 4, 128, 16, 0, {0, 37, 64, 500}, {33, 1, 5, 1}, true},
      {"head256", 4, 1, 256, 32, 8, {2047, 5}, {1, 70}, false},
      {"long-decode", 32, 8, 128, 16, 0, {4095, 2500, 8000}, {1, 1, 1}, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const int nseq = static_cast<int>(c.past.size());
    const int row = c.kv_heads * c.head_dim;
    const int64_t block_stride = static_cast<int64_t>(c.block_size) * row + c.stride_pad;
    // Blocks per sequence, then a shuffled pool with a few unused blocks.
    std::vector<int> nblocks(nseq);
    int total_blocks = 4;
    for (int s = 0; s < nseq; ++s) {
      nblocks[s] = (c.past[s] + c.tokens[s] + c.block_size - 1) / c.block_size;
      total_blocks += nblocks[s];
    }
    std::vector<int32_t> ids(total_blocks);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    std::vector<std::vector<int32_t>> tables(nseq);
    int next = 0;
    for (int s = 0; s < nseq; ++s) {
      for (int b = 0; b < nblocks[s]; ++b) tables[s].push_back(ids[next++]);
    }
    // Prefix sharing: K/V are only read, so two tables may name the same block.
    if (c.share_prefix && nseq > 1) tables[1][0] = tables[0][0];
    const auto k = testing::RandomVector(rng, static_cast<size_t>(total_blocks) * block_stride, -1.f, 1.f);
    const auto v = testing::RandomVector(rng, k.size(), -1.f, 1.f);

    AttentionShape shape;
    shape.heads = c.heads;
    shape.kv_heads = c.kv_heads;
    shape.head_dim = c.head_dim;
    shape.scale = 1.f / std::sqrt(static_cast<float>(c.head_dim));
    std::vector<std::vector<float>> q(nseq), out(nseq), ref(nseq);
    std::vector<PagedSequence> seqs(nseq);
    for (int s = 0; s < nseq; ++s) {
      const size_t n = static_cast<size_t>(c.tokens[s]) * c.heads * c.head_dim;
      q[s] = testing::RandomVector(rng, n, -2.f, 2.f);
      out[s].assign(n, std::numeric_limits<float>::quiet_NaN());
      ref[s].assign(n, 0.f);
      seqs[s] = {c.tokens[s], c.past[s], q[s].data(), out[s].data(), tables[s].data()};
      // The reference on a contiguous copy of this sequence's K/V.
      const int len = c.past[s] + c.tokens[s];
      std::vector<float> kc(static_cast<size_t>(len) * row), vc(kc.size());
      for (int j = 0; j < len; ++j) {
        const size_t from = static_cast<size_t>(tables[s][j / c.block_size]) * block_stride +
                            static_cast<size_t>(j % c.block_size) * row;
        std::copy(k.begin() + from, k.begin() + from + row, kc.begin() + static_cast<size_t>(j) * row);
        std::copy(v.begin() + from, v.begin() + from + row, vc.begin() + static_cast<size_t>(j) * row);
      }
      AttentionShape one = shape;
      one.tokens = c.tokens[s];
      one.past = c.past[s];
      AttentionForwardReference(one, q[s].data(), kc.data(), vc.data(), ref[s].data(), nullptr);
    }
    PagedKv kv;
    kv.k = k.data();
    kv.v = v.data();
    kv.block_stride = block_stride;
    kv.block_size = c.block_size;
    const Status st = CudaPagedAttentionForward(shape, kv, seqs);
    ASSERT_TRUE(st.ok()) << st.ToString();
    double worst = 0.0;
    for (int s = 0; s < nseq; ++s) {
      SCOPED_TRACE("sequence " + std::to_string(s));
      for (float x : out[s]) ASSERT_FALSE(std::isnan(x)) << "output not written";
      worst = std::max(worst, testing::WorstRowError(out[s], ref[s], c.head_dim));
    }
    std::printf("[parity] CudaPagedAttentionForward %s heads=%d kv_heads=%d head_dim=%d "
                "worst_row_rel_err=%.3g\n", c.name, c.heads, c.kv_heads, c.head_dim, worst);
    EXPECT_LT(worst, 1e-5);
  }
}

TEST(CudaPagedAttentionTest, RejectsBadArgumentsWithoutCrashing) {
  std::vector<float> k(64, 0.5f), q(8, 1.f), out(8);
  const int32_t table[2] = {0, -1};
  AttentionShape shape;
  shape.heads = 2;
  shape.kv_heads = 1;
  shape.head_dim = 4;
  shape.scale = 0.5f;
  PagedKv kv{k.data(), k.data(), 16, 4};
  const StatusCode bad = TIDE_HAS_CUDA ? StatusCode::kInvalidArgument : StatusCode::kFailedPrecondition;
  PagedSequence ok_seq{1, 2, q.data(), out.data(), table};
  {
    AttentionShape s = shape;
    s.kv_heads = 0;
    EXPECT_EQ(CudaPagedAttentionForward(s, kv, {&ok_seq, 1}).code(), bad);
    s = shape;
    s.heads = 3;  // not a multiple of kv_heads = 2
    s.kv_heads = 2;
    EXPECT_EQ(CudaPagedAttentionForward(s, kv, {&ok_seq, 1}).code(), bad);
    s = shape;
    s.head_dim = 300;
    EXPECT_EQ(CudaPagedAttentionForward(s, kv, {&ok_seq, 1}).code(), bad);
  }
  PagedKv small = kv;
  small.block_stride = 3;  // < block_size * kv_heads * head_dim
  EXPECT_EQ(CudaPagedAttentionForward(shape, small, {&ok_seq, 1}).code(), bad);
  PagedSequence negative_block{1, 4, q.data(), out.data(), table};  // reaches table[1] = -1
  EXPECT_EQ(CudaPagedAttentionForward(shape, kv, {&negative_block, 1}).code(), bad);
  PagedSequence null_q{1, 0, nullptr, out.data(), table};
  EXPECT_EQ(CudaPagedAttentionForward(shape, kv, {&null_q, 1}).code(), bad);
  PagedSequence negative_past{1, -1, q.data(), out.data(), table};
  EXPECT_EQ(CudaPagedAttentionForward(shape, kv, {&negative_past, 1}).code(), bad);
  if (TIDE_HAS_CUDA) {
    PagedSequence skipped{0, 0, nullptr, nullptr, nullptr};
    EXPECT_TRUE(CudaPagedAttentionForward(shape, kv, {&skipped, 1}).ok());
    EXPECT_TRUE(CudaPagedAttentionForward(shape, kv, {}).ok());
  }
}

}  // namespace
}  // namespace tide::engine
