// SeededRandom: the only source of randomness in Tide's worlds. It wraps std::mt19937_64
// (whose output sequence the C++ standard fixes) and draws bounded values with its own
// arithmetic, never with std::uniform_*_distribution or std::shuffle (whose outputs differ
// between standard libraries). So one seed yields the same world on every machine and
// every compiler.
//
// Thread safety: not thread-safe; one generator belongs to one thread (generation is
// single-threaded and fast).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace tide::env {

class SeededRandom {
 public:
  explicit SeededRandom(uint64_t seed) : gen_(seed) {}

  uint64_t Next() { return gen_(); }

  // Uniform in [0, n); n must be > 0. Rejection sampling removes the modulo bias.
  uint64_t Below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x = gen_();
    while (x >= limit) x = gen_();
    return x % n;
  }

  // Uniform in [lo, hi] (inclusive); requires lo <= hi.
  int64_t Range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
  }

  // True with probability num/den.
  bool Chance(uint64_t num, uint64_t den) { return Below(den) < num; }

  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    return items[Below(items.size())];
  }

  // Fisher-Yates with this generator's own draws.
  template <typename T>
  void Shuffle(std::vector<T>& items) {
    for (size_t i = items.size(); i > 1; --i) {
      std::swap(items[i - 1], items[Below(i)]);
    }
  }

  // `k` distinct indices from [0, n), in draw order; requires k <= n.
  std::vector<size_t> Sample(size_t n, size_t k) {
    std::vector<size_t> idx(n);
    for (size_t i = 0; i < n; ++i) idx[i] = i;
    for (size_t i = 0; i < k; ++i) std::swap(idx[i], idx[i + Below(n - i)]);
    idx.resize(k);
    return idx;
  }

 private:
  std::mt19937_64 gen_;
};

}  // namespace tide::env
