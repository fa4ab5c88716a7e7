// SwiGLU MLPs and the MoE layer (router, top-k, experts, shared experts, balance loss):
// forward and backward. Semantics in model.h.
#include <algorithm>
#include <cstddef>
#include <vector>

#include "model_internal.h"
#include "tide/engine/kernels/grouped_gemm.h"
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


// Gemm's arguments as one product of a grouped call.
GemmProblem ExpertProblem(Trans ta, Trans tb, int m, int n, int kk, const float* a, int lda, const float* b,
                          int ldb, float beta, float* c, int ldc) {
  GemmProblem p;
  p.ta = ta;
  p.tb = tb;
  p.m = m;
  p.n = n;
  p.k = kk;
  p.a = a;
  p.lda = lda;
  p.b = b;
  p.ldb = ldb;
  p.beta = beta;
  p.c = c;
  p.ldc = ldc;
  return p;
}

thread_local RoutedExpertsRunner* tls_runner = nullptr;

// The routed experts over rows sorted by expert (grouped GEMMs): gather, gate/up, SwiGLU,
// down, then out[t] += w · y for every row.
void RoutedExpertsForward(const ModelConfig& c, const LayerWeights& lw, const float* x2,
                          const std::vector<float>& weights, RoutedActs* r, float* out) {
  const int hidden = c.hidden_size;
  const int rows = static_cast<int>(r->tokens.size());
  r->x.resize(static_cast<size_t>(rows) * hidden);
  r->y.resize(r->x.size());
  for (int i = 0; i < rows; ++i) {
    std::copy_n(x2 + static_cast<ptrdiff_t>(r->tokens[i]) * hidden, hidden,
                r->x.data() + static_cast<ptrdiff_t>(i) * hidden);
  }
  RoutedExpertsRows(c, lw, 0, r->offsets, r->x.data(), &r->mlp, r->y.data());
  CombineRoutedRows(c.num_experts_per_tok, hidden, r->tokens, r->slots, weights.data(), r->y.data(), out);
}

// Backward of RoutedExpertsForward: dweights[t, j] = dout_t · y, weight gradients into g,
// dx2 += the experts' input gradients.
void RoutedExpertsBackward(const ModelConfig& c, const LayerWeights& lw, const RoutedActs& r,
                           const std::vector<float>& weights, const float* dout, std::vector<double>* dweights,
                           LayerWeights* g, float* dx2) {
  const int num_e = c.num_experts, k = c.num_experts_per_tok, hidden = c.hidden_size;
  const int inter = c.moe_intermediate_size;
  const int rows = static_cast<int>(r.tokens.size());
  std::vector<float> dy(static_cast<size_t>(rows) * hidden), dxs(dy.size());
  std::vector<float> dh(static_cast<size_t>(rows) * inter), dgate(dh.size()), dup(dh.size());
  for (int i = 0; i < rows; ++i) {
    const int t = r.tokens[i];
    const size_t slot = static_cast<size_t>(t) * k + r.slots[i];
    const float w = weights[slot];
    const float* d = dout + static_cast<ptrdiff_t>(t) * hidden;
    const float* y = r.y.data() + static_cast<ptrdiff_t>(i) * hidden;
    float* dyi = dy.data() + static_cast<ptrdiff_t>(i) * hidden;
    double dot = 0.0;
    for (int h = 0; h < hidden; ++h) {
      dyi[h] = w * d[h];
      dot += static_cast<double>(d[h]) * y[h];
    }
    (*dweights)[slot] = dot;
  }
  // dh = dy · W_down, dW_down += dyᵀ · h.
  std::vector<GemmProblem> problems;
  for (int e = 0; e < num_e; ++e) {
    const int m = r.rows(e);
    if (m == 0) continue;
    const ptrdiff_t o = r.offsets[e];
    ExpertWeights& ge = g->experts[e];
    problems.push_back(ExpertProblem(Trans::kNo, Trans::kNo, m, inter, hidden, dy.data() + o * hidden, hidden,
                                     lw.experts[e].down_proj.data.data(), inter, 0.f, dh.data() + o * inter, inter));
    problems.push_back(ExpertProblem(Trans::kYes, Trans::kNo, hidden, inter, m, dy.data() + o * hidden, hidden,
                                     r.mlp.h.data() + o * inter, inter, 1.f, ge.down_proj.data.data(), inter));
  }
  GroupedGemm(problems);
  SwiGluBackward(r.mlp.gate.data(), r.mlp.up.data(), dh.data(), dgate.data(), dup.data(),
                 static_cast<int64_t>(dh.size()));
  // dx = dgate · W_gate (+ dup · W_up below), dW_gate += dgateᵀ · x, dW_up += dupᵀ · x.
  for (int pass = 0; pass < 2; ++pass) {
    problems.clear();
    for (int e = 0; e < num_e; ++e) {
      const int m = r.rows(e);
      if (m == 0) continue;
      const ptrdiff_t o = r.offsets[e];
      const ExpertWeights& ew = lw.experts[e];
      ExpertWeights& ge = g->experts[e];
      const float* dsrc = (pass == 0 ? dgate : dup).data() + o * inter;
      problems.push_back(ExpertProblem(Trans::kNo, Trans::kNo, m, hidden, inter, dsrc, inter,
                                       (pass == 0 ? ew.gate_proj : ew.up_proj).data.data(), hidden,
                                       pass == 0 ? 0.f : 1.f, dxs.data() + o * hidden, hidden));
      problems.push_back(ExpertProblem(Trans::kYes, Trans::kNo, inter, hidden, m, dsrc, inter,
                                       r.x.data() + o * hidden, hidden, 1.f,
                                       (pass == 0 ? ge.gate_proj : ge.up_proj).data.data(), hidden));
    }
    GroupedGemm(problems);
  }
  for (int i = 0; i < rows; ++i) {
    float* dst = dx2 + static_cast<ptrdiff_t>(r.tokens[i]) * hidden;
    const float* src = dxs.data() + static_cast<ptrdiff_t>(i) * hidden;
    for (int h = 0; h < hidden; ++h) dst[h] += src[h];
  }
}

}  // namespace

// Counting sort of the (token, slot) pairs by expert; token order within an expert.
void SortByExpert(int num_e, int k, int tokens, const int32_t* ids, RoutedActs* r) {
  r->offsets.assign(num_e + 1, 0);
  const size_t pairs = static_cast<size_t>(tokens) * k;
  for (size_t i = 0; i < pairs; ++i) ++r->offsets[ids[i] + 1];
  for (int e = 0; e < num_e; ++e) r->offsets[e + 1] += r->offsets[e];
  std::vector<int32_t> next(r->offsets.begin(), r->offsets.end() - 1);
  r->tokens.resize(pairs);
  r->slots.resize(pairs);
  for (int t = 0; t < tokens; ++t) {
    for (int j = 0; j < k; ++j) {
      const int32_t row = next[ids[static_cast<size_t>(t) * k + j]]++;
      r->tokens[row] = t;
      r->slots[row] = j;
    }
  }
}

void RoutedExpertsRows(const ModelConfig& c, const LayerWeights& lw, int first_expert,
                       const std::vector<int32_t>& offsets, const float* x, SwiGluActs* mlp, float* y) {
  const int num_e = static_cast<int>(offsets.size()) - 1, hidden = c.hidden_size;
  const int inter = c.moe_intermediate_size;
  const size_t rows = num_e > 0 ? static_cast<size_t>(offsets[num_e]) : 0;
  mlp->gate.resize(rows * inter);
  mlp->up.resize(mlp->gate.size());
  mlp->h.resize(mlp->gate.size());
  std::vector<GemmProblem> problems;
  for (int e = 0; e < num_e; ++e) {
    const ptrdiff_t o = offsets[e];
    const int m = offsets[e + 1] - offsets[e];
    const ExpertWeights& ew = lw.experts[first_expert + e];
    problems.push_back(ExpertProblem(Trans::kNo, Trans::kYes, m, inter, hidden, x + o * hidden, hidden,
                                     ew.gate_proj.data.data(), hidden, 0.f, mlp->gate.data() + o * inter, inter));
    problems.push_back(ExpertProblem(Trans::kNo, Trans::kYes, m, inter, hidden, x + o * hidden, hidden,
                                     ew.up_proj.data.data(), hidden, 0.f, mlp->up.data() + o * inter, inter));
  }
  GroupedGemm(problems);
  SwiGluForward(mlp->gate.data(), mlp->up.data(), mlp->h.data(), static_cast<int64_t>(mlp->h.size()));
  problems.clear();
  for (int e = 0; e < num_e; ++e) {
    const ptrdiff_t o = offsets[e];
    const int m = offsets[e + 1] - offsets[e];
    problems.push_back(ExpertProblem(Trans::kNo, Trans::kYes, m, hidden, inter, mlp->h.data() + o * inter, inter,
                                     lw.experts[first_expert + e].down_proj.data.data(), inter, 0.f, y + o * hidden,
                                     hidden));
  }
  GroupedGemm(problems);
}

void CombineRoutedRows(int k, int hidden, const std::vector<int32_t>& tokens, const std::vector<int32_t>& slots,
                       const float* weights, const float* y, float* out) {
  const size_t rows = tokens.size();
  for (size_t i = 0; i < rows; ++i) {
    const int t = tokens[i];
    const float w = weights[static_cast<size_t>(t) * k + slots[i]];
    float* o = out + static_cast<ptrdiff_t>(t) * hidden;
    const float* yi = y + static_cast<ptrdiff_t>(i) * hidden;
    for (int d = 0; d < hidden; ++d) o[d] += w * yi[d];
  }
}

ScopedRoutedExpertsRunner::ScopedRoutedExpertsRunner(RoutedExpertsRunner* runner) : previous_(tls_runner) {
  tls_runner = runner;
}

ScopedRoutedExpertsRunner::~ScopedRoutedExpertsRunner() { tls_runner = previous_; }

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
  const GemmProblem gate_up[] = {LinearProblem(x, w.gate_proj, acts->gate.data(), rows),
                                 LinearProblem(x, w.up_proj, acts->up.data(), rows)};
  GroupedGemm(gate_up);
  SwiGluForward(acts->gate.data(), acts->up.data(), acts->h.data(), static_cast<int64_t>(n));
  LinearForward(acts->h.data(), w.down_proj, y, rows, y_beta);
}

void SwiGluMlpBackward(const ExpertWeights& w, const float* x, int rows, const SwiGluActs& acts, const float* dy,
                       ExpertWeights* g, float* dx, float dx_beta) {
  const size_t n = acts.h.size();
  std::vector<float> dh(n), dgate(n), dup(n);
  LinearBackward(acts.h.data(), w.down_proj, dy, rows, dh.data(), 0.f, &g->down_proj);
  SwiGluBackward(acts.gate.data(), acts.up.data(), dh.data(), dgate.data(), dup.data(), static_cast<int64_t>(n));
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

  SortByExpert(num_e, k, tokens, la->ids.data(), &la->routed);
  std::fill(out, out + static_cast<ptrdiff_t>(tokens) * hidden, 0.f);
  if (tls_runner != nullptr) {
    tls_runner->Run(c, lw, tokens, *la, out);
  } else {
    RoutedExpertsForward(c, lw, la->x2.data(), la->weights, &la->routed, out);
  }
  if (c.n_shared_experts > 0) SwiGluMlpForward(lw.shared, la->x2.data(), tokens, &la->shared, out, 1.f);

  la->aux = 0.0;
  if (with_aux && tokens > 0) {
    double aux = 0.0;
    for (int e = 0; e < num_e; ++e) {
      const double f = static_cast<double>(la->routed.rows(e)) / tokens;
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

  std::vector<double> dweights(static_cast<size_t>(tokens) * k, 0.0);
  RoutedExpertsBackward(c, lw, la.routed, la.weights, dout, &dweights, g, dx2);

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
      const double f = static_cast<double>(la.routed.rows(e)) / tokens;
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
