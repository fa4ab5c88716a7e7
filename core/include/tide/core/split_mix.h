// SplitMix64's finaliser: a fast, well-mixed 64-bit hash of a 64-bit value, for deriving
// independent seeds (per step, per rollout, per record) from one seed. Pure; constexpr.
#pragma once

#include <cstdint>

namespace tide {

constexpr uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace tide
