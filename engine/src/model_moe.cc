// SwiGLU MLPs and the MoE layer (router, top-k, experts, shared experts, balance loss):
// forward and backward. Semantics in model.h.
#include <algorithm>
#include <cstddef>
#include <vector>

#include "model_internal.h"
#include "tide/engine/kernels/softmax_topk.h"
#include "tide/engine/kernels/swiglu.h"

namespace tide::engine::model_internal {

namespace {

using std::ptrdiff_t;

// DeepSeek-V3 adds this to the sum of the chosen sigmoid scores before dividing.
constexpr float kSigmoidNormEps = 1e-20f;

bool Normalises(const ModelConfig& c) {
  return c.norm_topk_prob && (c.scoring_func == ScoringFunc::kSoftmax || c.num_experts_per_tok > 1);
}

// Σ of the chosen scores as the forward divides by it (f32, slot order).
float ChosenSum(const ModelConfig& c, const float* s, const int32_t* ids, int k) {
  float sum = 0.f;
  for (int j = 0; j < k; ++j) sum += s[ids[j]];
  if (c.scoring_func == ScoringFunc::kSigmoid) sum += kSigmoidNormEps;
  return sum;
}

}  // namespace

int NumMoeLayers(const ModelConfig& c) {
  int n = 0;
  for (int l = 0; l < c.num_hidden_layers; ++l) n += c.IsMoeLayer(l) ? 1 : 0;
  return n;
}

void SwiGluMlpForward(const ExpertWeights& w, const float* x, int rows, SwiGluActs* acts, float* y, float y_beta) {
  const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(w.gate_proj.shape[0]);
  acts->gate.resize(n);
  acts->up.resize(n);
  acts->h.resize(n);
  LinearForward(x, w.gate_proj, acts->gate.data(), rows);
  LinearForward(x, w.up_proj, acts->up.data(), rows);
  SwiGluForward(acts->gate.data(), acts->up.data(), acts->h.data(), static_cast<int64_t>(n));
  LinearForward(acts->h.data(), w.down_proj, y, rows, y_beta);
}

void SwiGluMlpBackward(const ExpertWeights& w, const float* x, int rows, const SwiGluActs& acts, const float* dy,
                       ExpertWeights* g, float* dx, float dx_beta) {
  const size_t n = acts.h.size();
  std::vector<float> dh(n), dgate(n), dup(n);
  LinearBackward(acts.h.data(), w.down_proj, dy, rows, dh.data(), 0.f, &g->down_proj);
  SwiGluBackwardReference(acts.gate.data(), acts.up.data(), dh.data(), dgate.data(), dup.data(),
                          static_cast<int64_t>(n));
  LinearBackward(x, w.gate_proj, dgate.data(), rows, dx, dx_beta, &g->gate_proj);
  LinearBackward(x, w.up_proj, dup.data(), rows, dx, 1.f, &g->up_proj);
}

void MoeForward(const ModelConfig& c, const LayerWeights& lw, int tokens, const int32_t* forced_ids, bool with_aux,
                LayerActs* la, float* out) {
  const int num_e = c.num_experts, k = c.num_experts_per_tok, hidden = c.hidden_size;
  const size_t te = static_cast<size_t>(tokens) * num_e;
  std::vector<float> router_logits(te);
  LinearForward(la->x2.data(), lw.router, router_logits.data(), tokens);
  la->scores.resize(te);
  if (c.scoring_func == ScoringFunc::kSoftmax) {
    Softmax(router_logits.data(), la->scores.data(), tokens, num_e);
  } else {
    Sigmoid(router_logits.data(), la->scores.data(), static_cast<int64_t>(te));
  }

  la->ids.resize(static_cast<size_t>(tokens) * k);
  la->weights.resize(static_cast<size_t>(tokens) * k);
  std::vector<float> choice(num_e);
  const bool normalise = Normalises(c);
  for (int t = 0; t < tokens; ++t) {
    const float* s = la->scores.data() + static_cast<ptrdiff_t>(t) * num_e;
    int32_t* ids = la->ids.data() + static_cast<ptrdiff_t>(t) * k;
    if (forced_ids != nullptr) {
      std::copy(forced_ids + static_cast<ptrdiff_t>(t) * k, forced_ids + static_cast<ptrdiff_t>(t + 1) * k, ids);
    } else if (c.use_expert_bias) {
      for (int i = 0; i < num_e; ++i) choice[i] = s[i] + lw.expert_bias.data[i];
      TopKReference(choice.data(), num_e, k, ids);
    } else {
      TopKReference(s, num_e, k, ids);
    }
    float* w = la->weights.data() + static_cast<ptrdiff_t>(t) * k;
    const float sum = ChosenSum(c, s, ids, k);
    for (int j = 0; j < k; ++j) {
      w[j] = normalise ? s[ids[j]] / sum : s[ids[j]];
      w[j] *= c.routed_scaling_factor;
    }
  }

  // Group the (token, slot) pairs by expert, in token order.
  la->experts.resize(num_e);
  for (ExpertActs& ea : la->experts) {
    ea.tokens.clear();
    ea.slots.clear();
  }
  for (int t = 0; t < tokens; ++t) {
    for (int j = 0; j < k; ++j) {
      ExpertActs& ea = la->experts[la->ids[static_cast<size_t>(t) * k + j]];
      ea.tokens.push_back(t);
      ea.slots.push_back(j);
    }
  }

  std::fill(out, out + static_cast<ptrdiff_t>(tokens) * hidden, 0.f);
  for (int e = 0; e < num_e; ++e) {
    ExpertActs& ea = la->experts[e];
    const int rows = static_cast<int>(ea.tokens.size());
    ea.x.resize(static_cast<size_t>(rows) * hidden);
    ea.y.resize(static_cast<size_t>(rows) * hidden);
    if (rows == 0) continue;
    for (int i = 0; i < rows; ++i) {
      std::copy_n(la->x2.data() + static_cast<ptrdiff_t>(ea.tokens[i]) * hidden, hidden,
                  ea.x.data() + static_cast<ptrdiff_t>(i) * hidden);
    }
    SwiGluMlpForward(lw.experts[e], ea.x.data(), rows, &ea.mlp, ea.y.data(), 0.f);
    for (int i = 0; i < rows; ++i) {
      const int t = ea.tokens[i];
      const float w = la->weights[static_cast<size_t>(t) * k + ea.slots[i]];
      float* o = out + static_cast<ptrdiff_t>(t) * hidden;
      const float* y = ea.y.data() + static_cast<ptrdiff_t>(i) * hidden;
      for (int d = 0; d < hidden; ++d) o[d] += w * y[d];
    }
  }
  if (c.n_shared_experts > 0) SwiGluMlpForward(lw.shared, la->x2.data(), tokens, &la->shared, out, 1.f);

  la->aux = 0.0;
  if (with_aux && tokens > 0) {
    double aux = 0.0;
    for (int e = 0; e < num_e; ++e) {
      const double f = static_cast<double>(la->experts[e].tokens.size()) / tokens;
      double p_sum = 0.0;
      for (int t = 0; t < tokens; ++t) {
        const float* s = la->scores.data() + static_cast<ptrdiff_t>(t) * num_e;
        double z = 1.0;
        if (c.scoring_func == ScoringFunc::kSigmoid) {
          z = 0.0;
          for (int i = 0; i < num_e; ++i) z += s[i];
        }
        p_sum += s[e] / z;
      }
      aux += f * (p_sum / tokens);
    }
    la->aux = aux * num_e;
  }
}

void MoeBackward(const ModelConfig& c, const LayerWeights& lw, int tokens, const LayerActs& la, const float* dout,
                 double aux_scale, LayerWeights* g, float* dx2) {
  const int num_e = c.num_experts, k = c.num_experts_per_tok, hidden = c.hidden_size;
  const ptrdiff_t th = static_cast<ptrdiff_t>(tokens) * hidden;
  if (c.n_shared_experts > 0) {
    SwiGluMlpBackward(lw.shared, la.x2.data(), tokens, la.shared, dout, &g->shared, dx2, 0.f);
  } else {
    std::fill(dx2, dx2 + th, 0.f);
  }

  // Routed experts; dweights[t, j] = dout_t · y.
  std::vector<double> dweights(static_cast<size_t>(tokens) * k, 0.0);
  std::vector<float> dy, dxe;
  for (int e = 0; e < num_e; ++e) {
    const ExpertActs& ea = la.experts[e];
    const int rows = static_cast<int>(ea.tokens.size());
    if (rows == 0) continue;
    dy.resize(static_cast<size_t>(rows) * hidden);
    dxe.resize(static_cast<size_t>(rows) * hidden);
    for (int i = 0; i < rows; ++i) {
      const int t = ea.tokens[i];
      const size_t slot = static_cast<size_t>(t) * k + ea.slots[i];
      const float w = la.weights[slot];
      const float* d = dout + static_cast<ptrdiff_t>(t) * hidden;
      const float* y = ea.y.data() + static_cast<ptrdiff_t>(i) * hidden;
      float* dyi = dy.data() + static_cast<ptrdiff_t>(i) * hidden;
      double dot = 0.0;
      for (int h = 0; h < hidden; ++h) {
        dyi[h] = w * d[h];
        dot += static_cast<double>(d[h]) * y[h];
      }
      dweights[slot] = dot;
    }
    SwiGluMlpBackward(lw.experts[e], ea.x.data(), rows, ea.mlp, dy.data(), &g->experts[e], dxe.data(), 0.f);
    for (int i = 0; i < rows; ++i) {
      float* dst = dx2 + static_cast<ptrdiff_t>(ea.tokens[i]) * hidden;
      const float* src = dxe.data() + static_cast<ptrdiff_t>(i) * hidden;
      for (int h = 0; h < hidden; ++h) dst[h] += src[h];
    }
  }

  // Gradient of the scores: through the gating weights, then the balance loss.
  const bool normalise = Normalises(c);
  const double scale = c.routed_scaling_factor;
  std::vector<double> ds(static_cast<size_t>(tokens) * num_e, 0.0);
  for (int t = 0; t < tokens; ++t) {
    const float* s = la.scores.data() + static_cast<ptrdiff_t>(t) * num_e;
    const int32_t* ids = la.ids.data() + static_cast<ptrdiff_t>(t) * k;
    const double* dw = dweights.data() + static_cast<ptrdiff_t>(t) * k;
    double* dst = ds.data() + static_cast<ptrdiff_t>(t) * num_e;
    if (normalise) {
      const double sum = ChosenSum(c, s, ids, k);
      double dot = 0.0;
      for (int j = 0; j < k; ++j) dot += dw[j] * s[ids[j]];
      for (int j = 0; j < k; ++j) dst[ids[j]] += scale * (dw[j] / sum - dot / (sum * sum));
    } else {
      for (int j = 0; j < k; ++j) dst[ids[j]] += scale * dw[j];
    }
  }
  if (aux_scale != 0.0 && tokens > 0) {
    // aux = N Σ_i f_i P_i, P_i = mean_t p_ti: dL/dp_ti = aux_scale · N · f_i / T.
    std::vector<double> dp(num_e);
    for (int e = 0; e < num_e; ++e) {
      const double f = static_cast<double>(la.experts[e].tokens.size()) / tokens;
      dp[e] = aux_scale * num_e * f / tokens;
    }
    for (int t = 0; t < tokens; ++t) {
      const float* s = la.scores.data() + static_cast<ptrdiff_t>(t) * num_e;
      double* dst = ds.data() + static_cast<ptrdiff_t>(t) * num_e;
      if (c.scoring_func == ScoringFunc::kSoftmax) {
        for (int e = 0; e < num_e; ++e) dst[e] += dp[e];
      } else {  // p = s / Z: ds_i = (dp_i − Σ_j dp_j p_j) / Z
        double z = 0.0, dot = 0.0;
        for (int e = 0; e < num_e; ++e) z += s[e];
        for (int e = 0; e < num_e; ++e) dot += dp[e] * s[e] / z;
        for (int e = 0; e < num_e; ++e) dst[e] += (dp[e] - dot) / z;
      }
    }
  }

  // Through softmax / sigmoid to the router logits, then the router GEMM.
  std::vector<float> dlogits(static_cast<size_t>(tokens) * num_e);
  for (int t = 0; t < tokens; ++t) {
    const float* s = la.scores.data() + static_cast<ptrdiff_t>(t) * num_e;
    const double* d = ds.data() + static_cast<ptrdiff_t>(t) * num_e;
    float* dl = dlogits.data() + static_cast<ptrdiff_t>(t) * num_e;
    if (c.scoring_func == ScoringFunc::kSoftmax) {
      double dot = 0.0;
      for (int e = 0; e < num_e; ++e) dot += s[e] * d[e];
      for (int e = 0; e < num_e; ++e) dl[e] = static_cast<float>(s[e] * (d[e] - dot));
    } else {
      for (int e = 0; e < num_e; ++e) dl[e] = static_cast<float>(d[e] * s[e] * (1.0 - s[e]));
    }
  }
  LinearBackward(la.x2.data(), lw.router, dlogits.data(), tokens, dx2, 1.f, &g->router);
}

}  // namespace tide::engine::model_internal
