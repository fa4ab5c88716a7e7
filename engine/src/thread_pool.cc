// ThreadPool (see thread_pool.h): size() - 1 worker threads plus the calling thread.
//
// One job runs at a time. A job is published by bumping a generation counter that lives
// in the upper half of one 64-bit atomic word whose lower half is the next unclaimed
// chunk index; a participant claims a chunk with a compare-and-swap on that word, so a
// worker that wakes late can never claim a chunk of a job other than the one whose
// fields it then reads (the caller first closes the finished job's word, so that no late
// claim against it can succeed, then rewrites the fields, then publishes the next
// generation). Idle workers spin briefly (cheap hand-off between back-to-back
// kernels) and then sleep on a condition variable; the caller spins, then sleeps, while
// waiting for the last chunk.
//
// Calls that cannot use the workers run inline on the calling thread: a pool of size 1,
// a range of at most one chunk, a call from inside a chunk of any pool (nested
// parallelism), and a call while another thread's job is running on this pool.
#include "tide/engine/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tide::engine {
namespace {

// True while this thread runs a chunk of some pool's job: ParallelFor then runs inline.
thread_local bool t_in_chunk = false;

// How long an idle thread polls before it sleeps. Long enough to cover the gap between
// consecutive kernels of one forward pass, short enough not to steal a shared core.
constexpr auto kSpin = std::chrono::microseconds(50);

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

constexpr uint64_t Pack(uint32_t generation, uint32_t next) {
  return (static_cast<uint64_t>(generation) << 32) | next;
}
constexpr uint32_t GenerationOf(uint64_t word) { return static_cast<uint32_t>(word >> 32); }
constexpr uint32_t NextOf(uint64_t word) { return static_cast<uint32_t>(word); }
// The next-chunk value of a finished job whose fields are being rewritten: no chunk count
// reaches it, so no claim against it succeeds.
constexpr uint32_t kClosed = 0xFFFFFFFFu;

int SizeFromEnvironment() {
  if (const char* env = std::getenv("TIDE_NUM_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v > 0 && v <= 4096) return static_cast<int>(v);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Runs one chunk. noexcept: an exception escaping a chunk terminates the program rather
// than leaving the pool with a job that never completes.
void Invoke(const std::function<void(int64_t, int64_t)>& fn, int64_t begin, int64_t end) noexcept {
  t_in_chunk = true;
  fn(begin, end);
  t_in_chunk = false;
}

}  // namespace

struct ThreadPool::Impl {
  int threads = 1;
  std::vector<std::thread> workers;

  // The current job. Written by the caller before the generation is published.
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0;
  std::atomic<uint32_t> chunks{0};
  std::atomic<uint32_t> done{0};

  std::atomic<uint64_t> state{Pack(0, 0)};  // generation << 32 | next chunk
  std::atomic<bool> busy{false};            // a caller owns the job slot
  std::atomic<bool> stop{false};
  std::atomic<int> sleepers{0};             // workers blocked on work_cv
  std::atomic<bool> caller_sleeping{false};

  std::mutex mu;
  std::condition_variable work_cv;
  std::condition_variable done_cv;

  // Runs chunks of generation `gen` until none is left. Returns after the last claim fails.
  void RunChunks(uint32_t gen) {
    uint64_t word = state.load(std::memory_order_acquire);
    while (GenerationOf(word) == gen) {
      const uint32_t next = NextOf(word);
      if (next >= chunks.load(std::memory_order_relaxed)) return;
      if (!state.compare_exchange_weak(word, Pack(gen, next + 1), std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        continue;  // `word` was reloaded
      }
      const uint32_t total = chunks.load(std::memory_order_relaxed);
      const int64_t begin = n * next / total;
      const int64_t end = n * (next + 1) / total;
      Invoke(*fn, begin, end);
      // seq_cst pairs with the caller's store of caller_sleeping before it re-reads done.
      if (done.fetch_add(1, std::memory_order_seq_cst) + 1 == total &&
          caller_sleeping.load(std::memory_order_seq_cst)) {
        std::lock_guard<std::mutex> lock(mu);
        done_cv.notify_all();
      }
      word = state.load(std::memory_order_acquire);
    }
  }

  void WorkerLoop() {
    uint32_t seen = 0;  // workers start before the first job is published
    while (true) {
      // Wait for a new generation: spin first, then sleep.
      const auto spin_until = std::chrono::steady_clock::now() + kSpin;
      uint32_t gen = seen;
      int polls = 0;
      while ((gen = GenerationOf(state.load(std::memory_order_acquire))) == seen &&
             !stop.load(std::memory_order_relaxed)) {
        CpuRelax();
        if (++polls % 64 == 0 && std::chrono::steady_clock::now() > spin_until) {
          std::unique_lock<std::mutex> lock(mu);
          sleepers.fetch_add(1, std::memory_order_seq_cst);
          work_cv.wait(lock, [&] {
            return GenerationOf(state.load(std::memory_order_seq_cst)) != seen ||
                   stop.load(std::memory_order_seq_cst);
          });
          sleepers.fetch_sub(1, std::memory_order_relaxed);
        }
      }
      if (stop.load(std::memory_order_acquire)) return;
      seen = gen;
      RunChunks(gen);
    }
  }

  void Run(int64_t total_n, uint32_t num_chunks, const std::function<void(int64_t, int64_t)>& f) {
    // Close the previous job before its fields change: a worker that ran its last chunk
    // may still hold that job's state word (next == its chunk count) and be about to read
    // `chunks` again. If it read this job's larger count and its claim succeeded, it would
    // run a chunk under the old generation and count it done twice. Against the closed
    // word its claim fails, and the reloaded word ends its loop.
    const uint32_t previous = GenerationOf(state.load(std::memory_order_relaxed));
    state.store(Pack(previous, kClosed), std::memory_order_seq_cst);
    fn = &f;
    n = total_n;
    chunks.store(num_chunks, std::memory_order_relaxed);
    done.store(0, std::memory_order_relaxed);
    const uint32_t gen = previous + 1;
    state.store(Pack(gen, 0), std::memory_order_seq_cst);  // publishes the fields above
    if (sleepers.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(mu);
      work_cv.notify_all();
    }
    RunChunks(gen);
    // Wait for chunks other threads claimed.
    const auto spin_until = std::chrono::steady_clock::now() + kSpin;
    int polls = 0;
    while (done.load(std::memory_order_acquire) != num_chunks) {
      CpuRelax();
      if (++polls % 64 == 0 && std::chrono::steady_clock::now() > spin_until) {
        std::unique_lock<std::mutex> lock(mu);
        caller_sleeping.store(true, std::memory_order_seq_cst);
        done_cv.wait(lock, [&] { return done.load(std::memory_order_seq_cst) == num_chunks; });
        caller_sleeping.store(false, std::memory_order_relaxed);
      }
    }
  }
};

ThreadPool::ThreadPool(int threads) : impl_(new Impl) {
  impl_->threads = std::max(1, threads);
  impl_->workers.reserve(static_cast<size_t>(impl_->threads - 1));
  for (int i = 1; i < impl_->threads; ++i) {
    impl_->workers.emplace_back([impl = impl_] { impl->WorkerLoop(); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop.store(true, std::memory_order_seq_cst);
    impl_->work_cv.notify_all();
  }
  for (std::thread& t : impl_->workers) t.join();
  delete impl_;
}

ThreadPool& ThreadPool::Default() {
  // Never destroyed: kernels may run from other static destructors at exit.
  static ThreadPool* pool = new ThreadPool(DefaultSize());
  return *pool;
}

int ThreadPool::DefaultSize() { return SizeFromEnvironment(); }

int ThreadPool::size() const { return impl_->threads; }

void ThreadPool::ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  // floor(n / grain) chunks of near-equal length are each at least `grain` long. One per
  // thread: finer chunks measured slower for GEMM (smaller packed blocks, more repeated
  // set-up per chunk), and claiming is dynamic anyway, so a late thread's chunk is run
  // by another.
  const uint32_t chunks = static_cast<uint32_t>(std::clamp<int64_t>(n / grain, 1, impl_->threads));
  if (chunks <= 1 || t_in_chunk) {
    fn(0, n);
    return;
  }
  bool expected = false;
  if (!impl_->busy.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
    fn(0, n);  // another thread's job owns the workers
    return;
  }
  impl_->Run(n, chunks, fn);
  impl_->busy.store(false, std::memory_order_release);
}

}  // namespace tide::engine
