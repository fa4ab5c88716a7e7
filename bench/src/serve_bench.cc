#include "serve_bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "engine_bench.h"
#include "tide/engine/inference_engine.h"
#include "tide/engine/model.h"
#include "tide/engine/tokenizer.h"

namespace tide::bench {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// FLOPs of one request's forward work, the same however requests are batched: the prefill
// of prompt positions [cached, prompt) and the decode of the gen - 1 tokens fed back. Weights
// cost 2 FLOPs each per row (the LM head only on the gen rows that yield a token); attention
// costs QKᵀ plus P·V, 2 · 2 · q_dim FLOPs per key per layer, over keys 0..position.
double RequestFlops(const engine::ModelConfig& c, int64_t cached, int64_t prompt, int64_t gen) {
  const double head = static_cast<double>(c.vocab_size) * c.hidden_size;
  const double body = static_cast<double>(c.NumActiveParameters()) - head - c.hidden_size;  // less one embedding row
  const int64_t rows = (prompt - cached) + (gen - 1);
  double keys = 0;  // Σ over fed rows of the keys each attends to
  for (int64_t pos = cached; pos < prompt + gen - 1; ++pos) keys += static_cast<double>(pos + 1);
  return 2.0 * body * static_cast<double>(rows) + 2.0 * head * static_cast<double>(gen) +
         4.0 * c.q_dim() * c.num_hidden_layers * keys;
}

}  // namespace

Status BenchServe(const BenchOptions& o, const std::function<void(const json&)>& emit) {
  const std::string name = o.model_config.empty() ? (o.quick ? "tiny" : "swarm-s")
                                                  : std::filesystem::path(o.model_config).stem().string();
  const std::string path = o.model_config.empty() ? std::string(TIDE_SOURCE_DIR) + "/configs/models/" + name + ".json"
                                                  : o.model_config;
  TIDE_ASSIGN_OR_RETURN(engine::ModelConfig config, engine::LoadModelConfig(path));
  const int sequences = o.quick ? 8 : 100, prefix = o.quick ? 64 : 1000, unique = o.quick ? 8 : 64,
            gen = o.quick ? 8 : 128;
  config.max_position_embeddings = std::max(config.max_position_embeddings, prefix + unique + gen + 1);
  engine::ModelWeights weights = engine::ModelWeights::Allocate(config);
  weights.InitRandom(1);
  TIDE_ASSIGN_OR_RETURN(engine::Model model, engine::Model::Create(&weights));
  // Byte-level tokens are enough to stream text; the model's larger vocabulary still costs
  // its full LM head every step.
  const engine::Tokenizer tokenizer = engine::ByteLevelTokenizer();
  engine::InferenceEngine::Options eo;
  eo.max_running = 128;
  eo.block_size = 16;
  const int blocks_per_seq = (prefix + unique + gen + eo.block_size - 1) / eo.block_size;
  eo.kv_blocks = sequences * blocks_per_seq + 64;  // room for the unshared batch too
  TIDE_ASSIGN_OR_RETURN(auto server, engine::InferenceEngine::Create(&model, &tokenizer, eo));

  std::mt19937 rng(7);
  std::vector<int32_t> shared(prefix);
  for (int32_t& t : shared) t = static_cast<int32_t>(rng() % 256);
  std::vector<engine::GenerateRequest> requests(sequences);
  for (int i = 0; i < sequences; ++i) {
    requests[i].prompt = shared;
    for (int j = 0; j < unique; ++j) requests[i].prompt.push_back(static_cast<int32_t>(rng() % 256));
    requests[i].params.sampling.temperature = 0.8f;
    requests[i].params.seed = static_cast<uint64_t>(i);
    requests[i].params.max_tokens = gen;
  }
  // Warm the prefix cache with the shared prefix once, as a running swarm has it.
  {
    engine::GenerateRequest warm = requests[0];
    warm.params.max_tokens = 1;
    TIDE_RETURN_IF_ERROR(server->Generate(warm).status());
  }

  // Batched: every request at once.
  const engine::InferenceEngine::Stats before = server->stats();
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  int64_t generated = 0;
  std::vector<double> ttft(sequences, -1);
  const auto start = Clock::now();
  for (int i = 0; i < sequences; ++i) {
    TIDE_RETURN_IF_ERROR(server->Submit(requests[i], [&, i](const engine::GenerationUpdate& u) {
      std::lock_guard lock(mu);
      if (ttft[i] < 0 && !u.tokens.empty()) ttft[i] = std::chrono::duration<double>(Clock::now() - start).count();
      generated += static_cast<int64_t>(u.tokens.size());
      if (u.finished) {
        ++finished;
        cv.notify_all();
      }
    }).status());
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return finished == sequences; });
  }
  const double batched_s = std::chrono::duration<double>(Clock::now() - start).count();
  const int64_t batched_tokens = generated;
  // The warm-up held one sequence's blocks at most; the batch's peak is far above it.
  const engine::InferenceEngine::Stats after = server->stats();
  const int peak_used = after.kv_peak_used;
  const int64_t cached_per_request = (after.cached_tokens - before.cached_tokens) / sequences;
  double workload_flops = 0;
  for (const auto& r : requests)
    workload_flops += RequestFlops(config, cached_per_request, static_cast<int64_t>(r.prompt.size()), gen);

  // Sequential: the same requests one after another, same engine, prefix cache on.
  int64_t seq_tokens = 0;
  const auto seq_start = Clock::now();
  for (const auto& r : requests) {
    TIDE_ASSIGN_OR_RETURN(engine::GenerationResult res, server->Generate(r));
    seq_tokens += res.completion_tokens;
  }
  const double sequential_s = std::chrono::duration<double>(Clock::now() - seq_start).count();

  // What batching could give at most: the whole workload at the machine's f32 GEMM rate
  // (a large square product of the engine's own GEMM, measured now) against the sequential
  // run's rate. Batching adds no FLOPs, so the batched run cannot beat the GEMM rate.
  const double peak_gflops = GemmF32Gflops(1024, 1024, 1024, engine::Trans::kNo, engine::Trans::kNo, o);
  const int unshared = sequences * blocks_per_seq;
  const double batched_tps = static_cast<double>(batched_tokens) / batched_s;
  const double sequential_tps = static_cast<double>(seq_tokens) / sequential_s;
  emit({{"bench", "serve_shared_prefix"},
        {"config", name},
        {"sequences", sequences},
        {"prefix_tokens", prefix},
        {"unique_tokens", unique},
        {"gen_tokens", gen},
        {"batched_tokens_per_s", batched_tps},
        {"sequential_tokens_per_s", sequential_tps},
        {"speedup", batched_tps / sequential_tps},
        {"kv_blocks_shared", peak_used},
        {"kv_blocks_unshared", unshared},
        {"kv_ratio", static_cast<double>(peak_used) / unshared},
        {"ttft_p50_ms", 1e3 * Percentile(ttft, 0.5)},
        {"ttft_p99_ms", 1e3 * Percentile(ttft, 0.99)},
        {"workload_gflop", workload_flops / 1e9},
        {"batched_gflops", workload_flops / batched_s / 1e9},
        {"sequential_gflops", workload_flops / sequential_s / 1e9},
        {"gemm_peak_gflops", peak_gflops},
        {"speedup_ceiling", peak_gflops / (workload_flops / sequential_s / 1e9)},
        {"speedup_ceiling_is", "gemm_peak_gflops / sequential_gflops: batched at the f32 GEMM peak"},
        {"block_size", eo.block_size},
        {"kv_blocks_shared_is", "peak blocks referenced at once during the batched run"},
        {"kv_blocks_unshared_is", "sequences x blocks of prompt + gen_tokens"},
        {"baseline", "the same requests one after another through the same engine, prefix cache on"}});
  return Status::Ok();
}

}  // namespace tide::bench
