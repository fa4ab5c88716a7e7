// Model: creation and checks, the forward pass with the KV cache, routing replay and
// expert loads, and the aux-loss-free bias update. Backward lives in model_backward.cc,
// the MLP/MoE pieces in model_moe.cc.
#include "tide/engine/model.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "model_internal.h"
#include "tide/engine/kernels/attention.h"
#include "tide/engine/kernels/rmsnorm.h"
#include "tide/engine/kernels/rope.h"

namespace tide::engine {

using model_internal::LayerActs;
using std::ptrdiff_t;

namespace {

std::string ShapeString(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

Status CheckTensor(const Tensor& t, std::vector<int64_t> dims, const std::string& name, const char* what) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  if (t.shape != dims || static_cast<int64_t>(t.data.size()) != n) {
    return InvalidArgument(std::string(what) + ": " + name + " has shape " + ShapeString(t.shape) + " (" +
                           std::to_string(t.data.size()) + " values), expected " + ShapeString(dims));
  }
  return Status::Ok();
}

Status CheckExpert(const ExpertWeights& e, int hidden, int inter, const std::string& p, const char* what) {
  TIDE_RETURN_IF_ERROR(CheckTensor(e.gate_proj, {inter, hidden}, p + "gate_proj.weight", what));
  TIDE_RETURN_IF_ERROR(CheckTensor(e.up_proj, {inter, hidden}, p + "up_proj.weight", what));
  return CheckTensor(e.down_proj, {hidden, inter}, p + "down_proj.weight", what);
}

Status CheckConfig(const ModelConfig& c) {
  auto bad = [](const std::string& m) { return InvalidArgument("model config: " + m); };
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.num_hidden_layers <= 0) {
    return bad("vocab_size, hidden_size and num_hidden_layers must be positive");
  }
  if (c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 || c.num_attention_heads % c.num_key_value_heads) {
    return bad("num_attention_heads must be a positive multiple of num_key_value_heads");
  }
  if (c.head_dim <= 0 || c.head_dim % 2) return bad("head_dim must be positive and even");
  if (!(c.rms_norm_eps >= 0.f) || !(c.rope_theta > 0.f)) return bad("rms_norm_eps or rope_theta out of range");
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    if (c.IsMoeLayer(l)) {
      if (c.num_experts <= 0 || c.num_experts_per_tok <= 0 || c.num_experts_per_tok > c.num_experts ||
          c.moe_intermediate_size <= 0 || c.n_shared_experts < 0) {
        return bad("MoE layer " + std::to_string(l) + " needs 1 <= num_experts_per_tok <= num_experts and " +
                   "moe_intermediate_size > 0");
      }
    } else if (c.intermediate_size <= 0) {
      return bad("dense layer " + std::to_string(l) + " needs intermediate_size > 0");
    }
  }
  return Status::Ok();
}

Status CheckForced(const ModelConfig& c, const RouterChoices& r, int tokens) {
  const int k = c.num_experts_per_tok;
  if (r.top_k != k || r.tokens != tokens || static_cast<int>(r.experts.size()) != c.num_hidden_layers) {
    return InvalidArgument("forced routing is for " + std::to_string(r.tokens) + " tokens, top-" +
                           std::to_string(r.top_k) + ", " + std::to_string(r.experts.size()) +
                           " layers; this forward has " + std::to_string(tokens) + " tokens, top-" +
                           std::to_string(k) + ", " + std::to_string(c.num_hidden_layers) + " layers");
  }
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::vector<int32_t>& ids = r.experts[l];
    const size_t want = c.IsMoeLayer(l) ? static_cast<size_t>(tokens) * k : 0;
    if (ids.size() != want) {
      return InvalidArgument("forced routing of layer " + std::to_string(l) + " has " + std::to_string(ids.size()) +
                             " ids, expected " + std::to_string(want));
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      const size_t t0 = i - i % k;
      bool dup = false;
      for (size_t j = t0; j < i; ++j) dup = dup || ids[j] == ids[i];
      if (ids[i] < 0 || ids[i] >= c.num_experts || dup) {
        return InvalidArgument("forced routing of layer " + std::to_string(l) + ", token " +
                               std::to_string(i / k) + ": expert " + std::to_string(ids[i]) +
                               (dup ? " repeated" : " out of range"));
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckWeightShapes(const ModelWeights& w, const char* what) {
  const ModelConfig& c = w.config;
  const int h = c.hidden_size;
  TIDE_RETURN_IF_ERROR(CheckTensor(w.embed_tokens, {c.vocab_size, h}, "model.embed_tokens.weight", what));
  if (static_cast<int>(w.layers.size()) != c.num_hidden_layers) {
    return InvalidArgument(std::string(what) + ": " + std::to_string(w.layers.size()) + " layers, config says " +
                           std::to_string(c.num_hidden_layers));
  }
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    TIDE_RETURN_IF_ERROR(CheckTensor(l.input_layernorm, {h}, p + "input_layernorm.weight", what));
    TIDE_RETURN_IF_ERROR(CheckTensor(l.q_proj, {c.q_dim(), h}, p + "self_attn.q_proj.weight", what));
    TIDE_RETURN_IF_ERROR(CheckTensor(l.k_proj, {c.kv_dim(), h}, p + "self_attn.k_proj.weight", what));
    TIDE_RETURN_IF_ERROR(CheckTensor(l.v_proj, {c.kv_dim(), h}, p + "self_attn.v_proj.weight", what));
    TIDE_RETURN_IF_ERROR(CheckTensor(l.o_proj, {h, c.q_dim()}, p + "self_attn.o_proj.weight", what));
    TIDE_RETURN_IF_ERROR(CheckTensor(l.q_norm, {c.head_dim}, p + "self_attn.q_norm.weight", what));
    TIDE_RETURN_IF_ERROR(CheckTensor(l.k_norm, {c.head_dim}, p + "self_attn.k_norm.weight", what));
    TIDE_RETURN_IF_ERROR(CheckTensor(l.post_attention_layernorm, {h}, p + "post_attention_layernorm.weight", what));
    if (c.IsMoeLayer(i)) {
      TIDE_RETURN_IF_ERROR(CheckTensor(l.router, {c.num_experts, h}, p + "mlp.gate.weight", what));
      if (c.use_expert_bias) {
        TIDE_RETURN_IF_ERROR(
            CheckTensor(l.expert_bias, {c.num_experts}, p + "mlp.gate.e_score_correction_bias", what));
      }
      if (static_cast<int>(l.experts.size()) != c.num_experts) {
        return InvalidArgument(std::string(what) + ": " + p + "mlp has " + std::to_string(l.experts.size()) +
                               " experts, config says " + std::to_string(c.num_experts));
      }
      for (int e = 0; e < c.num_experts; ++e) {
        TIDE_RETURN_IF_ERROR(CheckExpert(l.experts[e], h, c.moe_intermediate_size,
                                         p + "mlp.experts." + std::to_string(e) + ".", what));
      }
      if (c.n_shared_experts > 0) {
        TIDE_RETURN_IF_ERROR(CheckExpert(l.shared, h, c.n_shared_experts * c.moe_intermediate_size,
                                         p + "mlp.shared_experts.", what));
      }
    } else {
      TIDE_RETURN_IF_ERROR(CheckExpert(l.dense, h, c.intermediate_size, p + "mlp.", what));
    }
  }
  TIDE_RETURN_IF_ERROR(CheckTensor(w.norm, {h}, "model.norm.weight", what));
  if (!c.tie_word_embeddings) TIDE_RETURN_IF_ERROR(CheckTensor(w.lm_head, {c.vocab_size, h}, "lm_head.weight", what));
  return Status::Ok();
}

void KvCache::Clear() {
  length = 0;
  k.clear();
  v.clear();
}

void KvCache::Truncate(int new_length) {
  new_length = std::clamp(new_length, 0, length);
  if (new_length == length || k.empty()) {
    length = new_length;
    return;
  }
  const size_t kv_dim = length > 0 ? k[0].size() / static_cast<size_t>(length) : 0;
  for (auto& layer : k) layer.resize(kv_dim * new_length);
  for (auto& layer : v) layer.resize(kv_dim * new_length);
  length = new_length;
}

Model::Model(ModelWeights* borrowed) : weights_(borrowed) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Result<Model> Model::Create(ModelWeights* weights) {
  if (weights == nullptr) return InvalidArgument("Model::Create: null weights");
  TIDE_RETURN_IF_ERROR(CheckConfig(weights->config));
  TIDE_RETURN_IF_ERROR(CheckWeightShapes(*weights, "model weights"));
  return Model(weights);
}

Result<Model> Model::Create(ModelWeights weights) {
  auto owned = std::make_unique<ModelWeights>(std::move(weights));
  TIDE_ASSIGN_OR_RETURN(Model m, Create(owned.get()));
  m.owned_ = std::move(owned);
  return m;
}

Gradients Model::ZeroGradients() const { return ModelWeights::Allocate(config()); }

float Model::last_aux_loss() const { return acts_ ? static_cast<float>(acts_->aux_loss) : 0.f; }

Result<Tensor> Model::Forward(std::span<const int32_t> tokens, std::span<const int32_t> positions, KvCache* cache,
                              const ForwardOptions& options) {
  const SequenceInput one{tokens, positions, cache};
  return ForwardBatch(std::span<const SequenceInput>(&one, 1), options);
}

Result<Tensor> Model::ForwardBatch(std::span<const SequenceInput> sequences, const ForwardOptions& options) {
  Tensor logits;
  TIDE_RETURN_IF_ERROR(ForwardInto(sequences, options, &logits));
  return logits;
}

Status Model::ForwardInto(std::span<const SequenceInput> sequences, const ForwardOptions& options, Tensor* out) {
  const ModelConfig& c = config();
  const ModelWeights& w = *weights_;
  const int num_layers = c.num_hidden_layers, hidden = c.hidden_size;
  const int qd = c.q_dim(), kvd = c.kv_dim(), d = c.head_dim;
  const int heads = c.num_attention_heads, kv_heads = c.num_key_value_heads;
  const float eps = c.rms_norm_eps;
  // Check everything before touching a cache.
  if (sequences.empty()) return InvalidArgument("Forward: no sequences");
  std::vector<model_internal::Segment> segs(sequences.size());
  int n = 0, kv_rows = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    const SequenceInput& in = sequences[i];
    const std::string where = sequences.size() > 1 ? "Forward: sequence " + std::to_string(i) + ": " : "Forward: ";
    if (in.tokens.empty()) return InvalidArgument(where + "no tokens");
    for (size_t t = 0; t < in.tokens.size(); ++t) {
      if (in.tokens[t] < 0 || in.tokens[t] >= c.vocab_size) {
        return InvalidArgument(where + "token " + std::to_string(in.tokens[t]) + " at index " + std::to_string(t) +
                               " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
      }
    }
    KvCache* cache = in.cache;
    if (cache != nullptr) {
      for (size_t j = 0; j < i; ++j) {
        if (sequences[j].cache == cache) return InvalidArgument(where + "the KV cache is also given to sequence " + std::to_string(j));
      }
      const bool fresh = cache->length == 0 && cache->k.empty() && cache->v.empty();
      bool fits = fresh || (cache->length >= 0 && static_cast<int>(cache->k.size()) == num_layers &&
                            static_cast<int>(cache->v.size()) == num_layers);
      for (int l = 0; fits && !fresh && l < num_layers; ++l) {
        fits = cache->k[l].size() == static_cast<size_t>(cache->length) * kvd && cache->v[l].size() == cache->k[l].size();
      }
      if (!fits) return InvalidArgument(where + "the KV cache does not belong to this model");
    }
    if (!in.positions.empty() && in.positions.size() != in.tokens.size()) {
      return InvalidArgument(where + std::to_string(in.positions.size()) + " positions for " +
                             std::to_string(in.tokens.size()) + " tokens");
    }
    for (size_t t = 0; t < in.positions.size(); ++t) {
      if (in.positions[t] < 0) return InvalidArgument(where + "negative position at index " + std::to_string(t));
    }
    segs[i].row0 = n;
    segs[i].rows = static_cast<int>(in.tokens.size());
    segs[i].past = cache != nullptr ? cache->length : 0;
    segs[i].kv0 = kv_rows;
    n += segs[i].rows;
    kv_rows += segs[i].past + segs[i].rows;
  }
  std::vector<int32_t> ids(n), pos(n);
  for (size_t i = 0; i < sequences.size(); ++i) {
    const SequenceInput& in = sequences[i];
    for (int t = 0; t < segs[i].rows; ++t) {
      ids[segs[i].row0 + t] = in.tokens[t];
      pos[segs[i].row0 + t] = in.positions.empty() ? segs[i].past + t : in.positions[t];
    }
  }
  if (options.forced_routing != nullptr) TIDE_RETURN_IF_ERROR(CheckForced(c, *options.forced_routing, n));
  if (options.expert_load != nullptr) {
    ExpertLoad& el = *options.expert_load;
    if (el.tokens.empty()) el.tokens.resize(num_layers);
    if (static_cast<int>(el.tokens.size()) != num_layers) {
      return InvalidArgument("Forward: expert_load has " + std::to_string(el.tokens.size()) + " layers");
    }
    for (int l = 0; l < num_layers; ++l) {
      const size_t want = c.IsMoeLayer(l) ? static_cast<size_t>(c.num_experts) : 0;
      if (el.tokens[l].empty()) el.tokens[l].assign(want, 0);
      if (el.tokens[l].size() != want) return InvalidArgument("Forward: expert_load does not fit this model");
    }
  }
  const bool keep = options.keep_activations;
  // A kept forward reuses the previous one's buffers: no fresh pages every step.
  std::unique_ptr<Activations> acts;
  if (keep) {
    acts = acts_ != nullptr ? std::move(acts_) : std::make_unique<Activations>();
    acts->tokens = n;
    acts->segments = segs;
    acts->kv_rows = kv_rows;
    acts->token_ids = ids;
    acts->positions = pos;
    acts->layers.resize(num_layers);
  }
  for (const SequenceInput& in : sequences) {
    if (in.cache != nullptr && in.cache->k.empty()) {
      in.cache->k.resize(num_layers);
      in.cache->v.resize(num_layers);
    }
  }
  if (options.record_routing != nullptr) {
    *options.record_routing = RouterChoices{c.num_experts_per_tok, n, {}};
    options.record_routing->experts.resize(num_layers);
  }
  const float scale = static_cast<float>(1.0 / std::sqrt(double(d)));
  // Without caches every segment's keys are its new rows: k_all is k_new itself.
  bool cacheless = true;
  for (const SequenceInput& in : sequences) cacheless = cacheless && in.cache == nullptr;
  auto attend = [&](int l, LayerActs& la, std::vector<float>& k_new, std::vector<float>& v_new) {
    la.attn.resize(la.q.size());
    la.lse.resize(static_cast<size_t>(n) * heads);
    if (cacheless) {
      std::swap(la.k_all, k_new);
      std::swap(la.v_all, v_new);
    } else if (keep) {
      la.k_all.resize(static_cast<size_t>(kv_rows) * kvd);
      la.v_all.resize(la.k_all.size());
    }
    for (size_t i = 0; i < sequences.size(); ++i) {
      const model_internal::Segment& sg = segs[i];
      KvCache* cache = sequences[i].cache;
      const float *k_seq, *v_seq;
      if (cacheless) {
        k_seq = la.k_all.data() + static_cast<ptrdiff_t>(sg.kv0) * kvd;
        v_seq = la.v_all.data() + static_cast<ptrdiff_t>(sg.kv0) * kvd;
      } else {
        std::vector<float> one_k, one_v;  // a cacheless sequence of a mixed batch
        std::vector<float>& ck = cache != nullptr ? cache->k[l] : one_k;
        std::vector<float>& cv = cache != nullptr ? cache->v[l] : one_v;
        const ptrdiff_t r0 = static_cast<ptrdiff_t>(sg.row0) * kvd, r1 = r0 + static_cast<ptrdiff_t>(sg.rows) * kvd;
        ck.insert(ck.end(), k_new.begin() + r0, k_new.begin() + r1);
        cv.insert(cv.end(), v_new.begin() + r0, v_new.begin() + r1);
        if (keep || cache == nullptr) {
          if (!keep) {
            la.k_all.resize(static_cast<size_t>(kv_rows) * kvd);
            la.v_all.resize(la.k_all.size());
          }
          std::copy(ck.begin(), ck.end(), la.k_all.begin() + static_cast<ptrdiff_t>(sg.kv0) * kvd);
          std::copy(cv.begin(), cv.end(), la.v_all.begin() + static_cast<ptrdiff_t>(sg.kv0) * kvd);
          k_seq = la.k_all.data() + static_cast<ptrdiff_t>(sg.kv0) * kvd;
          v_seq = la.v_all.data() + static_cast<ptrdiff_t>(sg.kv0) * kvd;
        } else {
          k_seq = ck.data();
          v_seq = cv.data();
        }
      }
      const AttentionShape shape{sg.rows, sg.past, heads, kv_heads, d, scale};
      AttentionForward(shape, la.q.data() + static_cast<ptrdiff_t>(sg.row0) * qd, k_seq, v_seq,
                       la.attn.data() + static_cast<ptrdiff_t>(sg.row0) * qd,
                       la.lse.data() + static_cast<ptrdiff_t>(sg.row0) * heads);
    }
  };
  std::vector<float> h;
  const double aux_sum = model_internal::RunDecoderLayers(c, w, ids, pos, options, keep ? acts.get() : nullptr, attend, &h);
  for (size_t i = 0; i < sequences.size(); ++i) {
    if (sequences[i].cache != nullptr) sequences[i].cache->length = segs[i].past + segs[i].rows;
  }
  std::vector<float> x_final(h.size());
  RmsNorm(h.data(), w.norm.data.data(), x_final.data(), n, hidden, eps);
  Tensor local;
  Tensor& logits = keep ? acts->logits : local;
  logits.shape = {n, c.vocab_size};
  logits.data.resize(static_cast<size_t>(n) * c.vocab_size);  // every element is written below
  model_internal::LinearForward(x_final.data(), c.tie_word_embeddings ? w.embed_tokens : w.lm_head,
                                logits.data.data(), n);
  if (keep) {
    const int moe_layers = model_internal::NumMoeLayers(c);
    acts->aux_loss = moe_layers > 0 ? c.router_aux_loss_coef * aux_sum / moe_layers : 0.0;
    acts->aux_weight = 1.0;
    acts->h_final = std::move(h);
    acts->x_final = std::move(x_final);
    if (out != nullptr) *out = acts->logits;
    acts_ = std::move(acts);
  } else if (out != nullptr) {
    *out = std::move(local);
  }
  return Status::Ok();
}

Status Model::UpdateExpertBias(const ExpertLoad& loads, float gamma) {
  const ModelConfig& c = config();
  if (!c.use_expert_bias) return FailedPrecondition("UpdateExpertBias: the model has no expert bias");
  if (static_cast<int>(loads.tokens.size()) != c.num_hidden_layers) {
    return InvalidArgument("UpdateExpertBias: loads for " + std::to_string(loads.tokens.size()) +
                           " layers, model has " + std::to_string(c.num_hidden_layers));
  }
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    if (c.IsMoeLayer(l) && static_cast<int>(loads.tokens[l].size()) != c.num_experts) {
      return InvalidArgument("UpdateExpertBias: layer " + std::to_string(l) + " has " +
                             std::to_string(loads.tokens[l].size()) + " loads, expected " +
                             std::to_string(c.num_experts));
    }
  }
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    if (!c.IsMoeLayer(l)) continue;
    const std::vector<int64_t>& load = loads.tokens[l];
    double mean = 0.0;
    for (int64_t x : load) mean += static_cast<double>(x);
    mean /= c.num_experts;
    std::vector<float>& bias = weights_->layers[l].expert_bias.data;
    for (int e = 0; e < c.num_experts; ++e) {
      const double diff = static_cast<double>(load[e]) - mean;
      if (diff > 0) bias[e] -= gamma;
      if (diff < 0) bias[e] += gamma;
    }
  }
  return Status::Ok();
}

}  // namespace tide::engine
