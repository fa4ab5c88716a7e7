// Whole-model benchmarks of `tide bench engine`: decode at batch 1 against a memory copy
// timed in the same run (decode streams every active weight once per token), and training
// throughput (forward + backward + optimizer step).
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "tide/bench/bench.h"
#include "tide/core/status.h"

namespace tide::bench {

Status BenchDecode(const BenchOptions& options, const std::function<void(const nlohmann::json&)>& emit);
Status BenchTrain(const BenchOptions& options, const std::function<void(const nlohmann::json&)>& emit);

}  // namespace tide::bench
