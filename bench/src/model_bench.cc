#include "model_bench.h"

#include "engine_bench.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "tide/engine/model.h"
#include "tide/engine/optimizer.h"

namespace tide::bench {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

Result<engine::ModelConfig> BenchConfig(const BenchOptions& o, std::string* name) {
  if (!o.model_config.empty()) {
    *name = std::filesystem::path(o.model_config).stem().string();
    return engine::LoadModelConfig(o.model_config);
  }
  *name = o.quick ? "tiny" : "swarm-s";
  // Benchmarks run from a checkout: the configs sit beside the sources.
  const std::string path = std::string(TIDE_SOURCE_DIR) + "/configs/models/" + *name + ".json";
  return engine::LoadModelConfig(path);
}

double Seconds(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

}  // namespace

Status BenchDecode(const BenchOptions& o, const std::function<void(const json&)>& emit) {
  std::string name;
  TIDE_ASSIGN_OR_RETURN(engine::ModelConfig config, BenchConfig(o, &name));
  engine::ModelWeights weights = engine::ModelWeights::Allocate(config);
  weights.InitRandom(1);
  TIDE_ASSIGN_OR_RETURN(engine::Model model, engine::Model::Create(&weights));
  std::mt19937 rng(2);
  std::vector<int32_t> prompt(32);
  for (int32_t& t : prompt) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(config.vocab_size));
  const int steps = o.quick ? 8 : 64;
  // Rounds of (memory copy, decode steps) back to back, the ratio taken per round and its
  // median reported: on a shared host the machine's speed drifts between seconds, and a
  // ratio of two measurements made far apart measures the drift.
  const int rounds = o.quick ? 1 : 7;
  BenchOptions copy_options = o;
  copy_options.min_seconds = o.min_seconds / rounds;
  // Weights are f32 masters today: each token reads every active parameter once.
  const double weight_bytes = 4.0 * static_cast<double>(config.NumActiveParameters());
  std::vector<double> ratios, rates, copies;
  for (int round = 0; round < rounds; ++round) {
    const double copy = CopyGbPerSecond(copy_options);
    engine::KvCache cache;
    TIDE_ASSIGN_OR_RETURN(engine::Tensor logits, model.Forward(prompt, &cache));
    int32_t next = 0;
    // Untimed steps first: the copy left the caches cold, and decode runs warm.
    const int warm = o.quick ? 0 : 8;
    auto start = Clock::now();
    for (int i = 0; i < warm + steps; ++i) {
      if (i == warm) start = Clock::now();
      const std::vector<int32_t> one = {next};
      TIDE_ASSIGN_OR_RETURN(logits, model.Forward(one, &cache));
      next = static_cast<int32_t>(std::max_element(logits.data.begin(), logits.data.end()) - logits.data.begin());
    }
    const double tokens_per_s = steps / Seconds(start);
    rates.push_back(tokens_per_s);
    copies.push_back(copy);
    ratios.push_back(weight_bytes * tokens_per_s / 1e9 / copy);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double tokens_per_s = median(rates), copy = median(copies);
  emit({{"bench", "decode"},
        {"config", name},
        {"batch", 1},
        {"tokens_per_s", tokens_per_s},
        {"weight_gbps", weight_bytes * tokens_per_s / 1e9},
        {"copy_gbps", copy},
        {"ratio", median(ratios)},
        {"ratio_min", *std::min_element(ratios.begin(), ratios.end())},
        {"ratio_max", *std::max_element(ratios.begin(), ratios.end())},
        {"rounds", rounds},
        {"weights_dtype", "f32"},
        {"baseline", "memcpy over the thread pool (read + write), timed just before each round of decode "
                     "steps; ratio is the median over rounds, the others medians too"}});
  return Status::Ok();
}

Status BenchTrain(const BenchOptions& o, const std::function<void(const json&)>& emit) {
  std::string name;
  TIDE_ASSIGN_OR_RETURN(engine::ModelConfig config, BenchConfig(o, &name));
  engine::ModelWeights weights = engine::ModelWeights::Allocate(config);
  weights.InitRandom(1);
  TIDE_ASSIGN_OR_RETURN(engine::Model model, engine::Model::Create(&weights));
  engine::OptimizerConfig oc;
  engine::Optimizer opt(oc, &weights);
  // One optimizer step over `windows` sequences packed `per_forward` to a forward, as
  // TrainLm runs a recipe (configs/train/swarm-s.json uses the same shape).
  const int seq = o.quick ? 32 : 512, steps = o.quick ? 2 : 2, windows = o.quick ? 2 : 16;
  const int per_forward = o.quick ? 2 : 8;
  std::mt19937 rng(3);
  std::vector<int32_t> tokens(static_cast<size_t>(seq) * per_forward + 1);
  const std::vector<int32_t> lengths(per_forward, seq);
  double optimizer_s = 0;
  engine::Gradients grads = model.ZeroGradients();
  auto one_step = [&]() -> Status {
    for (engine::NamedTensor& p : engine::NamedParameters(grads)) std::fill(p.tensor->data.begin(), p.tensor->data.end(), 0.f);
    for (int w = 0; w < windows; w += per_forward) {
      for (int32_t& t : tokens) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(config.vocab_size));
      std::span<const int32_t> all(tokens);
      engine::LossOptions lo;
      lo.sequence_lengths = lengths;
      TIDE_ASSIGN_OR_RETURN(float loss, model.LossAndGrad(all.first(tokens.size() - 1), all.subspan(1), {}, &grads, lo));
      (void)loss;
    }
    const auto t0 = Clock::now();
    Status s = opt.Step(grads);
    optimizer_s += Seconds(t0);
    return s;
  };
  TIDE_RETURN_IF_ERROR(one_step());  // warm-up
  optimizer_s = 0;
  const auto start = Clock::now();
  for (int i = 0; i < steps; ++i) TIDE_RETURN_IF_ERROR(one_step());
  const double seconds = Seconds(start);
  const double tokens_per_s = static_cast<double>(seq) * windows * steps / seconds;
  emit({{"bench", "train"},
        {"config", name},
        {"seq_len", seq},
        {"tokens_per_step", seq * windows},
        {"tokens_per_forward", seq * per_forward},
        {"optimizer_share", optimizer_s / seconds},
        {"tokens_per_s", tokens_per_s},
        {"gflops", 6.0 * static_cast<double>(config.NumActiveParameters()) * tokens_per_s / 1e9},
        {"flops_formula", "6 * active_params * tokens (attention not counted)"},
        {"optimizer", "muon"}});
  return Status::Ok();
}

}  // namespace tide::bench
