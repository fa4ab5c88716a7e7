// Model backward: the gradient of LossAndGrad (token-weighted cross-entropy plus the
// router balance loss) against float64 central finite differences.
//
// Method: this file holds an independent float64 implementation of the whole model
// forward and loss (RefLoss below), written from the HF definitions. Routing is forced
// to the ids the f32 model chose, so the loss is smooth in every parameter (top-k is
// piecewise constant; forcing keeps the FD from straddling a flip). The test checks
//   1. the f32 forward against the float64 one (logits rel err < 1e-5, loss < 1e-5),
//   2. the f32 analytic gradient against FD of the float64 loss, with the parameters
//      themselves perturbed in double (h = 1e-5; truncation ~h² and roundoff ~1e-11 are
//      far below the f32 gradient's own error), on a random subset of every tensor:
//      per entry |g − fd| <= 1e-3·|fd| + 1e-4·rms(fd), and over the subset
//      ‖g − fd‖ / ‖fd‖ < 1e-4.
// Variants: Qwen3 softmax router (norm_topk_prob on and off), and DeepSeek-style sigmoid
// scores + expert bias + shared expert + first layer dense + routed scaling + tied
// embeddings.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tide/engine/kernels/rope.h"
#include "tide/engine/model.h"

namespace tide::engine {
namespace {

using Vec = std::vector<double>;
using Params = std::map<std::string, Vec>;

enum class Variant { kSoftmax, kSoftmaxUnnormalised, kSigmoidExtended };

ModelConfig TinyConfig(Variant v) {
  ModelConfig c;
  c.vocab_size = 40;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.moe_intermediate_size = 12;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.num_experts = 4;
  c.num_experts_per_tok = 2;
  c.router_aux_loss_coef = 0.05f;  // large enough for its gradient to matter in the check
  if (v == Variant::kSoftmaxUnnormalised) c.norm_topk_prob = false;
  if (v == Variant::kSigmoidExtended) {
    c.scoring_func = ScoringFunc::kSigmoid;
    c.use_expert_bias = true;
    c.n_shared_experts = 1;
    c.first_k_dense_replace = 1;
    c.routed_scaling_factor = 2.5f;
    c.tie_word_embeddings = true;
  }
  return c;
}

ModelWeights RandomWeights(const ModelConfig& c, unsigned seed) {
  ModelWeights w = ModelWeights::Allocate(c);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  for (NamedTensor& p : NamedParameters(w)) {
    for (float& x : p.tensor->data) {
      switch (p.kind) {
        case NamedTensor::Kind::kNorm: x = 1.f + 0.2f * nd(rng); break;
        case NamedTensor::Kind::kBias: x = 0.1f * nd(rng); break;
        case NamedTensor::Kind::kEmbedding: x = nd(rng); break;
        default: x = 0.3f * nd(rng);
      }
    }
  }
  return w;
}

Params ToParams(ModelWeights& w) {
  Params p;
  for (NamedTensor& t : NamedParameters(w)) p[t.name] = Vec(t.tensor->data.begin(), t.tensor->data.end());
  return p;
}

// y[rows, out] = x · Wᵀ
Vec Linear(const Vec& x, int rows, const Vec& w, int out, int in) {
  Vec y(static_cast<size_t>(rows) * out, 0.0);
  for (int r = 0; r < rows; ++r)
    for (int o = 0; o < out; ++o)
      for (int i = 0; i < in; ++i) y[r * out + o] += x[r * in + i] * w[o * in + i];
  return y;
}

Vec RmsNorm(const Vec& x, int rows, int dim, const Vec& w, double eps) {
  Vec y(x.size());
  for (int r = 0; r < rows; ++r) {
    double ss = 0;
    for (int i = 0; i < dim; ++i) ss += x[r * dim + i] * x[r * dim + i];
    const double inv = 1.0 / std::sqrt(ss / dim + eps);
    for (int i = 0; i < dim; ++i) y[r * dim + i] = x[r * dim + i] * inv * w[i];
  }
  return y;
}

Vec SwiGlu(const Params& P, const std::string& p, const Vec& x, int rows, int hidden, int inter) {
  const Vec g = Linear(x, rows, P.at(p + "gate_proj.weight"), inter, hidden);
  Vec u = Linear(x, rows, P.at(p + "up_proj.weight"), inter, hidden);
  for (size_t i = 0; i < u.size(); ++i) u[i] *= g[i] / (1.0 + std::exp(-g[i]));
  return Linear(u, rows, P.at(p + "down_proj.weight"), hidden, inter);
}

void Rope(Vec& x, int tokens, int heads, int d, float theta) {
  for (int t = 0; t < tokens; ++t)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < d / 2; ++i) {
        const double a = RopeAngle(t, i, d, theta);
        double& x1 = x[(t * heads + h) * d + i];
        double& x2 = x[(t * heads + h) * d + i + d / 2];
        const double y1 = x1 * std::cos(a) - x2 * std::sin(a), y2 = x2 * std::cos(a) + x1 * std::sin(a);
        x1 = y1;
        x2 = y2;
      }
}

struct RefOut {
  Vec logits;
  double aux = 0;  // coef × mean over MoE layers
};

// Float64 forward with the routing given by `ids` (one [T * k] vector per layer).
RefOut RefForward(const ModelConfig& c, const Params& P, const std::vector<int32_t>& tokens,
                  const RouterChoices& ids) {
  const int T = static_cast<int>(tokens.size()), H = c.hidden_size, d = c.head_dim;
  const int nh = c.num_attention_heads, nkv = c.num_key_value_heads, E = c.num_experts, k = c.num_experts_per_tok;
  const double eps = c.rms_norm_eps;
  const Vec& emb = P.at("model.embed_tokens.weight");
  Vec h(static_cast<size_t>(T) * H);
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < H; ++i) h[t * H + i] = emb[tokens[t] * H + i];
  RefOut out;
  int moe_layers = 0;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const Vec x = RmsNorm(h, T, H, P.at(p + "input_layernorm.weight"), eps);
    Vec q = RmsNorm(Linear(x, T, P.at(p + "self_attn.q_proj.weight"), nh * d, H), T * nh, d,
                    P.at(p + "self_attn.q_norm.weight"), eps);
    Vec kk = RmsNorm(Linear(x, T, P.at(p + "self_attn.k_proj.weight"), nkv * d, H), T * nkv, d,
                     P.at(p + "self_attn.k_norm.weight"), eps);
    const Vec v = Linear(x, T, P.at(p + "self_attn.v_proj.weight"), nkv * d, H);
    Rope(q, T, nh, d, c.rope_theta);
    Rope(kk, T, nkv, d, c.rope_theta);
    Vec attn(static_cast<size_t>(T) * nh * d, 0.0);
    for (int t = 0; t < T; ++t)
      for (int hh = 0; hh < nh; ++hh) {
        const int kh = hh / (nh / nkv);
        Vec s(t + 1);
        double m = -1e300, z = 0;
        for (int j = 0; j <= t; ++j) {
          double dot = 0;
          for (int i = 0; i < d; ++i) dot += q[(t * nh + hh) * d + i] * kk[(j * nkv + kh) * d + i];
          s[j] = dot / std::sqrt(double(d));
          m = std::max(m, s[j]);
        }
        for (double& e : s) z += (e = std::exp(e - m));
        for (int j = 0; j <= t; ++j)
          for (int i = 0; i < d; ++i) attn[(t * nh + hh) * d + i] += s[j] / z * v[(j * nkv + kh) * d + i];
      }
    const Vec o = Linear(attn, T, P.at(p + "self_attn.o_proj.weight"), H, nh * d);
    for (size_t i = 0; i < h.size(); ++i) h[i] += o[i];
    const Vec x2 = RmsNorm(h, T, H, P.at(p + "post_attention_layernorm.weight"), eps);
    Vec y;
    if (!c.IsMoeLayer(l)) {
      y = SwiGlu(P, p + "mlp.", x2, T, H, c.intermediate_size);
    } else {
      ++moe_layers;
      const Vec logits = Linear(x2, T, P.at(p + "mlp.gate.weight"), E, H);
      Vec s(logits.size()), prob(logits.size());
      for (int t = 0; t < T; ++t) {
        double m = -1e300, z = 0, zs = 0;
        for (int e = 0; e < E; ++e) m = std::max(m, logits[t * E + e]);
        for (int e = 0; e < E; ++e) z += std::exp(logits[t * E + e] - m);
        for (int e = 0; e < E; ++e) {
          s[t * E + e] = c.scoring_func == ScoringFunc::kSoftmax ? std::exp(logits[t * E + e] - m) / z
                                                                 : 1.0 / (1.0 + std::exp(-logits[t * E + e]));
          zs += s[t * E + e];
        }
        for (int e = 0; e < E; ++e) prob[t * E + e] = s[t * E + e] / zs;  // zs = 1 for softmax
      }
      y.assign(h.size(), 0.0);
      std::vector<Vec> expert_out;
      for (int e = 0; e < E; ++e) expert_out.push_back(SwiGlu(P, p + "mlp.experts." + std::to_string(e) + ".", x2,
                                                               T, H, c.moe_intermediate_size));
      const bool normalise = c.norm_topk_prob && (c.scoring_func == ScoringFunc::kSoftmax || k > 1);
      Vec f(E, 0.0);
      for (int t = 0; t < T; ++t) {
        double sum = c.scoring_func == ScoringFunc::kSigmoid ? 1e-20 : 0.0;
        for (int j = 0; j < k; ++j) sum += s[t * E + ids.experts[l][t * k + j]];
        for (int j = 0; j < k; ++j) {
          const int e = ids.experts[l][t * k + j];
          f[e] += 1.0 / T;
          const double wgt = (normalise ? s[t * E + e] / sum : s[t * E + e]) * c.routed_scaling_factor;
          for (int i = 0; i < H; ++i) y[t * H + i] += wgt * expert_out[e][t * H + i];
        }
      }
      if (c.n_shared_experts > 0) {
        const Vec sh = SwiGlu(P, p + "mlp.shared_experts.", x2, T, H, c.n_shared_experts * c.moe_intermediate_size);
        for (size_t i = 0; i < y.size(); ++i) y[i] += sh[i];
      }
      double aux = 0;
      for (int e = 0; e < E; ++e) {
        double pm = 0;
        for (int t = 0; t < T; ++t) pm += prob[t * E + e] / T;
        aux += f[e] * pm;
      }
      out.aux += E * aux;
    }
    for (size_t i = 0; i < h.size(); ++i) h[i] += y[i];
  }
  if (moe_layers > 0) out.aux *= static_cast<double>(c.router_aux_loss_coef) / moe_layers;
  const Vec xf = RmsNorm(h, T, H, P.at("model.norm.weight"), eps);
  out.logits = Linear(xf, T, P.at(c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight"),
                      c.vocab_size, H);
  return out;
}

double RefLoss(const ModelConfig& c, const Params& P, const std::vector<int32_t>& tokens, const RouterChoices& ids,
               const std::vector<int32_t>& targets, const std::vector<float>& weights) {
  const RefOut r = RefForward(c, P, tokens, ids);
  const int V = c.vocab_size;
  double loss = 0, norm = 0;
  for (size_t t = 0; t < targets.size(); ++t) {
    double m = -1e300, z = 0;
    for (int i = 0; i < V; ++i) m = std::max(m, r.logits[t * V + i]);
    for (int i = 0; i < V; ++i) z += std::exp(r.logits[t * V + i] - m);
    loss -= weights[t] * (r.logits[t * V + targets[t]] - m - std::log(z));
    norm += std::fabs(weights[t]);
  }
  return loss / norm + r.aux;
}

class ModelBackwardTest : public ::testing::TestWithParam<Variant> {};

TEST_P(ModelBackwardTest, GradientMatchesFiniteDifferences) {
  const ModelConfig c = TinyConfig(GetParam());
  ModelWeights w = RandomWeights(c, 42 + static_cast<unsigned>(GetParam()));
  auto model = Model::Create(&w);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const std::vector<int32_t> tokens = {3, 17, 5, 39, 0, 22, 8};
  const std::vector<int32_t> targets = {17, 5, 39, 0, 22, 8, 11};
  const std::vector<float> weights = {1.f, 0.5f, 0.f, 2.f, -0.7f, 1.f, 1.f};

  RouterChoices ids;
  Gradients grads;
  LossOptions opts;
  opts.record_routing = &ids;
  auto loss = model->LossAndGrad(tokens, targets, weights, &grads, opts);
  ASSERT_TRUE(loss.ok()) << loss.status().ToString();

  // 1. Forward and loss against float64.
  Params P = ToParams(w);
  const RefOut ref = RefForward(c, P, tokens, ids);
  auto logits = model->Forward(tokens);
  ASSERT_TRUE(logits.ok());
  double diff = 0, norm = 0;
  for (size_t i = 0; i < ref.logits.size(); ++i) {
    diff += std::pow(logits->data[i] - ref.logits[i], 2);
    norm += ref.logits[i] * ref.logits[i];
  }
  EXPECT_LT(std::sqrt(diff / norm), 1e-5);
  const double ref_loss = RefLoss(c, P, tokens, ids, targets, weights);
  EXPECT_NEAR(*loss, ref_loss, 1e-5 * std::fabs(ref_loss));
  EXPECT_NEAR(model->last_loss().aux_loss, ref.aux, 1e-5 * ref.aux + 1e-9);
  EXPECT_GT(ref.aux, 0.0);

  // 2. Gradient against FD on a random subset of every tensor.
  std::mt19937 rng(7);
  const double h = 1e-5;
  std::vector<std::pair<double, double>> pairs;  // (analytic, fd)
  std::vector<std::string> labels;
  for (NamedTensor& g : NamedParameters(grads)) {
    Vec& param = P.at(g.name);
    std::uniform_int_distribution<size_t> pick(0, param.size() - 1);
    for (int s = 0; s < 3; ++s) {
      const size_t i = pick(rng);
      const double x0 = param[i];
      param[i] = x0 + h;
      const double lp = RefLoss(c, P, tokens, ids, targets, weights);
      param[i] = x0 - h;
      const double lm = RefLoss(c, P, tokens, ids, targets, weights);
      param[i] = x0;
      pairs.emplace_back(g.tensor->data[i], (lp - lm) / (2 * h));
      labels.push_back(g.name + "[" + std::to_string(i) + "]");
    }
  }
  double ss = 0, err = 0;
  for (auto& [a, f] : pairs) ss += f * f;
  const double rms = std::sqrt(ss / pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto [a, f] = pairs[i];
    err += (a - f) * (a - f);
    EXPECT_NEAR(a, f, 1e-3 * std::fabs(f) + 1e-4 * rms) << labels[i];
  }
  EXPECT_LT(std::sqrt(err / ss), 1e-4);
  std::cout << "grad rel err " << std::sqrt(err / ss) << " rms " << rms << " n " << pairs.size() << "\n";
  if (c.use_expert_bias) {
    for (float b : grads.layers[1].expert_bias.data) EXPECT_EQ(b, 0.f);  // the bias only chooses
  }
}

TEST_P(ModelBackwardTest, GradientsAccumulateAndWeightsScale) {
  const ModelConfig c = TinyConfig(GetParam());
  ModelWeights w = RandomWeights(c, 5);
  auto model = Model::Create(&w);
  ASSERT_TRUE(model.ok());
  const std::vector<int32_t> tokens = {1, 2, 3, 4}, targets = {2, 3, 4, 5};
  Gradients once, twice;
  ASSERT_TRUE(model->LossAndGrad(tokens, targets, {}, &once).ok());
  ASSERT_TRUE(model->LossAndGrad(tokens, targets, {}, &twice).ok());
  ASSERT_TRUE(model->LossAndGrad(tokens, targets, {}, &twice).ok());
  for (size_t i = 0; i < once.embed_tokens.data.size(); ++i) {
    EXPECT_NEAR(twice.embed_tokens.data[i], 2 * once.embed_tokens.data[i], 1e-6);
  }
  // Backward without a kept forward is refused.
  auto fresh = Model::Create(&w);
  Gradients g;
  EXPECT_EQ(fresh->Backward(targets, {}, &g).status().code(), StatusCode::kFailedPrecondition);
}

// Packed training: two sequences in one LossAndGrad (sequence_lengths) give the gradient
// of the two sequences run apart with the same normaliser. The balance loss pools its
// statistics over the batch, so it is switched off here.
TEST_P(ModelBackwardTest, PackedSequencesMatchSeparateSequences) {
  ModelConfig c = TinyConfig(GetParam());
  c.router_aux_loss_coef = 0.f;
  ModelWeights w = RandomWeights(c, 6);
  auto model = Model::Create(&w);
  ASSERT_TRUE(model.ok());
  const std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 9, 8, 7, 6, 5, 4, 3};
  const std::vector<int32_t> targets = {2, 3, 4, 5, 6, 8, 7, 6, 5, 4, 3, 2};
  const std::vector<int32_t> lengths = {5, 7};
  LossOptions packed_opts;
  packed_opts.sequence_lengths = lengths;
  Gradients packed, apart;
  auto packed_loss = model->LossAndGrad(tokens, targets, {}, &packed, packed_opts);
  ASSERT_TRUE(packed_loss.ok()) << packed_loss.status().ToString();
  LossOptions apart_opts;
  apart_opts.normalizer = 12.f;
  const std::span<const int32_t> all(tokens), tgt(targets);
  auto first = model->LossAndGrad(all.first(5), tgt.first(5), {}, &apart, apart_opts);
  auto second = model->LossAndGrad(all.subspan(5), tgt.subspan(5), {}, &apart, apart_opts);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NEAR(*packed_loss, *first + *second, 1e-5);
  const std::vector<NamedTensor> p = NamedParameters(packed), q = NamedParameters(apart);
  ASSERT_EQ(p.size(), q.size());
  for (size_t i = 0; i < p.size(); ++i) {
    for (size_t j = 0; j < p[i].tensor->data.size(); ++j) {
      ASSERT_NEAR(p[i].tensor->data[j], q[i].tensor->data[j], 1e-5 + 1e-4 * std::fabs(q[i].tensor->data[j]))
          << p[i].name << "[" << j << "]";
    }
  }
  // Lengths that do not cover the tokens are refused.
  const std::vector<int32_t> short_lengths = {5, 6};
  packed_opts.sequence_lengths = short_lengths;
  EXPECT_EQ(model->LossAndGrad(tokens, targets, {}, &packed, packed_opts).status().code(),
            StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Variants, ModelBackwardTest,
                         ::testing::Values(Variant::kSoftmax, Variant::kSoftmaxUnnormalised, Variant::kSigmoidExtended),
                         [](const auto& info) {
                           switch (info.param) {
                             case Variant::kSoftmax: return std::string("Softmax");
                             case Variant::kSoftmaxUnnormalised: return std::string("SoftmaxUnnormalised");
                             default: return std::string("SigmoidBiasSharedDenseFirst");
                           }
                         });

}  // namespace
}  // namespace tide::engine
