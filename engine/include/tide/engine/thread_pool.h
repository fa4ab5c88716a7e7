// ThreadPool: a fixed set of worker threads for data-parallel kernels. ParallelFor splits
// [0, n) into contiguous chunks, runs them on the workers and the calling thread, and
// returns when all are done. The default pool has one thread per core
// (std::thread::hardware_concurrency, or TIDE_NUM_THREADS); nothing assumes a count.
// Thread safety: ParallelFor may be called from any thread; a call from inside a worker
// (nested parallelism) runs inline instead of deadlocking.
#pragma once

#include <cstdint>
#include <functional>

namespace tide::engine {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  static ThreadPool& Default();
  // The size Default() is (or would be) created with: TIDE_NUM_THREADS when it is a
  // positive integer, else std::thread::hardware_concurrency (at least 1). Read afresh on
  // every call; Default() itself reads it once.
  static int DefaultSize();
  int size() const;  // threads that run work, the caller included

  // Calls fn(begin, end) over chunks covering [0, n); chunks are at least `grain` long.
  // The range is cut into min(max(1, n / grain), size()) near-equal contiguous chunks, each
  // run exactly once; idle participants claim the next unclaimed chunk, so a late worker's
  // share is taken by the others. Runs inline (one chunk, the calling thread) when size()
  // is 1, when n < 2 * grain, when called from inside a chunk, or while another thread's call
  // is using this pool. fn must not throw: an escaping exception terminates the program.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace tide::engine
