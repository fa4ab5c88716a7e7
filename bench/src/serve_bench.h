// `tide bench serve`: the inference engine serving a swarm-shaped load — many sequences
// sharing one long prefix (system prompt and tool specs) — all at once (continuous
// batching, prefix cache) against the same requests sent one after another through the
// same engine, with the KV blocks the batch held against what it would need unshared.
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "tide/bench/bench.h"
#include "tide/core/status.h"

namespace tide::bench {

Status BenchServe(const BenchOptions& options, const std::function<void(const nlohmann::json&)>& emit);

}  // namespace tide::bench
