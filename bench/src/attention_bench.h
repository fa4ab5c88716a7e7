// `tide bench attention`: the paged attention forward of one swarm decode step, with the
// sequences' shared prompt in shared blocks (as the prefix cache leaves it) against the
// same step with every sequence's blocks its own, timed in one run. Both compute the same
// outputs bit for bit; the shared layout lets the kernel read each shared key tile once
// per group of sequences (paged_attention.h).
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "tide/bench/bench.h"

namespace tide::bench {

Status BenchPagedAttention(const BenchOptions& options, const std::function<void(const nlohmann::json&)>& emit);

}  // namespace tide::bench
