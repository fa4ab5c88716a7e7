#include "tide/engine/model_weights.h"

#include <cmath>
#include <random>

namespace tide::engine {

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return shape.empty() ? 0 : n;
}

void Tensor::Resize(std::vector<int64_t> new_shape) {
  shape = std::move(new_shape);
  data.assign(static_cast<size_t>(numel()), 0.f);
}

namespace {

void AllocExpert(ExpertWeights& e, int hidden, int inter) {
  e.gate_proj.Resize({inter, hidden});
  e.up_proj.Resize({inter, hidden});
  e.down_proj.Resize({hidden, inter});
}

void AddExpert(std::vector<NamedTensor>& out, const std::string& prefix, ExpertWeights& e) {
  out.push_back({prefix + "gate_proj.weight", &e.gate_proj, NamedTensor::Kind::kMatrix});
  out.push_back({prefix + "up_proj.weight", &e.up_proj, NamedTensor::Kind::kMatrix});
  out.push_back({prefix + "down_proj.weight", &e.down_proj, NamedTensor::Kind::kMatrix});
}

}  // namespace

ModelWeights ModelWeights::Allocate(const ModelConfig& c) {
  ModelWeights w;
  w.config = c;
  w.embed_tokens.Resize({c.vocab_size, c.hidden_size});
  w.layers.resize(c.num_hidden_layers);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    LayerWeights& l = w.layers[i];
    l.input_layernorm.Resize({c.hidden_size});
    l.q_proj.Resize({c.q_dim(), c.hidden_size});
    l.k_proj.Resize({c.kv_dim(), c.hidden_size});
    l.v_proj.Resize({c.kv_dim(), c.hidden_size});
    l.o_proj.Resize({c.hidden_size, c.q_dim()});
    l.q_norm.Resize({c.head_dim});
    l.k_norm.Resize({c.head_dim});
    l.post_attention_layernorm.Resize({c.hidden_size});
    if (c.IsMoeLayer(i)) {
      l.router.Resize({c.num_experts, c.hidden_size});
      if (c.use_expert_bias) l.expert_bias.Resize({c.num_experts});
      l.experts.resize(c.num_experts);
      for (auto& e : l.experts) AllocExpert(e, c.hidden_size, c.moe_intermediate_size);
      if (c.n_shared_experts > 0) AllocExpert(l.shared, c.hidden_size, c.n_shared_experts * c.moe_intermediate_size);
    } else {
      AllocExpert(l.dense, c.hidden_size, c.intermediate_size);
    }
  }
  w.norm.Resize({c.hidden_size});
  if (!c.tie_word_embeddings) w.lm_head.Resize({c.vocab_size, c.hidden_size});
  return w;
}

void ModelWeights::InitRandom(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.f, 0.02f);
  for (NamedTensor& p : NamedParameters(*this)) {
    switch (p.kind) {
      case NamedTensor::Kind::kNorm:
        for (float& v : p.tensor->data) v = 1.f;
        break;
      case NamedTensor::Kind::kBias:
        for (float& v : p.tensor->data) v = 0.f;
        break;
      default:
        for (float& v : p.tensor->data) v = normal(rng);
    }
  }
}

std::vector<NamedTensor> NamedParameters(ModelWeights& w) {
  using K = NamedTensor::Kind;
  std::vector<NamedTensor> out;
  out.push_back({"model.embed_tokens.weight", &w.embed_tokens, K::kEmbedding});
  for (size_t i = 0; i < w.layers.size(); ++i) {
    LayerWeights& l = w.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.push_back({p + "input_layernorm.weight", &l.input_layernorm, K::kNorm});
    out.push_back({p + "self_attn.q_proj.weight", &l.q_proj, K::kMatrix});
    out.push_back({p + "self_attn.k_proj.weight", &l.k_proj, K::kMatrix});
    out.push_back({p + "self_attn.v_proj.weight", &l.v_proj, K::kMatrix});
    out.push_back({p + "self_attn.o_proj.weight", &l.o_proj, K::kMatrix});
    out.push_back({p + "self_attn.q_norm.weight", &l.q_norm, K::kNorm});
    out.push_back({p + "self_attn.k_norm.weight", &l.k_norm, K::kNorm});
    out.push_back({p + "post_attention_layernorm.weight", &l.post_attention_layernorm, K::kNorm});
    if (w.config.IsMoeLayer(static_cast<int>(i))) {
      out.push_back({p + "mlp.gate.weight", &l.router, K::kRouter});
      if (w.config.use_expert_bias) out.push_back({p + "mlp.gate.e_score_correction_bias", &l.expert_bias, K::kBias});
      for (size_t e = 0; e < l.experts.size(); ++e) {
        AddExpert(out, p + "mlp.experts." + std::to_string(e) + ".", l.experts[e]);
      }
      if (w.config.n_shared_experts > 0) AddExpert(out, p + "mlp.shared_experts.", l.shared);
    } else {
      AddExpert(out, p + "mlp.", l.dense);
    }
  }
  out.push_back({"model.norm.weight", &w.norm, K::kNorm});
  if (!w.config.tie_word_embeddings) out.push_back({"lm_head.weight", &w.lm_head, K::kLmHead});
  return out;
}

}  // namespace tide::engine
