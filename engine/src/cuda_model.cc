// CudaModel (tide/engine/cuda/cuda_model.h): validation and the packing of ModelWeights into
// the device layout (q/k/v fused into one matrix, experts stacked, bf16 when asked), then
// engine/cuda/device_model.cu does the work. Without CUDA every entry point reports that no
// device can be used.
#include "tide/engine/cuda/cuda_model.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "../cuda/device_model.h"
#include "tide/engine/dtype.h"

namespace tide::engine {

#if !TIDE_HAS_CUDA
namespace cuda_internal {
struct DeviceModel::Impl {};
DeviceModel::DeviceModel() = default;
DeviceModel::~DeviceModel() = default;
}  // namespace cuda_internal

Result<double> CudaCopyBandwidth(int64_t bytes, int reps) {
  if (bytes <= 0 || reps <= 0) return InvalidArgument("CudaCopyBandwidth: bytes and reps must be positive");
  return FailedPrecondition("Tide was built without CUDA (TIDE_CUDA=OFF or nvcc not found)");
}
#endif

namespace {

constexpr const char* kNoCuda = "Tide was built without CUDA (TIDE_CUDA=OFF or nvcc not found)";

// Limits of the device kernels (model_kernels.cu, paged_attention.cu).
constexpr int kMaxHeadDim = 256;
constexpr int kMaxExperts = 1024;
constexpr int kMaxTopK = 32;

// One packed host tensor: f32 values, or their bf16 bits.
struct Packed {
  std::vector<float> f32;
  std::vector<uint16_t> bf16;
  const void* data() const { return bf16.empty() ? static_cast<const void*>(f32.data()) : bf16.data(); }
};

class Packer {
 public:
  explicit Packer(bool bf16) : bf16_(bf16) {}
  // Concatenates the tensors' data (row-major, in order) into one packed tensor.
  const void* Pack(std::initializer_list<const Tensor*> parts) {
    std::vector<float> all;
    for (const Tensor* t : parts) all.insert(all.end(), t->data.begin(), t->data.end());
    return Keep(std::move(all));
  }
  const void* PackExperts(const std::vector<ExpertWeights>& experts, Tensor ExpertWeights::*which) {
    std::vector<float> all;
    for (const ExpertWeights& e : experts) all.insert(all.end(), (e.*which).data.begin(), (e.*which).data.end());
    return Keep(std::move(all));
  }
  // f32 side data (norms, router): rounded to bf16 values when the weights are, so the
  // device computes with what a CPU model on bf16-rounded weights holds.
  const float* Side(const Tensor& t) {
    std::vector<float> v = t.data;
    if (bf16_) {
      for (float& x : v) x = Bf16ToF32(F32ToBf16(x));
    }
    side_.push_back(std::move(v));
    return side_.back().data();
  }

 private:
  const void* Keep(std::vector<float> all) {
    Packed p;
    if (bf16_) {
      p.bf16.resize(all.size());
      F32ToBf16(all.data(), p.bf16.data(), all.size());
    } else {
      p.f32 = std::move(all);
    }
    packed_.push_back(std::move(p));
    return packed_.back().data();
  }
  bool bf16_;
  std::vector<Packed> packed_;  // deque-like: pointers into elements stay valid (vectors move)
  std::vector<std::vector<float>> side_;
};

}  // namespace

CudaModel::~CudaModel() = default;

int64_t CudaModel::weight_bytes() const {
#if TIDE_HAS_CUDA
  return device_ != nullptr ? device_->weight_bytes() : 0;
#else
  return 0;
#endif
}

Result<std::unique_ptr<CudaModel>> CudaModel::Create(const ModelWeights& weights, const CudaModelOptions& options) {
  const ModelConfig& c = weights.config;
  TIDE_RETURN_IF_ERROR(ValidateModelConfig(c, "CudaModel"));
  TIDE_RETURN_IF_ERROR(CheckWeightShapes(weights, "CudaModel weights"));
  auto bad = [](const std::string& m) { return InvalidArgument("CudaModel: " + m); };
  if (c.head_dim > kMaxHeadDim) return bad("head_dim must be <= 256, got " + std::to_string(c.head_dim));
  if (c.num_experts > kMaxExperts || c.num_experts_per_tok > kMaxTopK) {
    return bad("at most 1024 experts and top-32 routing, got " + std::to_string(c.num_experts) + " experts, top-" +
               std::to_string(c.num_experts_per_tok));
  }
  if (options.kv_block_size <= 0 || options.kv_blocks <= 0 || options.max_rows <= 0 || options.max_sequences <= 0 ||
      options.max_sequences > options.max_rows) {
    return bad("kv_block_size, kv_blocks, max_rows and max_sequences must be positive, max_sequences <= max_rows");
  }
#if !TIDE_HAS_CUDA
  return FailedPrecondition(kNoCuda);
#else
  const bool bf16 = options.weights == CudaWeightType::kBf16;
  cuda_internal::DeviceModelSpec spec;
  spec.vocab = c.vocab_size;
  spec.hidden = c.hidden_size;
  spec.layers = c.num_hidden_layers;
  spec.heads = c.num_attention_heads;
  spec.kv_heads = c.num_key_value_heads;
  spec.head_dim = c.head_dim;
  spec.experts = c.num_experts;
  spec.top_k = c.num_experts_per_tok;
  spec.moe_inter = c.moe_intermediate_size;
  spec.inter = c.intermediate_size;
  spec.shared_inter = c.n_shared_experts * c.moe_intermediate_size;
  spec.eps = c.rms_norm_eps;
  spec.rope_theta = c.rope_theta;
  spec.routed_scale = c.routed_scaling_factor;
  spec.softmax = c.scoring_func == ScoringFunc::kSoftmax;
  spec.normalise = c.norm_topk_prob && (spec.softmax || c.num_experts_per_tok > 1);
  spec.use_bias = c.use_expert_bias;
  spec.bf16 = bf16;
  spec.block_size = options.kv_block_size;
  spec.num_blocks = options.kv_blocks;
  spec.max_rows = options.max_rows;
  spec.max_seqs = options.max_sequences;
  bool any_moe = false;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    spec.moe_layer.push_back(c.IsMoeLayer(l) ? 1 : 0);
    any_moe = any_moe || c.IsMoeLayer(l);
  }
  if (!any_moe) {
    spec.experts = 1;  // buffers of the (unused) routed path stay tiny
    spec.top_k = 1;
  }
  if (spec.shared_inter > 0 && !any_moe) spec.shared_inter = 0;

  Packer pack(bf16);
  cuda_internal::HostWeights hw;
  hw.embed = pack.Pack({&weights.embed_tokens});
  hw.norm = pack.Side(weights.norm);
  hw.lm_head = c.tie_word_embeddings ? hw.embed : pack.Pack({&weights.lm_head});
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& lw = weights.layers[l];
    cuda_internal::HostLayer hl;
    hl.in_norm = pack.Side(lw.input_layernorm);
    hl.post_norm = pack.Side(lw.post_attention_layernorm);
    hl.q_norm = pack.Side(lw.q_norm);
    hl.k_norm = pack.Side(lw.k_norm);
    hl.qkv = pack.Pack({&lw.q_proj, &lw.k_proj, &lw.v_proj});
    hl.o = pack.Pack({&lw.o_proj});
    if (c.IsMoeLayer(l)) {
      hl.router = pack.Side(lw.router);
      if (c.use_expert_bias) hl.bias = pack.Side(lw.expert_bias);
      hl.gate = pack.PackExperts(lw.experts, &ExpertWeights::gate_proj);
      hl.up = pack.PackExperts(lw.experts, &ExpertWeights::up_proj);
      hl.down = pack.PackExperts(lw.experts, &ExpertWeights::down_proj);
      if (spec.shared_inter > 0) {
        hl.shared_gate = pack.Pack({&lw.shared.gate_proj});
        hl.shared_up = pack.Pack({&lw.shared.up_proj});
        hl.shared_down = pack.Pack({&lw.shared.down_proj});
      }
    } else {
      hl.gate = pack.Pack({&lw.dense.gate_proj});
      hl.up = pack.Pack({&lw.dense.up_proj});
      hl.down = pack.Pack({&lw.dense.down_proj});
    }
    hw.layers.push_back(hl);
  }
  std::unique_ptr<CudaModel> model(new CudaModel());
  model->config_ = c;
  model->options_ = options;
  TIDE_RETURN_IF_ERROR(cuda_internal::DeviceModel::Create(spec, hw, &model->device_));
  return model;
#endif
}

Status CudaModel::CheckSequences(std::span<const PagedSequenceInput> sequences, int extra_positions,
                                 const char* fn) const {
  const ModelConfig& c = config_;
  if (sequences.empty()) return InvalidArgument(std::string(fn) + ": no sequences");
  if (static_cast<int>(sequences.size()) > options_.max_sequences) {
    return InvalidArgument(std::string(fn) + ": " + std::to_string(sequences.size()) +
                           " sequences, the model was created for at most " + std::to_string(options_.max_sequences));
  }
  int64_t rows = 0;
  const int bs = options_.kv_block_size;
  for (size_t i = 0; i < sequences.size(); ++i) {
    const PagedSequenceInput& s = sequences[i];
    const std::string where = std::string(fn) + ": sequence " + std::to_string(i) + ": ";
    if (s.tokens.empty()) return InvalidArgument(where + "no tokens");
    if (s.past < 0) return InvalidArgument(where + "negative past");
    for (size_t t = 0; t < s.tokens.size(); ++t) {
      if (s.tokens[t] < 0 || s.tokens[t] >= c.vocab_size) {
        return InvalidArgument(where + "token " + std::to_string(s.tokens[t]) + " at index " + std::to_string(t) +
                               " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
      }
    }
    const int64_t positions = static_cast<int64_t>(s.past) + static_cast<int64_t>(s.tokens.size()) + extra_positions;
    if (static_cast<int64_t>(s.block_table.size()) * bs < positions) {
      return InvalidArgument(where + "block table covers " + std::to_string(s.block_table.size() * bs) +
                             " positions, needs " + std::to_string(positions));
    }
    for (int32_t b : s.block_table) {
      if (b < 0 || b >= options_.kv_blocks) {
        return InvalidArgument(where + "block " + std::to_string(b) + " out of range [0, " +
                               std::to_string(options_.kv_blocks) + ")");
      }
    }
    rows += static_cast<int64_t>(s.tokens.size());
  }
  if (rows > options_.max_rows) {
    return InvalidArgument(std::string(fn) + ": " + std::to_string(rows) + " tokens, the model was created for at most " +
                           std::to_string(options_.max_rows));
  }
  return Status::Ok();
}

Result<Tensor> CudaModel::ForwardPaged(std::span<const PagedSequenceInput> sequences, bool all_rows) {
  TIDE_RETURN_IF_ERROR(CheckSequences(sequences, 0, "CudaModel::ForwardPaged"));
#if !TIDE_HAS_CUDA
  (void)all_rows;
  return FailedPrecondition(kNoCuda);
#else
  std::vector<cuda_internal::DeviceSeq> seqs;
  int rows = 0;
  for (const PagedSequenceInput& s : sequences) {
    seqs.push_back({static_cast<int>(s.tokens.size()), s.past, s.tokens.data(), s.block_table.data(),
                    static_cast<int>(s.block_table.size())});
    rows += static_cast<int>(s.tokens.size());
  }
  Tensor logits;
  const int m = all_rows ? rows : static_cast<int>(sequences.size());
  logits.shape = {m, config_.vocab_size};
  logits.data.resize(static_cast<size_t>(m) * config_.vocab_size);
  TIDE_RETURN_IF_ERROR(device_->Forward(seqs.data(), static_cast<int>(seqs.size()), all_rows, logits.data.data()));
  return logits;
#endif
}

Result<CudaDecodeResult> CudaModel::DecodeGreedy(std::span<const PagedSequenceInput> sequences, int steps,
                                                 bool use_graph) {
  if (steps <= 0) return InvalidArgument("CudaModel::DecodeGreedy: steps must be positive, got " + std::to_string(steps));
  // The last step's token is chosen but never fed, so the tables need past + steps positions.
  TIDE_RETURN_IF_ERROR(CheckSequences(sequences, steps - 1, "CudaModel::DecodeGreedy"));
  for (size_t i = 0; i < sequences.size(); ++i) {
    if (sequences[i].tokens.size() != 1) {
      return InvalidArgument("CudaModel::DecodeGreedy: sequence " + std::to_string(i) + " gives " +
                             std::to_string(sequences[i].tokens.size()) + " tokens, expected 1");
    }
  }
#if !TIDE_HAS_CUDA
  (void)use_graph;
  return FailedPrecondition(kNoCuda);
#else
  const int batch = static_cast<int>(sequences.size());
  size_t stride = 0;
  for (const PagedSequenceInput& s : sequences) stride = std::max(stride, s.block_table.size());
  ++stride;  // the step after the last one looks up one position further (value unused)
  std::vector<int32_t> first(batch), tables(static_cast<size_t>(batch) * stride);
  std::vector<int> pasts(batch);
  for (int i = 0; i < batch; ++i) {
    const PagedSequenceInput& s = sequences[i];
    first[i] = s.tokens[0];
    pasts[i] = s.past;
    std::copy(s.block_table.begin(), s.block_table.end(), tables.begin() + static_cast<ptrdiff_t>(i * stride));
    // Padding repeats the last block; positions past the table are never reached.
    std::fill(tables.begin() + static_cast<ptrdiff_t>(i * stride + s.block_table.size()),
              tables.begin() + static_cast<ptrdiff_t>((i + 1) * stride), s.block_table.back());
  }
  CudaDecodeResult r;
  r.batch = batch;
  r.steps = steps;
  r.tokens.resize(static_cast<size_t>(steps) * batch);
  TIDE_RETURN_IF_ERROR(device_->DecodeGreedy(batch, first.data(), pasts.data(), tables.data(), static_cast<int>(stride),
                                             steps, use_graph, r.tokens.data(), &r.seconds));
  return r;
#endif
}

}  // namespace tide::engine
