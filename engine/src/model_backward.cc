// Model backward pass over the activations of the last kept forward, the token-weighted
// cross-entropy entry points and LossAndGrad. Semantics in model.h.
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
  const int n = a.tokens, past = a.past, hidden = c.hidden_size;
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
  const double aux_scale = moe_layers > 0 ? static_cast<double>(c.router_aux_loss_coef) / moe_layers : 0.0;
  const AttentionShape shape{n, past, heads, kv_heads, d, static_cast<float>(1.0 / std::sqrt(double(d)))};
  std::vector<float> dattn(static_cast<size_t>(n) * qd), dq(dattn.size()), dq_raw(dattn.size());
  std::vector<float> dk_all(static_cast<size_t>(past + n) * kvd), dv_all(dk_all.size());
  std::vector<float> dk_raw(static_cast<size_t>(n) * kvd);
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
    AttentionBackwardReference(shape, la.q.data(), la.k_all.data(), la.v_all.data(), la.attn.data(), la.lse.data(),
                               dattn.data(), dq.data(), dk_all.data(), dv_all.data());
    float* dk = dk_all.data() + static_cast<ptrdiff_t>(past) * kvd;  // the new tokens' rows
    const float* dv = dv_all.data() + static_cast<ptrdiff_t>(past) * kvd;
    RopeBackward(dq.data(), a.positions.data(), n, heads, d, c.rope_theta);
    RopeBackward(dk, a.positions.data(), n, kv_heads, d, c.rope_theta);
    RmsNormBackwardReference(la.q_raw.data(), lw.q_norm.data.data(), dq.data(), dq_raw.data(),
                             lg.q_norm.data.data(), n * heads, d, eps);
    RmsNormBackwardReference(la.k_raw.data(), lw.k_norm.data.data(), dk, dk_raw.data(), lg.k_norm.data.data(),
                             n * kv_heads, d, eps);
    model_internal::LinearBackward(la.x1.data(), lw.q_proj, dq_raw.data(), n, dx.data(), 0.f, &lg.q_proj);
    model_internal::LinearBackward(la.x1.data(), lw.k_proj, dk_raw.data(), n, dx.data(), 1.f, &lg.k_proj);
    model_internal::LinearBackward(la.x1.data(), lw.v_proj, dv, n, dx.data(), 1.f, &lg.v_proj);
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
  const Activations& a = *acts_;
  const int n = a.tokens, vocab = config().vocab_size;
  const bool weights_fit = token_weights.empty() || static_cast<int>(token_weights.size()) == n;
  if (static_cast<int>(targets.size()) != n || !weights_fit) {
    return InvalidArgument("Backward: " + std::to_string(targets.size()) + " targets and " +
                           std::to_string(token_weights.size()) + " weights for " + std::to_string(n) + " tokens");
  }
  Tensor dlogits;
  dlogits.Resize({n, vocab});
  LossReport report;
  report.token_logprobs.resize(n);
  TIDE_ASSIGN_OR_RETURN(const float ce,
                        CrossEntropyReference(a.logits.data.data(), targets.data(),
                                              token_weights.empty() ? nullptr : token_weights.data(), n, vocab,
                                              normalizer, report.token_logprobs.data(), dlogits.data.data()));
  report.ce_loss = ce;
  report.aux_loss = static_cast<float>(a.aux_loss);
  report.loss = static_cast<float>(static_cast<double>(ce) + a.aux_loss);
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
  TIDE_RETURN_IF_ERROR(Forward(tokens, nullptr, fo).status());
  return Backward(targets, token_weights, grads, options.normalizer);
}

}  // namespace tide::engine
