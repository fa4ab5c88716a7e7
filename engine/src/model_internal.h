// Internals shared by model.cc (validation, forward), model_moe.cc (MLP and router
// forward/backward), model_backward.cc and dist/expert_parallel.cc: the activations a
// kept forward saves and the GEMM shorthands. Not a public header. The structs are plain
// data owned by one Model (or one Forward call); the functions are pure over their
// arguments, except that MoeForward consults the calling thread's RoutedExpertsRunner.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "tide/engine/kernels/gemm.h"
#include "tide/engine/kernels/grouped_gemm.h"
#include "tide/engine/model.h"

namespace tide::engine {

namespace model_internal {

// y[rows, out] = x[rows, in] · Wᵀ (W is HF [out, in]); beta = 1 adds into y.
inline void LinearForward(const float* x, const Tensor& w, float* y, int rows, float beta = 0.f) {
  const int out = static_cast<int>(w.shape[0]), in = static_cast<int>(w.shape[1]);
  if (rows <= 0) return;
  Gemm(Trans::kNo, Trans::kYes, rows, out, in, 1.f, x, in, w.data.data(), in, beta, y, out);
}

// LinearForward as one product of a grouped GEMM (grouped_gemm.h).
inline GemmProblem LinearProblem(const float* x, const Tensor& w, float* y, int rows, float beta = 0.f) {
  const int out = static_cast<int>(w.shape[0]), in = static_cast<int>(w.shape[1]);
  GemmProblem p;
  p.ta = Trans::kNo;
  p.tb = Trans::kYes;
  p.m = rows;
  p.n = out;
  p.k = in;
  p.a = x;
  p.lda = in;
  p.b = w.data.data();
  p.ldb = in;
  p.beta = beta;
  p.c = y;
  p.ldc = out;
  return p;
}

// dx[rows, in] (+)= dy[rows, out] · W, and dW[out, in] += dyᵀ · x (dw may be null).
inline void LinearBackward(const float* x, const Tensor& w, const float* dy, int rows, float* dx, float dx_beta,
                           Tensor* dw) {
  const int out = static_cast<int>(w.shape[0]), in = static_cast<int>(w.shape[1]);
  if (rows <= 0) return;
  if (dx != nullptr) Gemm(Trans::kNo, Trans::kNo, rows, in, out, 1.f, dy, out, w.data.data(), in, dx_beta, dx, in);
  if (dw != nullptr) Gemm(Trans::kYes, Trans::kNo, out, in, rows, 1.f, dy, out, x, in, 1.f, dw->data.data(), in);
}

// One SwiGLU applied to `rows` rows.
struct SwiGluActs {
  std::vector<float> gate, up, h;  // [rows, inter]: gate·x, up·x, silu(gate·x) * up·x
};

// The routed (token, slot) pairs of one MoE layer sorted by expert (token order within an
// expert): expert e owns rows offsets[e] .. offsets[e + 1] of every buffer here.
struct RoutedActs {
  std::vector<int32_t> offsets;  // [E + 1]
  std::vector<int32_t> tokens;   // [T * k] token of each sorted row
  std::vector<int32_t> slots;    // [T * k] its top-k slot
  std::vector<float> x;          // [T * k, hidden] gathered inputs
  SwiGluActs mlp;                // [T * k, inter]
  std::vector<float> y;          // [T * k, hidden] expert outputs before weighting
  int rows(int e) const { return offsets[e + 1] - offsets[e]; }
};

// One sequence of a batched forward: its rows of the batch, its cache prefix, and where
// its keys start in LayerActs::k_all (which holds each sequence's prefix then new rows).
struct Segment {
  int row0 = 0, rows = 0, past = 0, kv0 = 0;
};

struct LayerActs {
  std::vector<float> h_in;          // [T, hidden] residual stream entering the layer
  std::vector<float> x1;            // input_layernorm(h_in)
  std::vector<float> q_raw, k_raw;  // projections before q_norm / k_norm
  std::vector<float> q;             // [T, q_dim] after q_norm and RoPE
  std::vector<float> k_all, v_all;  // [Σ past + rows, kv_dim] per segment: prefix then new rows
  std::vector<float> attn;          // [T, q_dim] attention output before o_proj
  std::vector<float> lse;           // [T, heads]
  std::vector<float> h_mid;         // residual after attention
  std::vector<float> x2;            // post_attention_layernorm(h_mid)
  // MoE layers.
  std::vector<float> scores;   // [T, E] softmax probabilities or sigmoid scores
  std::vector<int32_t> ids;    // [T, k]
  std::vector<float> weights;  // [T, k] gating weights
  RoutedActs routed;
  SwiGluActs shared;
  double aux = 0.0;  // N · Σ f_i P_i of this layer
  // Dense layers.
  SwiGluActs dense;
};

}  // namespace model_internal

struct Model::Activations {
  int tokens = 0;
  std::vector<model_internal::Segment> segments;
  int kv_rows = 0;  // Σ past + rows
  std::vector<int32_t> token_ids, positions;
  std::vector<model_internal::LayerActs> layers;
  std::vector<float> h_final;  // [T, hidden] before the final norm
  std::vector<float> x_final;  // norm(h_final)
  Tensor logits;
  Tensor dlogits;  // scratch of Backward(targets, …), kept to reuse its pages
  double aux_loss = 0.0;    // coef × mean over MoE layers
  double aux_weight = 1.0;  // LossOptions::aux_weight of the LossAndGrad that made it
};

namespace model_internal {

// The attention step of one layer: given la.q [T, q_dim] (after q_norm and RoPE) and the
// new rows' keys and values [T, kv_dim] (after k_norm and RoPE; the callee may take their
// buffers), write la.attn [T, q_dim] (and la.lse when activations are kept) and store the
// keys and values wherever this forward keeps them.
using AttendFn =
    std::function<void(int layer, LayerActs& la, std::vector<float>& k_new, std::vector<float>& v_new)>;

// Embeddings and every decoder layer over tokens `ids` at positions `pos`; *h gets the
// hidden states before the final norm. acts (kept activations) may be null. Returns the
// sum over MoE layers of the balance loss term (la.aux). Routing and load options as
// ForwardOptions.
double RunDecoderLayers(const ModelConfig& c, const ModelWeights& w, const std::vector<int32_t>& ids,
                        const std::vector<int32_t>& pos, const ForwardOptions& options, Model::Activations* acts,
                        const AttendFn& attend, std::vector<float>* h);

// Dense SwiGLU on rows of x [rows, hidden]: y (+)= down(silu(gate x) * up x). acts keeps
// the intermediates (it is always filled; the caller decides whether to keep it).
void SwiGluMlpForward(const ExpertWeights& w, const float* x, int rows, SwiGluActs* acts, float* y, float y_beta);
// dx (+)= d/dx; weight gradients added into g.
void SwiGluMlpBackward(const ExpertWeights& w, const float* x, int rows, const SwiGluActs& acts, const float* dy,
                       ExpertWeights* g, float* dx, float dx_beta);

// MoE MLP of one layer on la->x2 (T rows): fills la's MoE fields, writes out [T, hidden].
// forced_ids: [T, k] or null. with_aux: compute la->aux.
void MoeForward(const ModelConfig& c, const LayerWeights& lw, int tokens, const int32_t* forced_ids, bool with_aux,
                LayerActs* la, float* out);
// dout [T, hidden] -> dx2 [T, hidden] (overwritten), gradients into g. aux_scale is the
// factor of this layer's N·Σ f·P in the loss (coef / number of MoE layers).
void MoeBackward(const ModelConfig& c, const LayerWeights& lw, int tokens, const LayerActs& la, const float* dout,
                 double aux_scale, LayerWeights* g, float* dx2);

int NumMoeLayers(const ModelConfig& c);

// The pieces of the routed experts, shared by MoeForward and expert parallelism
// (dist/expert_parallel.cc), which runs them on the rank that owns each expert.
//
// Counting sort of the (token, slot) pairs of ids [tokens, k] by expert (token order within
// an expert): fills r->offsets, r->tokens, r->slots.
void SortByExpert(int num_e, int k, int tokens, const int32_t* ids, RoutedActs* r);
// Experts first_expert .. first_expert + offsets.size() − 2 over x [rows, hidden], rows
// sorted by expert (expert first_expert + i owns rows offsets[i] .. offsets[i + 1],
// offsets[0] = 0): grouped GEMMs gate/up, SwiGLU, down. mlp is resized and filled; y
// [rows, hidden] is written.
void RoutedExpertsRows(const ModelConfig& c, const LayerWeights& lw, int first_expert,
                       const std::vector<int32_t>& offsets, const float* x, SwiGluActs* mlp, float* y);
// out[tokens[i]] += weights[tokens[i] * k + slots[i]] · y[i] for every row i in order (so
// each token sums its experts in the rows' order).
void CombineRoutedRows(int k, int hidden, const std::vector<int32_t>& tokens, const std::vector<int32_t>& slots,
                       const float* weights, const float* y, float* out);

// Expert parallelism's hook into MoeForward. While a runner is installed on a thread (by
// ScopedRoutedExpertsRunner), MoeForward on that thread routes as usual (la's scores, ids,
// weights and routed.offsets/tokens/slots for all rows), then hands the routed experts to
// the runner instead of running them in place; the shared experts and the balance loss
// follow as usual. routed.x, .mlp and .y stay unset, so a forward that keeps activations
// must not run with a runner installed.
class RoutedExpertsRunner {
 public:
  virtual ~RoutedExpertsRunner() = default;
  // out [tokens, hidden] is zero on entry; add Σ_j w_j · expert_{id_j}(x2) for every token,
  // each token's experts in la.routed's row order. lw is one of the layers of the weights
  // the forward runs on. Failures are the runner's to keep (MoeForward cannot fail).
  virtual void Run(const ModelConfig& c, const LayerWeights& lw, int tokens, const LayerActs& la, float* out) = 0;
};

// Installs `runner` on the calling thread for the guard's lifetime (restoring whatever was
// installed before). Not shared between threads.
class ScopedRoutedExpertsRunner {
 public:
  explicit ScopedRoutedExpertsRunner(RoutedExpertsRunner* runner);
  ~ScopedRoutedExpertsRunner();
  ScopedRoutedExpertsRunner(const ScopedRoutedExpertsRunner&) = delete;
  ScopedRoutedExpertsRunner& operator=(const ScopedRoutedExpertsRunner&) = delete;

 private:
  RoutedExpertsRunner* previous_;
};

}  // namespace model_internal

}  // namespace tide::engine
