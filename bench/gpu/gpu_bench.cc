// tide_gpu_bench: decode speed of the device-resident CudaModel on a ~1B-parameter MoE, the
// memory roofline at batch 1, and (optionally) the checkpoint a PyTorch baseline loads.
//
//   tide_gpu_bench [--batches 1,32,128] [--prompt 32] [--steps 64] [--save DIR] [--json FILE]
//                  [--layers N --hidden N ...]  (see Flags below)
//
// For each batch size: B random prompts are prefilled with CudaModel::ForwardPaged, then
// CudaModel::DecodeGreedy runs `steps` greedy steps, once as plain launches and twice as
// CUDA graph replays (each after a warm-up run; device time from CUDA events). Decode
// tokens/s = B · steps / seconds. The roofline at batch 1: the bytes one decode step must
// read (the weights a token touches: attention, router, its top-k experts, the head, one
// embedding row; plus the KV cache read at the mean context) over the measured
// device-to-device copy bandwidth. --save writes the same weights (bf16 safetensors, HF
// layout) for bench/torch_moe_decode.py.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/engine/checkpoint.h"
#include "tide/engine/cuda/cuda_model.h"
#include "tide/engine/cuda/cuda_runtime.h"
#include "tide/engine/model_config.h"
#include "tide/engine/model_weights.h"

namespace {

using namespace tide::engine;

struct Flags {
  std::vector<int> batches = {1, 32, 128};
  int prompt = 32, steps = 64;
  std::string save, json;
  bool f32 = false;
  ModelConfig config;
};

// ~1.1B parameters, Qwen3-MoE shaped: 6 layers of 32 experts (top-4, width 768), hidden 2048,
// 16 query heads over 4 kv heads of 128, vocabulary 32000.
ModelConfig BenchConfig() {
  ModelConfig c;
  c.vocab_size = 32000;
  c.hidden_size = 2048;
  c.intermediate_size = 6144;
  c.moe_intermediate_size = 768;
  c.num_hidden_layers = 6;
  c.num_attention_heads = 16;
  c.num_key_value_heads = 4;
  c.head_dim = 128;
  c.num_experts = 32;
  c.num_experts_per_tok = 4;
  c.rope_theta = 1e6f;
  c.max_position_embeddings = 4096;
  c.torch_dtype = "bfloat16";
  return c;
}

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoi(item));
  return out;
}

bool ParseFlags(int argc, char** argv, Flags* f) {
  f->config = BenchConfig();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--batches") f->batches = ParseList(next());
    else if (a == "--prompt") f->prompt = std::stoi(next());
    else if (a == "--steps") f->steps = std::stoi(next());
    else if (a == "--save") f->save = next();
    else if (a == "--json") f->json = next();
    else if (a == "--f32") f->f32 = true;
    else if (a == "--layers") f->config.num_hidden_layers = std::stoi(next());
    else if (a == "--hidden") f->config.hidden_size = std::stoi(next());
    else if (a == "--experts") f->config.num_experts = std::stoi(next());
    else if (a == "--top-k") f->config.num_experts_per_tok = std::stoi(next());
    else if (a == "--moe-inter") f->config.moe_intermediate_size = std::stoi(next());
    else if (a == "--vocab") f->config.vocab_size = std::stoi(next());
    else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return false;
    }
  }
  return true;
}

// Seeded weights, filled on every core: N(0, 0.02)-like uniform values (std 0.02) for
// matrices, 1 ± 0.1 for norms. Never zeros (they can run faster than real data).
void FillWeights(ModelWeights& w, uint64_t seed) {
  std::vector<NamedTensor> params = NamedParameters(w);
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (size_t p = t; p < params.size(); p += threads) {
        std::mt19937_64 rng(seed * 1000003 + p);
        const bool norm = params[p].kind == NamedTensor::Kind::kNorm;
        const float a = norm ? 0.1f : 0.02f * 1.7320508f;  // uniform(-a, a) has std a/sqrt(3)
        for (float& x : params[p].tensor->data) {
          const float u = static_cast<float>(rng() >> 40) * (1.0f / 16777216.0f) * 2.f - 1.f;
          x = norm ? 1.f + a * u : a * u;
        }
      }
    });
  }
  for (std::thread& th : pool) th.join();
}

// Bytes one batch-1 decode step reads at context `context` (see the header comment).
double BytesPerToken(const ModelConfig& c, int elem, int context) {
  const double h = c.hidden_size, qd = c.q_dim(), kvd = c.kv_dim();
  double params = 0;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    params += h * (qd + 2 * kvd) + qd * h;  // q, k, v, o
    if (c.IsMoeLayer(l)) {
      params += 3.0 * c.num_experts_per_tok * c.moe_intermediate_size * h;
      params += c.n_shared_experts * 3.0 * c.moe_intermediate_size * h;
    } else {
      params += 3.0 * c.intermediate_size * h;
    }
  }
  params += static_cast<double>(c.vocab_size) * h + h;  // head + one embedding row
  double bytes = params * elem;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    if (c.IsMoeLayer(l)) bytes += 4.0 * c.num_experts * h;  // f32 router
    bytes += 4.0 * (4 * h + 2 * c.head_dim);                 // f32 norms
  }
  bytes += c.num_hidden_layers * 4.0 * 2 * kvd * (context + 1);  // f32 K/V read + write
  return bytes;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Run(const Flags& f) {
  std::string why;
  if (!CudaDeviceAvailable(&why)) {
    std::fprintf(stderr, "tide_gpu_bench: no CUDA device: %s\n", why.c_str());
    return 2;
  }
  const ModelConfig& c = f.config;
  const auto t0 = std::chrono::steady_clock::now();
  ModelWeights w = ModelWeights::Allocate(c);
  FillWeights(w, 20261123);
  const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("config: %lld parameters (%lld active per token), filled in %.1f s\n",
              static_cast<long long>(c.NumParameters()), static_cast<long long>(c.NumActiveParameters()), gen_s);
  if (!f.save.empty()) {
    const tide::Status st = SaveModel(w, f.save, Dtype::kBF16);
    if (!st.ok()) {
      std::fprintf(stderr, "save: %s\n", st.ToString().c_str());
      return 1;
    }
    std::printf("saved bf16 checkpoint to %s\n", f.save.c_str());
  }
  const int max_batch = *std::max_element(f.batches.begin(), f.batches.end());
  const int positions = f.prompt + f.steps + 1;
  const int blocks_per_seq = (positions + 15) / 16;
  CudaModelOptions opt;
  opt.weights = f.f32 ? CudaWeightType::kF32 : CudaWeightType::kBf16;
  opt.kv_block_size = 16;
  opt.kv_blocks = max_batch * blocks_per_seq;
  opt.max_sequences = max_batch;
  opt.max_rows = std::max(max_batch, 2048);
  auto model = CudaModel::Create(w, opt);
  if (!model.ok()) {
    std::fprintf(stderr, "CudaModel::Create: %s\n", model.status().ToString().c_str());
    return 1;
  }
  w = ModelWeights();  // the host copy is no longer needed
  auto bw = CudaCopyBandwidth(int64_t{1} << 30, 20);
  if (!bw.ok()) {
    std::fprintf(stderr, "copy bandwidth: %s\n", bw.status().ToString().c_str());
    return 1;
  }
  const int elem = f.f32 ? 4 : 2;
  nlohmann::json out;
  out["device"] = CudaDeviceName();
  out["weights"] = f.f32 ? "f32" : "bf16";
  out["parameters"] = c.NumParameters();
  out["active_parameters"] = c.NumActiveParameters();
  out["device_weight_bytes"] = (*model)->weight_bytes();
  out["copy_bandwidth_bytes_per_s"] = *bw;
  out["prompt"] = f.prompt;
  out["steps"] = f.steps;
  out["config"] = ModelConfigToJson(c);
  std::printf("device %s, copy bandwidth %.0f GB/s (read + write)\n", CudaDeviceName().c_str(), *bw / 1e9);

  std::mt19937 rng(7);
  std::uniform_int_distribution<int> tok(0, c.vocab_size - 1);
  nlohmann::json all_prompts;
  for (int batch : f.batches) {
    std::vector<std::vector<int32_t>> prompts(batch), tables(batch);
    for (int i = 0; i < batch; ++i) {
      for (int t = 0; t < f.prompt; ++t) prompts[i].push_back(tok(rng));
      for (int b = 0; b < blocks_per_seq; ++b) tables[i].push_back(i * blocks_per_seq + b);
    }
    all_prompts[std::to_string(batch)] = prompts;
    // Prefill all but the last prompt token, in chunks of sequences that fit max_rows.
    const int per_call = std::max(1, opt.max_rows / std::max(1, f.prompt - 1));
    for (int i0 = 0; i0 < batch && f.prompt > 1; i0 += per_call) {
      std::vector<PagedSequenceInput> in;
      for (int i = i0; i < std::min(batch, i0 + per_call); ++i) {
        in.push_back({std::span(prompts[i]).subspan(0, f.prompt - 1), 0, tables[i]});
      }
      auto r = (*model)->ForwardPaged(in);
      if (!r.ok()) {
        std::fprintf(stderr, "prefill: %s\n", r.status().ToString().c_str());
        return 1;
      }
    }
    std::vector<PagedSequenceInput> decode;
    for (int i = 0; i < batch; ++i) {
      decode.push_back({std::span(prompts[i]).subspan(f.prompt - 1, 1), f.prompt - 1, tables[i]});
    }
    nlohmann::json row;
    std::vector<int32_t> first_tokens;
    for (bool graph : {false, true}) {
      std::vector<double> tps;
      for (int rep = 0; rep < 3; ++rep) {  // rep 0 is the warm-up
        auto d = (*model)->DecodeGreedy(decode, f.steps, graph);
        if (!d.ok()) {
          std::fprintf(stderr, "decode: %s\n", d.status().ToString().c_str());
          return 1;
        }
        if (rep > 0) tps.push_back(batch * f.steps / d->seconds);
        if (first_tokens.empty()) first_tokens.assign(d->tokens.begin(), d->tokens.begin() + batch);
      }
      row[graph ? "graph_tokens_per_s" : "launch_tokens_per_s"] = tps;
      row[graph ? "graph_tokens_per_s_median" : "launch_tokens_per_s_median"] = Median(tps);
    }
    row["batch"] = batch;
    row["first_step_tokens"] = first_tokens;
    if (batch == 1) {
      const double bytes = BytesPerToken(c, elem, f.prompt + f.steps / 2);
      const double roof = *bw / bytes;
      row["bytes_per_token"] = bytes;
      row["roofline_tokens_per_s"] = roof;
      row["fraction_of_roofline"] = row["graph_tokens_per_s_median"].get<double>() / roof;
    }
    std::printf("batch %4d: %9.0f tok/s with graphs, %9.0f tok/s plain launches\n", batch,
                row["graph_tokens_per_s_median"].get<double>(), row["launch_tokens_per_s_median"].get<double>());
    out["decode"].push_back(row);
  }
  // The PyTorch baseline decodes the same prompts, so first tokens can be compared.
  if (!f.save.empty()) std::ofstream(f.save + "/prompts.json") << all_prompts.dump() << "\n";
  const std::string text = out.dump(2);
  if (!f.json.empty()) std::ofstream(f.json) << text << "\n";
  std::printf("%s\n", text.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  if (!ParseFlags(argc, argv, &f)) return 2;
  return Run(f);
}
