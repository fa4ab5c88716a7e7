#include "tide/rl/policy_gradient.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "tide/engine/kernels/cross_entropy.h"

namespace tide::rl {
namespace {

std::string Name(size_t i) { return "rollout " + std::to_string(i); }

bool HasMoe(const engine::ModelConfig& c) {
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    if (c.IsMoeLayer(l)) return true;
  }
  return false;
}

// The rollouts as one packed training forward.
struct Packed {
  std::vector<std::vector<int32_t>> inputs;
  std::vector<int32_t> targets;       // all rows, sequence after sequence
  std::vector<size_t> first_completion_row;  // per rollout
  engine::RouterChoices routing;      // concatenated when replaying
  bool replay = false;
  int rows = 0;
  int vocab = 0;  // the columns the distribution covers (the sampling vocabulary)
};

Result<Packed> Pack(const engine::ModelConfig& c, std::span<const Rollout> rollouts, bool routing_replay,
                    int sampling_vocab) {
  if (rollouts.empty()) return InvalidArgument("no rollouts");
  if (sampling_vocab < 0 || sampling_vocab > c.vocab_size) {
    return InvalidArgument("sampling_vocab " + std::to_string(sampling_vocab) + " is outside [0, " +
                           std::to_string(c.vocab_size) + "]");
  }
  Packed p;
  p.vocab = sampling_vocab > 0 ? sampling_vocab : c.vocab_size;
  p.replay = routing_replay && HasMoe(c);
  if (p.replay) {
    p.routing.top_k = c.num_experts_per_tok;
    p.routing.experts.resize(c.num_hidden_layers);
  }
  std::vector<int32_t> targets;
  for (size_t i = 0; i < rollouts.size(); ++i) {
    const Rollout& r = rollouts[i];
    const size_t n = r.completion.size();
    if (r.prompt.empty()) return InvalidArgument(Name(i) + ": empty prompt");
    if (n == 0) return InvalidArgument(Name(i) + ": empty completion");
    if (r.logprobs.size() != n || (!r.mask.empty() && r.mask.size() != n)) {
      return InvalidArgument(Name(i) + ": " + std::to_string(n) + " completion tokens but " +
                             std::to_string(r.logprobs.size()) + " logprobs and " + std::to_string(r.mask.size()) +
                             " mask entries");
    }
    for (int32_t t : r.completion) {
      if (t < 0 || t >= c.vocab_size) return InvalidArgument(Name(i) + ": completion token " + std::to_string(t) + " is outside the vocabulary");
      if (t >= p.vocab) {
        return InvalidArgument(Name(i) + ": completion token " + std::to_string(t) + " is outside the sampling vocabulary of " +
                               std::to_string(p.vocab));
      }
    }
    std::vector<int32_t> in;
    TrainingSequence(r, &in, &targets);
    // Prompt rows' log-probs are never used; keep their targets inside the columns.
    for (size_t t = 0; t + 1 < r.prompt.size(); ++t) targets[t] = targets[t] < p.vocab ? targets[t] : 0;
    p.first_completion_row.push_back(static_cast<size_t>(p.rows) + r.prompt.size() - 1);
    p.rows += static_cast<int>(in.size());
    p.targets.insert(p.targets.end(), targets.begin(), targets.end());
    if (p.replay) {
      if (r.routing.tokens != static_cast<int>(in.size()) || r.routing.top_k != c.num_experts_per_tok ||
          static_cast<int>(r.routing.experts.size()) != c.num_hidden_layers) {
        return InvalidArgument(Name(i) + ": router choices for " + std::to_string(r.routing.tokens) + " rows, the training forward has " +
                               std::to_string(in.size()) + " (sampled without record_routing? set routing_replay = false to train without replay)");
      }
      for (int l = 0; l < c.num_hidden_layers; ++l) {
        auto& dst = p.routing.experts[l];
        dst.insert(dst.end(), r.routing.experts[l].begin(), r.routing.experts[l].end());
      }
      p.routing.tokens += r.routing.tokens;
    }
    p.inputs.push_back(std::move(in));
  }
  return p;
}

// Runs the forward; returns the logits divided by the temperature.
Result<engine::Tensor> ScaledLogits(engine::Model& model, const Packed& p, float temperature, bool keep,
                                    engine::ExpertLoad* load = nullptr) {
  std::vector<engine::SequenceInput> seqs;
  for (const auto& in : p.inputs) seqs.push_back({in, {}, nullptr});
  engine::ForwardOptions fo;
  fo.keep_activations = keep;
  fo.forced_routing = p.replay ? &p.routing : nullptr;
  fo.expert_load = load;
  TIDE_ASSIGN_OR_RETURN(engine::Tensor logits, model.ForwardBatch(seqs, fo));
  if (temperature != 1.f) {
    const float inv = 1.f / temperature;
    for (float& x : logits.data) x *= inv;
  }
  const int64_t full = logits.shape[1];
  if (p.vocab < full) {  // keep the sampled columns only: the rest never had probability
    for (int64_t r = 0; r < p.rows; ++r) {
      std::copy_n(logits.data.begin() + r * full, p.vocab, logits.data.begin() + r * p.vocab);
    }
    logits.data.resize(static_cast<size_t>(p.rows) * p.vocab);
    logits.shape[1] = p.vocab;
  }
  return logits;
}

float Temperature(float t) { return t > 0 ? t : 1.f; }

std::vector<std::vector<float>> Split(const Packed& p, std::span<const Rollout> rollouts, const std::vector<float>& rows) {
  std::vector<std::vector<float>> out(rollouts.size());
  for (size_t i = 0; i < rollouts.size(); ++i) {
    const auto first = rows.begin() + static_cast<std::ptrdiff_t>(p.first_completion_row[i]);
    out[i].assign(first, first + static_cast<std::ptrdiff_t>(rollouts[i].completion.size()));
  }
  return out;
}

}  // namespace

Result<std::vector<std::vector<float>>> CompletionLogprobs(engine::Model& model, std::span<const Rollout> rollouts,
                                                           float temperature, bool routing_replay, int sampling_vocab) {
  TIDE_ASSIGN_OR_RETURN(Packed p, Pack(model.config(), rollouts, routing_replay, sampling_vocab));
  TIDE_ASSIGN_OR_RETURN(engine::Tensor logits, ScaledLogits(model, p, Temperature(temperature), false));
  std::vector<float> lp(static_cast<size_t>(p.rows));
  TIDE_RETURN_IF_ERROR(engine::CrossEntropy(logits.data.data(), p.targets.data(), nullptr, p.rows, p.vocab, 0.f,
                                            lp.data(), nullptr)
                           .status());
  return Split(p, rollouts, lp);
}

Result<PolicyGradientStats> PolicyGradientBackward(engine::Model& model, std::span<const Rollout> rollouts,
                                                   const PolicyGradientOptions& o, engine::Gradients* grads) {
  if (grads == nullptr) return InvalidArgument("null gradients");
  const bool kl = o.loss.kl_beta > 0;
  if (kl && o.reference == nullptr) return InvalidArgument("kl_beta > 0 needs a reference model");
  const float temperature = Temperature(o.temperature);
  std::vector<std::vector<float>> ref;
  if (kl) {
    TIDE_ASSIGN_OR_RETURN(ref, CompletionLogprobs(*o.reference, rollouts, temperature, false, o.sampling_vocab));
  }
  const engine::ModelConfig& c = model.config();
  TIDE_ASSIGN_OR_RETURN(Packed p, Pack(c, rollouts, o.routing_replay, o.sampling_vocab));
  TIDE_ASSIGN_OR_RETURN(engine::Tensor logits, ScaledLogits(model, p, temperature, true, o.expert_load));
  std::vector<float> row_lp(static_cast<size_t>(p.rows));
  TIDE_RETURN_IF_ERROR(engine::CrossEntropy(logits.data.data(), p.targets.data(), nullptr, p.rows, p.vocab, 0.f,
                                            row_lp.data(), nullptr)
                           .status());
  const std::vector<std::vector<float>> lp_new = Split(p, rollouts, row_lp);

  PolicyGradientStats stats;
  std::vector<PgSequence> batch;
  for (size_t i = 0; i < rollouts.size(); ++i) {
    const Rollout& r = rollouts[i];
    batch.push_back({lp_new[i], r.logprobs, kl ? std::span<const float>(ref[i]) : std::span<const float>(), r.mask,
                     r.advantage});
    for (size_t t = 0; t < r.completion.size(); ++t) {
      if (!r.mask.empty() && r.mask[t] == 0) continue;
      const double d = std::fabs(static_cast<double>(lp_new[i][t]) - r.logprobs[t]);
      stats.logprob_mismatch += d;
      stats.logprob_mismatch_max = std::max(stats.logprob_mismatch_max, d);
    }
  }
  TIDE_ASSIGN_OR_RETURN(PgLossResult loss, PolicyLoss(batch, o.loss));
  stats.loss = loss.loss;
  stats.policy_loss = loss.policy_loss;
  stats.kl_mean = loss.kl_mean;
  stats.clip_fraction = loss.clip_fraction;
  stats.ratio_mean = loss.ratio_mean;
  stats.tokens = loss.tokens;
  if (loss.tokens > 0) stats.logprob_mismatch /= static_cast<double>(loss.tokens);

  // Token weights −coef with N = 1 make cross_entropy's dlogits coef · d logp/d(z/T).
  std::vector<float> weights(static_cast<size_t>(p.rows), 0.f);
  for (size_t i = 0; i < rollouts.size(); ++i) {
    for (size_t t = 0; t < loss.dlogp[i].size(); ++t) {
      weights[p.first_completion_row[i] + t] = static_cast<float>(-loss.dlogp[i][t] * o.grad_scale);
    }
  }
  std::vector<float> dcols(logits.data.size());
  TIDE_RETURN_IF_ERROR(engine::CrossEntropy(logits.data.data(), p.targets.data(), weights.data(), p.rows, p.vocab,
                                            1.f, nullptr, dcols.data())
                           .status());
  // z/T: d/dz = (1/T) d/d(z/T); columns outside the sampling vocabulary get 0.
  const float inv = 1.f / temperature;
  engine::Tensor dlogits;
  dlogits.shape = {p.rows, c.vocab_size};
  dlogits.data.assign(static_cast<size_t>(p.rows) * c.vocab_size, 0.f);
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int v = 0; v < p.vocab; ++v) dlogits.data[r * c.vocab_size + v] = dcols[r * p.vocab + v] * inv;
  }
  if (grads->layers.empty()) *grads = model.ZeroGradients();
  TIDE_RETURN_IF_ERROR(model.Backward(dlogits, grads));
  stats.aux_loss = model.last_aux_loss();
  return stats;
}

Result<PolicyGradientStats> PolicyGradientStep(engine::Model& model, engine::Optimizer& optimizer,
                                               std::span<const Rollout> rollouts, const PolicyGradientOptions& o,
                                               engine::Gradients* grads, float lr_scale) {
  if (grads == nullptr) return InvalidArgument("null gradients");
  if (grads->layers.empty()) {
    *grads = model.ZeroGradients();
  } else {
    for (engine::NamedTensor& t : engine::NamedParameters(*grads)) std::fill(t.tensor->data.begin(), t.tensor->data.end(), 0.f);
  }
  TIDE_ASSIGN_OR_RETURN(PolicyGradientStats stats, PolicyGradientBackward(model, rollouts, o, grads));
  stats.grad_norm = engine::Optimizer::ClipGradNorm(*grads, o.clip_norm > 0 ? o.clip_norm : INFINITY);
  if (!std::isfinite(stats.grad_norm)) return Internal("gradient norm is " + std::to_string(stats.grad_norm));
  TIDE_RETURN_IF_ERROR(optimizer.Step(*grads, lr_scale));
  return stats;
}

}  // namespace tide::rl
