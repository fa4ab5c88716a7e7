// Benchmarks behind `tide bench <name> --json`. Each prints one JSON object per line, with
// speeds as ratios measured in the same run (fast vs reference, parallel vs serial), the
// baseline named in the object. Benchmarks are for measuring, never for pass/fail tests.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"

namespace tide::bench {

struct BenchOptions {
  double min_seconds = 0.5;  // time spent per measured variant
  bool quick = false;        // smaller shapes, for smoke tests
  // decode/train: a model config.json to measure instead of configs/models/swarm-s.json.
  std::string model_config;
  // swarm: the policy every agent decodes with, "oracle" (the env's teacher) or "engine"
  // (the model folder model_dir, in process); the world tools' simulated latency (-1: 100 ms,
  // 0 with quick); wide-task items (0: 50, 8 with quick).
  std::string policy = "oracle";
  std::string model_dir;
  int tool_latency_ms = -1;
  int items = 0;
};

// The benchmark names `tide bench` accepts.
std::vector<std::string> BenchNames();

// Runs one benchmark, calling `emit` with each result line. NOT_FOUND for an unknown name.
Status RunBench(const std::string& name, const BenchOptions& options,
                const std::function<void(const nlohmann::json&)>& emit);

// Median seconds per call of `fn`, repeated until `min_seconds` have passed (at least 3 runs).
double MedianSeconds(const std::function<void()>& fn, double min_seconds);

}  // namespace tide::bench
