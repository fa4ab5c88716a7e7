#include "tide/bench/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <unistd.h>

#include "attention_bench.h"
#include "engine_bench.h"
#include "model_bench.h"
#include "serve_bench.h"
#include "tide/engine/kernels/rmsnorm.h"
#include "tide/engine/served_model.h"
#include "tide/env/oracle.h"
#include "tide/orchestrator/run_manager.h"
#include "tide/orchestrator/store.h"
#include "tide/workers/engine_policy.h"

namespace tide::bench {
namespace {

using nlohmann::json;

// RMSNorm: the runtime-selected fast path against the scalar reference, per row shape.
Status BenchRmsNorm(const BenchOptions& o, const std::function<void(const json&)>& emit) {
  const std::vector<std::pair<int, int>> shapes =
      o.quick ? std::vector<std::pair<int, int>>{{16, 512}} : std::vector<std::pair<int, int>>{{1, 4096}, {64, 2048}, {512, 4096}};
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (const auto& [rows, dim] : shapes) {
    std::vector<float> x(static_cast<size_t>(rows) * dim), w(dim), out(x.size());
    for (auto& v : x) v = normal(rng);
    for (auto& v : w) v = 1.f + 0.1f * normal(rng);
    const double ref = MedianSeconds([&] { engine::RmsNormReference(x.data(), w.data(), out.data(), rows, dim, 1e-6f); },
                                     o.min_seconds);
    const double fast = MedianSeconds([&] { engine::RmsNorm(x.data(), w.data(), out.data(), rows, dim, 1e-6f); },
                                      o.min_seconds);
    const double bytes = 2.0 * sizeof(float) * x.size() + sizeof(float) * dim;
    emit({{"bench", "rmsnorm"},
          {"rows", rows},
          {"dim", dim},
          {"simd", std::string(engine::SimdLevelName(engine::DetectSimdLevel()))},
          {"fast_us", fast * 1e6},
          {"reference_us", ref * 1e6},
          {"fast_gb_s", bytes / fast / 1e9},
          {"speedup", ref / fast},
          {"baseline", "RmsNormReference (scalar, double accumulation)"}});
  }
  return Status::Ok();
}

// Swarm: one agent against a swarm on the same wide research tasks, with a real RocksDB
// store, the world's tools answering after a simulated latency as a web search would, so
// that wall time means something; medians over repeats. "single" is a coordinator allowed
// one sub-agent, which then does every item itself. An agent's tool calls of one turn run
// concurrently (Tool::Start), so a turn of 4 calls waits about one latency, for the single
// agent as for each sub-agent. With the engine policy, a run that fails (a model that
// answers badly) counts with item-F1 0 and is reported in failed_runs, instead of
// stopping the benchmark.
Status BenchSwarm(const BenchOptions& o, const std::function<void(const json&)>& emit) {
  if (o.policy != "oracle" && o.policy != "engine")
    return InvalidArgument("bench swarm: --policy must be oracle or engine, got '" + o.policy + "'");
  if (o.policy == "engine" && o.model_dir.empty()) return InvalidArgument("bench swarm: --policy engine needs --model DIR");
  if (o.tool_latency_ms < -1 || o.tool_latency_ms > orchestrator::kMaxToolLatencyMs)
    return InvalidArgument("bench swarm: --tool-latency-ms must be in [0, " + std::to_string(orchestrator::kMaxToolLatencyMs) + "]");
  if (o.items < 0 || o.items > 1000) return InvalidArgument("bench swarm: --items must be in [1, 1000]");
  // The oracle makes at most kCallsPerTurn tool calls a turn, as a model calling tools in
  // parallel would (oracle.h): unbounded, it would search all 50 entities in one turn.
  constexpr int kCallsPerTurn = 4;
  std::unique_ptr<engine::ServedModel> served;  // outlives the runs that decode on it
  orchestrator::RunManager::Options run_options;
  if (o.policy == "engine") {
    TIDE_ASSIGN_OR_RETURN(served, engine::ServedModel::Open(o.model_dir));
    run_options.policy = std::make_shared<workers::EnginePolicy>(served->engine(), workers::EnginePolicy::Options{});
  } else {
    run_options.policy = std::make_shared<env::OraclePolicy>(env::OraclePolicy::Options{kCallsPerTurn});
  }
  const auto dir = std::filesystem::temp_directory_path() / ("tide-bench-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  TIDE_ASSIGN_OR_RETURN(auto store, orchestrator::Store::Open(dir.string()));
  Status result = [&]() -> Status {
    TIDE_ASSIGN_OR_RETURN(auto runs, orchestrator::RunManager::Create(store.get(), run_options));
    const int items = o.items > 0 ? o.items : (o.quick ? 8 : 50);
    const int repeats = o.quick ? 1 : 3;
    const int latency_ms = o.tool_latency_ms >= 0 ? o.tool_latency_ms : (o.quick ? 0 : 100);
    const int wide = std::min(orchestrator::kMaxSubagentsLimit, o.quick ? 4 : std::max(1, items / 2));
    auto measure = [&](int subagents) -> Result<json> {
      std::vector<double> walls, critical, f1;
      int spawned = 0, failed = 0;
      for (int r = 0; r < repeats; ++r) {
        orchestrator::SwarmSpec spec;
        spec.items = items;
        spec.seed = 100 + r;
        spec.policy = o.policy;
        spec.max_subagents = subagents;
        spec.max_subagent_steps = 1000;  // one agent doing 50 items needs more than the default
        spec.tool_latency_ms = latency_ms;
        TIDE_ASSIGN_OR_RETURN(std::string id, runs->Start(spec));
        TIDE_ASSIGN_OR_RETURN(tide::v1::Run run, runs->Wait(id));
        if (run.state() != tide::v1::RUN_STATE_SUCCEEDED) {
          if (o.policy == "oracle") return Internal("bench run failed: " + run.result().error());
          ++failed;
        }
        walls.push_back(run.result().wall_s());
        critical.push_back(run.result().critical_steps());
        f1.push_back(run.result().item_f1());
        spawned = std::max(spawned, static_cast<int>(run.result().subagents()));
      }
      auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
      };
      return json{{"wall_s", median(walls)}, {"critical_steps", median(critical)}, {"item_f1", median(f1)},
                  {"subagents", spawned}, {"failed_runs", failed}};
    };
    TIDE_ASSIGN_OR_RETURN(json single, measure(1));
    TIDE_ASSIGN_OR_RETURN(json swarm, measure(wide));
    auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
    json line{{"bench", "swarm_wide"},
              {"items", items},
              {"policy", o.policy},
              {"tool_latency_ms", latency_ms},
              {"repeats", repeats},
              {"single", single},
              {"swarm", swarm},
              {"wall_speedup", ratio(single["wall_s"].get<double>(), swarm["wall_s"].get<double>())},
              {"critical_steps_ratio", ratio(single["critical_steps"].get<double>(), swarm["critical_steps"].get<double>())},
              {"baseline", "single: the same tasks with one sub-agent; medians over repeats"}};
    if (o.policy == "oracle") line["tool_calls_per_turn"] = kCallsPerTurn;
    else line["model"] = served->id();
    emit(line);
    return Status::Ok();
  }();
  store.reset();
  std::filesystem::remove_all(dir);
  return result;
}

}  // namespace

double MedianSeconds(const std::function<void()>& fn, double min_seconds) {
  using clock = std::chrono::steady_clock;
  fn();  // warm caches and page in buffers
  std::vector<double> samples;
  const auto start = clock::now();
  while (samples.size() < 3 || std::chrono::duration<double>(clock::now() - start).count() < min_seconds) {
    // Batch calls so one sample is long enough for the clock.
    int reps = 1;
    double t = 0;
    while (true) {
      const auto t0 = clock::now();
      for (int i = 0; i < reps; ++i) fn();
      t = std::chrono::duration<double>(clock::now() - t0).count();
      if (t > 1e-3 || reps > (1 << 20)) break;
      reps *= 4;
    }
    samples.push_back(t / reps);
    if (samples.size() > 10000) break;
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

// "engine-openblas" is also accepted: the child process `engine` starts to time OpenBLAS.
// "engine" runs "kernels" (which includes "attention"), "decode" and "train" in turn.
std::vector<std::string> BenchNames() {
  return {"rmsnorm", "swarm", "engine", "kernels", "attention", "decode", "train", "serve"};
}

Status RunBench(const std::string& name, const BenchOptions& options, const std::function<void(const json&)>& emit) {
  if (name == "rmsnorm") return BenchRmsNorm(options, emit);
  if (name == "swarm") return BenchSwarm(options, emit);
  if (name == "engine") {
    TIDE_RETURN_IF_ERROR(BenchEngine(options, emit));
    TIDE_RETURN_IF_ERROR(BenchPagedAttention(options, emit));
    TIDE_RETURN_IF_ERROR(BenchDecode(options, emit));
    return BenchTrain(options, emit);
  }
  if (name == "kernels") {
    TIDE_RETURN_IF_ERROR(BenchEngine(options, emit));
    return BenchPagedAttention(options, emit);
  }
  if (name == "attention") return BenchPagedAttention(options, emit);
  if (name == "decode") return BenchDecode(options, emit);
  if (name == "train") return BenchTrain(options, emit);
  if (name == "serve") return BenchServe(options, emit);
  if (name == "engine-openblas") return BenchEngineOpenBlas(options, emit);
  std::string known;
  for (const auto& n : BenchNames()) known += (known.empty() ? "" : ", ") + n;
  return NotFound("unknown benchmark \"" + name + "\" (known: " + known + ")");
}

}  // namespace tide::bench
