// Grouped GEMM (grouped_gemm.h): products above one thread's fair share run alone over
// the whole pool; the rest are dealt to per-thread bins, largest first onto the lightest
// bin (LPT scheduling), and each bin runs its products on one thread. Gemm called from
// inside a ParallelFor chunk runs inline (thread_pool.h), so a bin's products keep their
// thread, and Gemm's results do not depend on the split.
#include "tide/engine/kernels/grouped_gemm.h"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "tide/engine/thread_pool.h"

namespace tide::engine {
namespace {

double Flops(const GemmProblem& p) { return 2.0 * p.m * p.n * p.k; }

void RunOne(SimdLevel level, ThreadPool* pool, const GemmProblem& p) {
  GemmAt(level, pool, p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc);
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
