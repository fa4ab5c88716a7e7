// The engine benchmarks behind `tide bench engine` (engine_bench.cc).
//
// BenchEngine measures, in one run: memory copy bandwidth; Gemm against OpenBLAS sgemm
// on the same shapes (GFLOP/s and their ratio); the decode GEMV (m = 1, y = x·Wᵀ) in f32
// and bf16 weights, in GB/s of weights streamed from memory. OpenBLAS is timed in a child
// process (`tide bench engine-openblas`) whose environment lacks OPENBLAS_CORETYPE and
// OPENBLAS_L2_SIZE, which libopenblas reads when it loads, so it picks its own kernel for
// this CPU; the core it used is reported. BenchEngineOpenBlas is that child's half.
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "tide/bench/bench.h"
#include "tide/engine/kernels/gemm.h"

namespace tide::bench {

Status BenchEngine(const BenchOptions& options, const std::function<void(const nlohmann::json&)>& emit);
// Read + write bandwidth of a large memcpy split over the default thread pool, GB/s.
double CopyGbPerSecond(const BenchOptions& options);
// Median GFLOP/s of engine::Gemm (f32, the default thread pool) on one shape of random data.
double GemmF32Gflops(int m, int n, int k, engine::Trans ta, engine::Trans tb, const BenchOptions& options);

Status BenchEngineOpenBlas(const BenchOptions& options, const std::function<void(const nlohmann::json&)>& emit);

}  // namespace tide::bench
