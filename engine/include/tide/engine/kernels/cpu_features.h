// Run-time selection of the SIMD instruction set for CPU kernels.
//
// Every fast CPU kernel in Tide has a plain scalar reference and one or more vector paths
// compiled with GCC/Clang target attributes, so a single binary runs on any x86-64 and
// uses the widest path the CPU and OS support. DetectSimdLevel() asks the CPU once
// (__builtin_cpu_supports, which also checks that the OS saves the vector registers)
// and caches the answer; it is safe to call from any thread. On other architectures it
// returns kScalar.
#pragma once

#include <string_view>

namespace tide::engine {

// Ordered: a higher level implies every lower one is usable too.
enum class SimdLevel : int {
  kScalar = 0,  // portable C++, no intrinsics
  kAvx2 = 1,    // AVX2 + FMA (Haswell and later, Zen)
  kAvx512 = 2,  // AVX-512 F (Skylake-SP and later, Zen 4)
};

// The widest level this machine supports.
SimdLevel DetectSimdLevel();

// True when `level` can run here (level <= DetectSimdLevel()).
bool SimdLevelSupported(SimdLevel level);

// Whether the CPU has AVX-512 VNNI (vpdpbusd: u8 x s8 dot products into i32), which the
// int8 kernels use at the kAvx512 level (gemv_q8.h). Asked once and cached; false off x86.
bool CpuHasAvx512Vnni();

// "scalar", "avx2" or "avx512".
std::string_view SimdLevelName(SimdLevel level);

}  // namespace tide::engine
