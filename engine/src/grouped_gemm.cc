// Grouped GEMM (grouped_gemm.h). Two schedules, both in one parallel region:
//  - Products of a few rows (decode: one token's experts) are memory bound, and there are
//    too few of them to deal whole to threads without leaving one idle. Every product is
//    cut into column blocks and each thread takes an equal share of the total weight
//    bytes, as if the products were one wide matrix.
//  - Otherwise products above one thread's fair share run alone over the whole pool; the
//    rest are dealt to per-thread bins, largest first onto the lightest bin (LPT
//    scheduling), and each bin runs its products on one thread.
// Gemm called from inside a ParallelFor chunk runs inline (thread_pool.h), so a bin's
// products keep their thread. Gemm computes each element of C from its row of op(A) and
// column of op(B) alone, so results do not depend on the split.
#include "tide/engine/kernels/grouped_gemm.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

double Flops(const GemmProblem& p) { return 2.0 * p.m * p.n * p.k; }

void RunOne(SimdLevel level, ThreadPool* pool, const GemmProblem& p) {
  GemmAt(level, pool, p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc);
}

// Products with at most this many rows stream their weights once: cost ~ n * k.
constexpr int kFewRows = 4;
// Below this many bytes of weights in all, one thread does the whole group.
constexpr double kSplitBytes = 32 * 1024;
// Column blocks start at multiples of this, so the SIMD kernels see whole column groups.
constexpr int kColumnAlign = 16;

// The product restricted to columns [j0, j1) of C.
GemmProblem Columns(const GemmProblem& p, int j0, int j1) {
  GemmProblem q = p;
  q.n = j1 - j0;
  q.b = p.tb == Trans::kNo ? p.b + j0 : p.b + static_cast<std::ptrdiff_t>(j0) * p.ldb;
  q.c = p.c + j0;
  return q;
}

// Position (product, column) where the cumulative cost `target` falls, the column rounded
// down to kColumnAlign. A product's cost is k per column; `starts[i]` is where product i's
// begins.
std::pair<size_t, int> CutAt(std::span<const GemmProblem> problems, const std::vector<double>& starts,
                             double target) {
  size_t i = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), target) - starts.begin());
  i = i == 0 ? 0 : i - 1;
  const GemmProblem& p = problems[i];
  const double col = (target - starts[i]) / std::max(1, p.k);
  const int aligned = static_cast<int>(std::min<double>(col, p.n)) / kColumnAlign * kColumnAlign;
  return {i, aligned};
}

// Cuts every product into column blocks so that each of the pool's threads streams an
// equal share of the weights. Returns false (nothing done) when the group is too small.
bool RunColumnSplit(SimdLevel level, ThreadPool& tp, std::span<const GemmProblem> problems) {
  std::vector<double> starts(problems.size());
  double total = 0;
  for (size_t i = 0; i < problems.size(); ++i) {
    starts[i] = total;
    if (problems[i].m > 0) total += static_cast<double>(problems[i].n) * problems[i].k;
  }
  if (total * sizeof(float) < kSplitBytes) return false;
  const int threads = tp.size();
  const std::pair<size_t, int> end_of_all{problems.size(), 0};
  tp.ParallelFor(threads, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      auto [pi, pj] = CutAt(problems, starts, total * static_cast<double>(t) / threads);
      const auto [ei, ej] =
          t + 1 == threads ? end_of_all : CutAt(problems, starts, total * static_cast<double>(t + 1) / threads);
      for (; pi < ei || (pi == ei && pj < ej); ++pi, pj = 0) {
        const GemmProblem& p = problems[pi];
        const int end = pi == ei ? ej : p.n;
        if (p.m > 0 && end > pj) RunOne(level, &tp, Columns(p, pj, end));
      }
    }
  });
  return true;
}

}  // namespace

void GroupedGemmReference(std::span<const GemmProblem> problems) {
  for (const GemmProblem& p : problems) {
    GemmReference(p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc);
  }
}

void GroupedGemmAt(SimdLevel level, ThreadPool* pool, std::span<const GemmProblem> problems) {
  ThreadPool& tp = pool != nullptr ? *pool : ThreadPool::Default();
  const int threads = tp.size();
  double total = 0;
  for (const GemmProblem& p : problems) total += Flops(p);
  if (threads <= 1 || problems.size() <= 1) {
    for (const GemmProblem& p : problems) RunOne(level, &tp, p);
    return;
  }
  const bool few_rows = std::all_of(problems.begin(), problems.end(),
                                    [](const GemmProblem& p) { return p.m <= kFewRows; });
  if (few_rows && RunColumnSplit(level, tp, problems)) return;
  // Too big for a bin: alone, over all threads.
  const double share = total / threads;
  std::vector<size_t> order;
  for (size_t i = 0; i < problems.size(); ++i) {
    if (Flops(problems[i]) > share) {
      RunOne(level, &tp, problems[i]);
    } else if (problems[i].m > 0 && problems[i].n > 0) {
      order.push_back(i);
    }
  }
  if (order.empty()) return;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return Flops(problems[a]) > Flops(problems[b]); });
  std::vector<std::vector<size_t>> bins(threads);
  std::vector<double> load(threads, 0.0);
  for (size_t i : order) {
    const int lightest = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    bins[lightest].push_back(i);
    load[lightest] += Flops(problems[i]);
  }
  tp.ParallelFor(threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      for (size_t i : bins[b]) RunOne(level, &tp, problems[i]);
    }
  });
}

void GroupedGemm(std::span<const GemmProblem> problems) { GroupedGemmAt(DetectSimdLevel(), nullptr, problems); }

}  // namespace tide::engine
