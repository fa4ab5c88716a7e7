#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine {
namespace {

SimdLevel Probe() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return SimdLevel::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::kAvx2;
#endif
  return SimdLevel::kScalar;
}

}  // namespace

SimdLevel DetectSimdLevel() {
  static const SimdLevel level = Probe();  // thread-safe one-time initialisation
  return level;
}

bool SimdLevelSupported(SimdLevel level) {
  return static_cast<int>(level) <= static_cast<int>(DetectSimdLevel());
}

bool CpuHasAvx512Vnni() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool vnni = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
  }();
  return vnni;
#else
  return false;
#endif
}

std::string_view SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar: return "scalar";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kAvx512: return "avx512";
  }
  return "unknown";
}

}  // namespace tide::engine
