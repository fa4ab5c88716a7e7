// Parity of CudaSoftmaxTopK against the CPU router (SoftmaxReference, TopKReference and the
// weight formula of model.h) on fresh random logits, with many ties; skips when no CUDA
// device is usable.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tide/engine/cuda/cuda_kernels.h"
#include "tide/engine/cuda/cuda_runtime.h"
#include "tide/engine/kernels/softmax_topk.h"

namespace tide::engine {
namespace {

// The router of engine/src/model_moe.cc for softmax scoring, on the CPU references.
void RouterReference(const std::vector<float>& logits, int rows, int n, int k, bool normalize,
                     float scale, std::vector<int32_t>* ids, std::vector<float>* weights) {
  std::vector<float> s(logits.size());
  SoftmaxReference(logits.data(), s.data(), rows, n);
  ids->assign(static_cast<size_t>(rows) * k, -1);
  weights->assign(static_cast<size_t>(rows) * k, 0.f);
  for (int r = 0; r < rows; ++r) {
    const float* sr = s.data() + static_cast<size_t>(r) * n;
    int32_t* id = ids->data() + static_cast<size_t>(r) * k;
    float* w = weights->data() + static_cast<size_t>(r) * k;
    TopKReference(sr, n, k, id);
    float sum = 0.f;
    for (int j = 0; j < k; ++j) sum += sr[id[j]];
    for (int j = 0; j < k; ++j) w[j] = (normalize ? sr[id[j]] / sum : sr[id[j]]) * scale;
  }
}

TEST(CudaRouterTest, MatchesCpuRouterIncludingTies) {
  std::string why;
  if (!CudaDeviceAvailable(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const struct {
    int rows, n, k;
    bool normalize;
    float scale;
  } shapes[] = {{1, 1, 1, true, 1.f},     {3, 8, 2, true, 1.f},      {17, 64, 6, false, 1.f},
                {100, 128, 8, true, 2.5f}, {7, 384, 8, true, 2.827f}, {5, 1000, 33, false, 1.f},
                {2, 8192, 4, true, 1.f},   {300, 60, 4, true, 1.f}};
  std::uniform_real_distribution<float> uniform(-4.f, 4.f);
  for (const auto& s : shapes) {
    SCOPED_TRACE("rows " + std::to_string(s.rows) + " n " + std::to_string(s.n) + " k " +
                 std::to_string(s.k));
    std::vector<float> logits(static_cast<size_t>(s.rows) * s.n);
    for (int r = 0; r < s.rows; ++r) {
      for (int i = 0; i < s.n; ++i) {
        float v = uniform(rng);
        // Every third row is coarse (many exact ties); one row is all ties.
        if (r % 3 == 1) v = std::round(v);
        if (r % 3 == 2 && r == 2) v = 0.5f;
        logits[static_cast<size_t>(r) * s.n + i] = v;
      }
    }
    std::vector<int32_t> ref_ids, ids(static_cast<size_t>(s.rows) * s.k, -7);
    std::vector<float> ref_w, w(ids.size(), std::numeric_limits<float>::quiet_NaN());
    RouterReference(logits, s.rows, s.n, s.k, s.normalize, s.scale, &ref_ids, &ref_w);
    const Status st =
        CudaSoftmaxTopK(logits.data(), s.rows, s.n, s.k, s.normalize, s.scale, ids.data(), w.data());
    ASSERT_TRUE(st.ok()) << st.ToString();
    double diff = 0.0, norm = 0.0;
    int mismatched = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      ASSERT_TRUE(std::isfinite(w[i])) << "weight " << i << " not written";
      if (ids[i] != ref_ids[i]) ++mismatched;
      const double d = static_cast<double>(w[i]) - ref_w[i];
      diff += d * d;
      norm += static_cast<double>(ref_w[i]) * ref_w[i];
    }
    const double err = std::sqrt(diff) / std::sqrt(norm);
    std::printf("[parity] CudaSoftmaxTopK rows=%d n=%d k=%d ids_mismatched=%d weights_rel_err=%.3g\n",
                s.rows, s.n, s.k, mismatched, err);
    EXPECT_EQ(mismatched, 0);
    EXPECT_EQ(ids, ref_ids);
    EXPECT_LT(err, 1e-5);
  }
}

TEST(CudaRouterTest, RejectsBadArgumentsWithoutCrashing) {
  const float x[4] = {1.f, 2.f, 3.f, 4.f};
  int32_t ids[4];
  float w[4];
  const StatusCode bad = TIDE_HAS_CUDA ? StatusCode::kInvalidArgument : StatusCode::kFailedPrecondition;
  EXPECT_EQ(CudaSoftmaxTopK(x, -1, 4, 2, true, 1.f, ids, w).code(), bad);
  EXPECT_EQ(CudaSoftmaxTopK(x, 1, 0, 1, true, 1.f, ids, w).code(), bad);
  EXPECT_EQ(CudaSoftmaxTopK(x, 1, 4, 0, true, 1.f, ids, w).code(), bad);
  EXPECT_EQ(CudaSoftmaxTopK(x, 1, 4, 5, true, 1.f, ids, w).code(), bad);
  EXPECT_EQ(CudaSoftmaxTopK(x, 1, 100000, 2, true, 1.f, ids, w).code(), bad);
  EXPECT_EQ(CudaSoftmaxTopK(nullptr, 1, 4, 2, true, 1.f, ids, w).code(), bad);
  EXPECT_EQ(CudaSoftmaxTopK(x, 1, 4, 2, true, 1.f, ids, nullptr).code(), bad);
  if (TIDE_HAS_CUDA) {
    EXPECT_TRUE(CudaSoftmaxTopK(nullptr, 0, 4, 2, true, 1.f, nullptr, nullptr).ok());
  }
}

}  // namespace
}  // namespace tide::engine
