// Model backward pass over the activations of the last kept forward, the token-weighted
// cross-entropy entry points and LossAndGrad. Semantics in model.h.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "model_internal.h"
#include "tide/engine/kernels/attention.h"
#include "tide/engine/kernels/cross_entropy.h"
#include "tide/engine/kernels/rmsnorm_backward.h"
#include "tide/engine/kernels/rope.h"
#include "tide/engine/model.h"

namespace tide::engine {

using model_internal::LayerActs;
using std::ptrdiff_t;

namespace {

void AddInto(std::vector<float>& dst, const std::vector<float>& src) {
  for (size_t i = 0; i < dst.size(); ++i) dst[i] += src[i];
}

}  // namespace

Status Model::Backward(const Tensor& dlogits, Gradients* grads) {
  if (!acts_) return FailedPrecondition("Backward: no forward with keep_activations to backpropagate");
  if (grads == nullptr) return InvalidArgument("Backward: null gradients");
  const ModelConfig& c = config();
  const ModelWeights& w = *weights_;
  const Activations& a = *acts_;
  const int n = a.tokens, hidden = c.hidden_size;
  const int qd = c.q_dim(), kvd = c.kv_dim(), d = c.head_dim;
  const int heads = c.num_attention_heads, kv_heads = c.num_key_value_heads;
  const float eps = c.rms_norm_eps;
  if (dlogits.shape != std::vector<int64_t>{n, c.vocab_size} ||
      dlogits.data.size() != static_cast<size_t>(n) * c.vocab_size) {
    return InvalidArgument("Backward: dlogits must be [" + std::to_string(n) + ", " + std::to_string(c.vocab_size) +
                           "]");
  }
  if (grads->layers.empty() && grads->embed_tokens.data.empty()) {
    *grads = ZeroGradients();
  } else {
    grads->config = c;
    TIDE_RETURN_IF_ERROR(CheckWeightShapes(*grads, "gradients"));
  }
  Gradients& g = *grads;

  // Head and final norm.
  const size_t th = static_cast<size_t>(n) * hidden;
  std::vector<float> dx(th), dh(th), tmp(th);
  const bool tied = c.tie_word_embeddings;
  model_internal::LinearBackward(a.x_final.data(), tied ? w.embed_tokens : w.lm_head, dlogits.data.data(), n,
                                 dx.data(), 0.f, tied ? &g.embed_tokens : &g.lm_head);
  RmsNormBackwardReference(a.h_final.data(), w.norm.data.data(), dx.data(), dh.data(), g.norm.data.data(), n,
                           hidden, eps);

  const int moe_layers = model_internal::NumMoeLayers(c);
  const double aux_scale =
      moe_layers > 0 ? a.aux_weight * static_cast<double>(c.router_aux_loss_coef) / moe_layers : 0.0;
  const float scale = static_cast<float>(1.0 / std::sqrt(double(d)));
  std::vector<float> dattn(static_cast<size_t>(n) * qd), dq(dattn.size()), dq_raw(dattn.size());
  std::vector<float> dk_all(static_cast<size_t>(a.kv_rows) * kvd), dv_all(dk_all.size());
  std::vector<float> dk(static_cast<size_t>(n) * kvd), dv(dk.size()), dk_raw(dk.size());
  for (int l = c.num_hidden_layers - 1; l >= 0; --l) {
    const LayerWeights& lw = w.layers[l];
    LayerWeights& lg = g.layers[l];
    const LayerActs& la = a.layers[l];
    // MLP block: dh holds dL/d(h_out) = dL/d(mlp_out) and the residual's share.
    if (c.IsMoeLayer(l)) {
      model_internal::MoeBackward(c, lw, n, la, dh.data(), aux_scale, &lg, dx.data());
    } else {
      model_internal::SwiGluMlpBackward(lw.dense, la.x2.data(), n, la.dense, dh.data(), &lg.dense, dx.data(), 0.f);
    }
    RmsNormBackwardReference(la.h_mid.data(), lw.post_attention_layernorm.data.data(), dx.data(), tmp.data(),
                             lg.post_attention_layernorm.data.data(), n, hidden, eps);
    AddInto(dh, tmp);
    // Attention block: dh is now dL/d(h_mid).
    model_internal::LinearBackward(la.attn.data(), lw.o_proj, dh.data(), n, dattn.data(), 0.f, &lg.o_proj);
    // Per sequence; the new rows' key/value gradients (prefix rows are constants) gathered.
    for (const model_internal::Segment& sg : a.segments) {
      const AttentionShape shape{sg.rows, sg.past, heads, kv_heads, d, scale};
      const ptrdiff_t q0 = static_cast<ptrdiff_t>(sg.row0) * qd, kv0 = static_cast<ptrdiff_t>(sg.kv0) * kvd;
      AttentionBackward(shape, la.q.data() + q0, la.k_all.data() + kv0, la.v_all.data() + kv0, la.attn.data() + q0,
                        la.lse.data() + static_cast<ptrdiff_t>(sg.row0) * heads, dattn.data() + q0, dq.data() + q0,
                        dk_all.data() + kv0, dv_all.data() + kv0);
      const ptrdiff_t src = kv0 + static_cast<ptrdiff_t>(sg.past) * kvd, len = static_cast<ptrdiff_t>(sg.rows) * kvd;
      std::copy_n(dk_all.begin() + src, len, dk.begin() + static_cast<ptrdiff_t>(sg.row0) * kvd);
      std::copy_n(dv_all.begin() + src, len, dv.begin() + static_cast<ptrdiff_t>(sg.row0) * kvd);
    }
    RopeBackward(dq.data(), a.positions.data(), n, heads, d, c.rope_theta);
    RopeBackward(dk.data(), a.positions.data(), n, kv_heads, d, c.rope_theta);
    RmsNormBackwardReference(la.q_raw.data(), lw.q_norm.data.data(), dq.data(), dq_raw.data(),
                             lg.q_norm.data.data(), n * heads, d, eps);
    RmsNormBackwardReference(la.k_raw.data(), lw.k_norm.data.data(), dk.data(), dk_raw.data(), lg.k_norm.data.data(),
                             n * kv_heads, d, eps);
    model_internal::LinearBackward(la.x1.data(), lw.q_proj, dq_raw.data(), n, dx.data(), 0.f, &lg.q_proj);
    model_internal::LinearBackward(la.x1.data(), lw.k_proj, dk_raw.data(), n, dx.data(), 1.f, &lg.k_proj);
    model_internal::LinearBackward(la.x1.data(), lw.v_proj, dv.data(), n, dx.data(), 1.f, &lg.v_proj);
    RmsNormBackwardReference(la.h_in.data(), lw.input_layernorm.data.data(), dx.data(), tmp.data(),
                             lg.input_layernorm.data.data(), n, hidden, eps);
    AddInto(dh, tmp);
  }
  for (int t = 0; t < n; ++t) {
    float* row = g.embed_tokens.data.data() + static_cast<ptrdiff_t>(a.token_ids[t]) * hidden;
    const float* src = dh.data() + static_cast<ptrdiff_t>(t) * hidden;
    for (int i = 0; i < hidden; ++i) row[i] += src[i];
  }
  return Status::Ok();
}

Result<float> Model::Backward(std::span<const int32_t> targets, std::span<const float> token_weights,
                              Gradients* grads, float normalizer) {
  if (!acts_) return FailedPrecondition("Backward: no forward with keep_activations to backpropagate");
  Activations& a = *acts_;
  const int n = a.tokens, vocab = config().vocab_size;
  const bool weights_fit = token_weights.empty() || static_cast<int>(token_weights.size()) == n;
  if (static_cast<int>(targets.size()) != n || !weights_fit) {
    return InvalidArgument("Backward: " + std::to_string(targets.size()) + " targets and " +
                           std::to_string(token_weights.size()) + " weights for " + std::to_string(n) + " tokens");
  }
  Tensor& dlogits = a.dlogits;
  dlogits.shape = {n, vocab};
  dlogits.data.resize(static_cast<size_t>(n) * vocab);  // CrossEntropy writes every element
  LossReport report;
  report.token_logprobs.resize(n);
  TIDE_ASSIGN_OR_RETURN(const float ce,
                        CrossEntropy(a.logits.data.data(), targets.data(),
                                              token_weights.empty() ? nullptr : token_weights.data(), n, vocab,
                                              normalizer, report.token_logprobs.data(), dlogits.data.data()));
  report.ce_loss = ce;
  report.aux_loss = static_cast<float>(a.aux_weight * a.aux_loss);
  report.loss = static_cast<float>(static_cast<double>(ce) + a.aux_weight * a.aux_loss);
  TIDE_RETURN_IF_ERROR(Backward(dlogits, grads));
  last_loss_ = std::move(report);
  return last_loss_.loss;
}

Result<float> Model::LossAndGrad(std::span<const int32_t> tokens, std::span<const int32_t> targets,
                                 std::span<const float> token_weights, Gradients* grads, const LossOptions& options) {
  if (targets.size() != tokens.size() || (!token_weights.empty() && token_weights.size() != tokens.size())) {
    return InvalidArgument("LossAndGrad: " + std::to_string(tokens.size()) + " tokens, " +
                           std::to_string(targets.size()) + " targets, " + std::to_string(token_weights.size()) +
                           " weights");
  }
  ForwardOptions fo;
  fo.keep_activations = true;
  fo.forced_routing = options.forced_routing;
  fo.record_routing = options.record_routing;
  fo.expert_load = options.expert_load;
  std::vector<SequenceInput> sequences;
  size_t offset = 0;
  for (const int32_t len : options.sequence_lengths) {
    if (len <= 0 || offset + static_cast<size_t>(len) > tokens.size()) {
      return InvalidArgument("LossAndGrad: sequence_lengths must be positive and sum to the " +
                             std::to_string(tokens.size()) + " tokens");
    }
    sequences.push_back({tokens.subspan(offset, static_cast<size_t>(len)), {}, nullptr});
    offset += static_cast<size_t>(len);
  }
  if (sequences.empty()) {
    sequences.push_back({tokens, {}, nullptr});
  } else if (offset != tokens.size()) {
    return InvalidArgument("LossAndGrad: sequence_lengths sum to " + std::to_string(offset) + ", not the " +
                           std::to_string(tokens.size()) + " tokens");
  }
  TIDE_RETURN_IF_ERROR(ForwardInto(sequences, fo, nullptr));
  acts_->aux_weight = options.aux_weight;
  return Backward(targets, token_weights, grads, options.normalizer);
}

}  // namespace tide::engine
