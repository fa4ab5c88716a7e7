#include "tide/engine/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace tide::engine {
namespace {

// Runs ParallelFor over [0, n) and checks that every index is visited exactly once, that
// chunks are contiguous, at most pool.size() of them, and at least `grain` long unless
// the whole range is shorter.
void ExpectCoversOnce(ThreadPool& pool, int64_t n, int64_t grain) {
  SCOPED_TRACE("threads " + std::to_string(pool.size()) + " n " + std::to_string(n) + " grain " +
               std::to_string(grain));
  std::vector<std::atomic<int>> hits(static_cast<size_t>(std::max<int64_t>(n, 0)));
  std::mutex mu;
  std::vector<std::pair<int64_t, int64_t>> chunks;
  pool.ParallelFor(n, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    std::lock_guard<std::mutex> lock(mu);
    chunks.emplace_back(begin, end);
  });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "index " << i;
  if (n <= 0) {
    EXPECT_TRUE(chunks.empty());
    return;
  }
  EXPECT_LE(chunks.size(), static_cast<size_t>(pool.size()));
  std::sort(chunks.begin(), chunks.end());
  EXPECT_EQ(chunks.front().first, 0);
  EXPECT_EQ(chunks.back().second, n);
  for (size_t c = 0; c < chunks.size(); ++c) {
    EXPECT_LT(chunks[c].first, chunks[c].second);
    if (c > 0) {
      EXPECT_EQ(chunks[c - 1].second, chunks[c].first);
    }
    if (n >= grain) {
      EXPECT_GE(chunks[c].second - chunks[c].first, std::max<int64_t>(grain, 1));
    }
  }
}

TEST(ThreadPoolTest, CoversEveryIndexOnceForEveryThreadCount) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 3, 7, 100, 1000, 100003}) {
      for (int64_t grain : {0, 1, 7, 1000}) ExpectCoversOnce(pool, n, grain);
    }
  }
}

TEST(ThreadPoolTest, NonPositiveSizeMeansTheCallerAlone) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 1);
  ExpectCoversOnce(pool, 50, 1);
}

TEST(ThreadPoolTest, UsesTheWorkers) {
  ThreadPool pool(3);
  // Each chunk waits until all three have started, so this finishes only if three
  // threads run chunks at the same time.
  std::atomic<int> started{0};
  std::mutex mu;
  std::set<std::thread::id> ids;
  pool.ParallelFor(3, 1, [&](int64_t, int64_t) {
    started.fetch_add(1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (started.load() < 3 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    std::lock_guard<std::mutex> lock(mu);
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(started.load(), 3);
  EXPECT_EQ(ids.size(), 3u);
}

TEST(ThreadPoolTest, NestedCallsRunInline) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    constexpr int kOuter = 6, kInner = 50;
    std::vector<std::atomic<int>> hits(kOuter * kInner);
    pool.ParallelFor(kOuter, 1, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const std::thread::id outer_thread = std::this_thread::get_id();
        pool.ParallelFor(kInner, 1, [&](int64_t ib, int64_t ie) {
          EXPECT_EQ(std::this_thread::get_id(), outer_thread);  // inline on the same thread
          EXPECT_EQ(ib, 0);
          EXPECT_EQ(ie, kInner);
          for (int64_t i = ib; i < ie; ++i) hits[static_cast<size_t>(o * kInner + i)].fetch_add(1);
        });
      }
    });
    for (const auto& h : hits) EXPECT_EQ(h.load(), 1);
  }
}

TEST(ThreadPoolTest, ConcurrentCallersFromManyThreads) {
  ThreadPool pool(3);
  constexpr int kCallers = 4, kCalls = 300, kN = 257;
  std::atomic<int64_t> total{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&] {
      for (int c = 0; c < kCalls; ++c) {
        std::vector<int> hits(kN, 0);  // chunks are disjoint: plain ints suffice
        pool.ParallelFor(kN, 1, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i)];
        });
        int sum = 0;
        for (int h : hits) sum += h;
        total.fetch_add(sum);
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), int64_t{kCallers} * kCalls * kN);
}

TEST(ThreadPoolTest, ManyBackToBackCallsAndCallsAfterIdleSleep) {
  ThreadPool pool(3);
  int64_t sum = 0;
  for (int c = 0; c < 20000; ++c) {  // workers spinning: hand-off without sleeping
    std::atomic<int64_t> s{0};
    pool.ParallelFor(9, 1, [&](int64_t b, int64_t e) { s.fetch_add(e - b); });
    sum += s.load();
  }
  EXPECT_EQ(sum, 20000 * 9);
  for (int c = 0; c < 20; ++c) {  // workers asleep on the condition variable
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::atomic<int64_t> s{0};
    pool.ParallelFor(1000, 1, [&](int64_t b, int64_t e) { s.fetch_add(e - b); });
    EXPECT_EQ(s.load(), 1000);
  }
}

TEST(ThreadPoolTest, BackToBackJobsOfDifferentChunkCountsRunEachChunkOnce) {
  // A worker that finishes the last chunk of one job must not claim a chunk of the next
  // job, whose chunk count may be larger, before that job is published: it would run with
  // the old generation's bookkeeping, and the caller's count of finished chunks would
  // overshoot (seen as a hang on a 16-core machine). Chunk counts here change every call.
  ThreadPool pool(8);
  std::vector<std::atomic<int>> hits(64);
  for (int c = 0; c < 30000; ++c) {
    const int64_t n = 2 + (c * 7) % 15;  // 2 .. 16 indices: 2 .. 8 chunks
    for (int64_t i = 0; i < n; ++i) hits[static_cast<size_t>(i)].store(0, std::memory_order_relaxed);
    pool.ParallelFor(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1, std::memory_order_relaxed);
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "call " << c << " index " << i;
  }
}

TEST(ThreadPoolTest, DestroysIdleAndSleepingPools) {
  for (int i = 0; i < 20; ++i) {
    ThreadPool pool(1 + i % 4);
    if (i % 2 == 0) pool.ParallelFor(10, 1, [](int64_t, int64_t) {});
    if (i % 5 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

TEST(ThreadPoolTest, DefaultSizeReadsTheEnvironment) {
  const char* saved = std::getenv("TIDE_NUM_THREADS");
  const std::string saved_value = saved != nullptr ? saved : "";
  setenv("TIDE_NUM_THREADS", "3", 1);
  EXPECT_EQ(ThreadPool::DefaultSize(), 3);
  for (const char* bad : {"0", "-2", "abc", "4x", ""}) {
    setenv("TIDE_NUM_THREADS", bad, 1);
    EXPECT_EQ(ThreadPool::DefaultSize(), std::max(1u, std::thread::hardware_concurrency())) << bad;
  }
  if (saved != nullptr) {
    setenv("TIDE_NUM_THREADS", saved_value.c_str(), 1);
  } else {
    unsetenv("TIDE_NUM_THREADS");
  }
  EXPECT_GE(ThreadPool::Default().size(), 1);
  EXPECT_EQ(&ThreadPool::Default(), &ThreadPool::Default());
}

}  // namespace
}  // namespace tide::engine
