// The decoder layers shared by every forward (model.cc's cache-backed forward and the paged
// serving forward): embeddings, then per layer norm, projections, q/k norm, RoPE, the
// caller's attention step, o_proj, the MLP or MoE block and the residuals. Semantics in
// model.h.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "model_internal.h"
#include "tide/engine/kernels/grouped_gemm.h"
#include "tide/engine/kernels/rmsnorm.h"
#include "tide/engine/kernels/rope.h"

namespace tide::engine::model_internal {

double RunDecoderLayers(const ModelConfig& c, const ModelWeights& w, const std::vector<int32_t>& ids,
                        const std::vector<int32_t>& pos, const ForwardOptions& options, Model::Activations* acts,
                        const AttendFn& attend, std::vector<float>* h_out) {
  const int num_layers = c.num_hidden_layers, hidden = c.hidden_size;
  const int qd = c.q_dim(), kvd = c.kv_dim(), d = c.head_dim;
  const int heads = c.num_attention_heads, kv_heads = c.num_key_value_heads;
  const float eps = c.rms_norm_eps;
  const int n = static_cast<int>(ids.size());
  const bool keep = acts != nullptr;
  std::vector<float>& h = *h_out;
  h.resize(static_cast<size_t>(n) * hidden);
  std::vector<float> mlp_out(h.size());
  for (int t = 0; t < n; ++t) {
    std::copy_n(w.embed_tokens.data.data() + static_cast<ptrdiff_t>(ids[t]) * hidden, hidden,
                h.data() + static_cast<ptrdiff_t>(t) * hidden);
  }
  LayerActs scratch;
  std::vector<float> k_new, v_new;
  double aux_sum = 0.0;
  for (int l = 0; l < num_layers; ++l) {
    const LayerWeights& lw = w.layers[l];
    LayerActs& la = keep ? acts->layers[l] : scratch;
    // Attention block.
    la.h_in = h;
    la.x1.resize(h.size());
    RmsNorm(h.data(), lw.input_layernorm.data.data(), la.x1.data(), n, hidden, eps);
    la.q_raw.resize(static_cast<size_t>(n) * qd);
    la.k_raw.resize(static_cast<size_t>(n) * kvd);
    k_new.resize(static_cast<size_t>(n) * kvd);
    v_new.resize(k_new.size());
    // q, k and v in one grouped call: one parallel region for the three small products of a
    // decode step; large ones still run one at a time over every thread (grouped_gemm.h).
    const GemmProblem qkv[] = {LinearProblem(la.x1.data(), lw.q_proj, la.q_raw.data(), n),
                               LinearProblem(la.x1.data(), lw.k_proj, la.k_raw.data(), n),
                               LinearProblem(la.x1.data(), lw.v_proj, v_new.data(), n)};
    GroupedGemm(qkv);
    la.q.resize(la.q_raw.size());
    RmsNorm(la.q_raw.data(), lw.q_norm.data.data(), la.q.data(), n * heads, d, eps);
    RmsNorm(la.k_raw.data(), lw.k_norm.data.data(), k_new.data(), n * kv_heads, d, eps);
    RopeForward(la.q.data(), pos.data(), n, heads, d, c.rope_theta);
    RopeForward(k_new.data(), pos.data(), n, kv_heads, d, c.rope_theta);
    attend(l, la, k_new, v_new);
    la.h_mid = h;
    model_internal::LinearForward(la.attn.data(), lw.o_proj, la.h_mid.data(), n, 1.f);
    // MLP block.
    la.x2.resize(h.size());
    RmsNorm(la.h_mid.data(), lw.post_attention_layernorm.data.data(), la.x2.data(), n, hidden, eps);
    if (c.IsMoeLayer(l)) {
      const int32_t* forced = options.forced_routing ? options.forced_routing->experts[l].data() : nullptr;
      model_internal::MoeForward(c, lw, n, forced, keep, &la, mlp_out.data());
      aux_sum += la.aux;
      if (options.record_routing != nullptr) options.record_routing->experts[l] = la.ids;
      if (options.expert_load != nullptr) {
        for (int e = 0; e < c.num_experts; ++e) options.expert_load->tokens[l][e] += la.routed.rows(e);
      }
    } else {
      model_internal::SwiGluMlpForward(lw.dense, la.x2.data(), n, &la.dense, mlp_out.data(), 0.f);
    }
    for (size_t i = 0; i < h.size(); ++i) h[i] = la.h_mid[i] + mlp_out[i];
  }
  return aux_sum;
}

}  // namespace tide::engine::model_internal
