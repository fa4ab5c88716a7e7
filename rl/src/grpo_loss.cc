#include "tide/rl/grpo_loss.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace tide::rl {
namespace {

std::string Seq(size_t i) { return "sequence " + std::to_string(i); }

Status CheckFinite(std::span<const float> v, size_t i, const char* field) {
  for (size_t t = 0; t < v.size(); ++t) {
    if (!std::isfinite(v[t])) {
      return InvalidArgument(Seq(i) + ": " + field + "[" + std::to_string(t) + "] is not finite");
    }
  }
  return Status::Ok();
}

Status CheckOptions(const PgLossOptions& o) {
  auto bad = [](double lo, double hi) { return !(lo >= 0 && lo < 1) || !(hi >= 0) || !std::isfinite(hi); };
  if (bad(o.eps_low, o.eps_high)) return InvalidArgument("eps_low must be in [0, 1) and eps_high >= 0");
  if (bad(o.seq_eps_low, o.seq_eps_high)) return InvalidArgument("seq_eps_low must be in [0, 1) and seq_eps_high >= 0");
  if (!(o.kl_beta >= 0) || !std::isfinite(o.kl_beta)) return InvalidArgument("kl_beta must be >= 0");
  return Status::Ok();
}

Status CheckSequence(const PgSequence& s, size_t i, bool need_ref) {
  const size_t n = s.logp_new.size();
  if (s.logp_old.size() != n) {
    return InvalidArgument(Seq(i) + ": logp_old has " + std::to_string(s.logp_old.size()) + " entries, logp_new " +
                           std::to_string(n));
  }
  if (!s.mask.empty() && s.mask.size() != n) {
    return InvalidArgument(Seq(i) + ": mask has " + std::to_string(s.mask.size()) + " entries, logp_new " +
                           std::to_string(n));
  }
  if (need_ref && s.logp_ref.size() != n) {
    return InvalidArgument(Seq(i) + ": kl_beta > 0 needs logp_ref with " + std::to_string(n) + " entries, it has " +
                           std::to_string(s.logp_ref.size()));
  }
  for (size_t t = 0; t < s.mask.size(); ++t) {
    if (s.mask[t] > 1) return InvalidArgument(Seq(i) + ": mask[" + std::to_string(t) + "] is not 0 or 1");
  }
  if (!std::isfinite(s.advantage)) return InvalidArgument(Seq(i) + ": advantage is not finite");
  TIDE_RETURN_IF_ERROR(CheckFinite(s.logp_new, i, "logp_new"));
  TIDE_RETURN_IF_ERROR(CheckFinite(s.logp_old, i, "logp_old"));
  if (need_ref) TIDE_RETURN_IF_ERROR(CheckFinite(s.logp_ref, i, "logp_ref"));
  return Status::Ok();
}

bool Masked(const PgSequence& s, size_t t) { return s.mask.empty() || s.mask[t] != 0; }

// min(ratio·A, clip(ratio)·A): its value, d/d(ratio), and whether the clipped side won.
struct Surrogate {
  double value, dratio;
  bool clipped;
};
Surrogate ClippedSurrogate(double ratio, double adv, double eps_low, double eps_high) {
  const double clipped = std::clamp(ratio, 1 - eps_low, 1 + eps_high);
  if (ratio * adv <= clipped * adv) return {ratio * adv, adv, false};
  return {clipped * adv, 0.0, true};
}

}  // namespace

Result<std::vector<float>> GroupAdvantages(std::span<const float> rewards, const AdvantageOptions& options) {
  if (rewards.empty()) return InvalidArgument("GroupAdvantages: empty group");
  if (!(options.eps >= 0)) return InvalidArgument("GroupAdvantages: eps must be >= 0");
  double mean = 0;
  for (size_t i = 0; i < rewards.size(); ++i) {
    if (!std::isfinite(rewards[i])) return InvalidArgument("GroupAdvantages: reward " + std::to_string(i) + " is not finite");
    mean += rewards[i];
  }
  const double n = static_cast<double>(rewards.size());
  mean /= n;
  double var = 0;
  for (float r : rewards) var += (r - mean) * (r - mean);
  const double std = rewards.size() > 1 ? std::sqrt(var / (n - 1)) : 0.0;
  const double denom = options.divide_by_std ? std + options.eps : 1.0;
  std::vector<float> out(rewards.size());
  for (size_t i = 0; i < rewards.size(); ++i) {
    out[i] = denom > 0 ? static_cast<float>((rewards[i] - mean) / denom) : 0.f;
  }
  return out;
}

bool GroupHasSignal(std::span<const float> rewards) {
  return std::any_of(rewards.begin(), rewards.end(), [&](float r) { return r != rewards.front(); });
}

Result<PgLossResult> PolicyLoss(std::span<const PgSequence> batch, const PgLossOptions& o) {
  TIDE_RETURN_IF_ERROR(CheckOptions(o));
  const bool kl = o.kl_beta > 0;
  PgLossResult r;
  r.dlogp.resize(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    TIDE_RETURN_IF_ERROR(CheckSequence(batch[i], i, kl));
    r.dlogp[i].assign(batch[i].logp_new.size(), 0.0);
    for (size_t t = 0; t < batch[i].logp_new.size(); ++t) r.tokens += Masked(batch[i], t) ? 1 : 0;
  }
  if (r.tokens == 0) return r;  // nothing trained: loss 0, zero gradient
  const double inv_t = 1.0 / static_cast<double>(r.tokens);

  if (o.level == RatioLevel::kToken) {
    int64_t clipped = 0;
    double ratio_sum = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      const PgSequence& s = batch[i];
      for (size_t t = 0; t < s.logp_new.size(); ++t) {
        if (!Masked(s, t)) continue;
        const double ratio = std::exp(static_cast<double>(s.logp_new[t]) - s.logp_old[t]);
        const Surrogate j = ClippedSurrogate(ratio, s.advantage, o.eps_low, o.eps_high);
        r.policy_loss -= j.value * inv_t;
        r.dlogp[i][t] = -j.dratio * ratio * inv_t;  // d ratio / d logp_new = ratio
        clipped += j.clipped ? 1 : 0;
        ratio_sum += ratio;
      }
    }
    r.clip_fraction = static_cast<double>(clipped) * inv_t;
    r.ratio_mean = ratio_sum * inv_t;
  } else {
    int sequences = 0, clipped = 0;
    double ratio_sum = 0;
    for (const PgSequence& s : batch) {
      int64_t len = 0;
      for (size_t t = 0; t < s.logp_new.size(); ++t) len += Masked(s, t) ? 1 : 0;
      sequences += len > 0 ? 1 : 0;
    }
    const double inv_n = 1.0 / sequences;
    for (size_t i = 0; i < batch.size(); ++i) {
      const PgSequence& s = batch[i];
      double log_ratio = 0;
      int64_t len = 0;
      for (size_t t = 0; t < s.logp_new.size(); ++t) {
        if (!Masked(s, t)) continue;
        log_ratio += static_cast<double>(s.logp_new[t]) - s.logp_old[t];
        ++len;
      }
      if (len == 0) continue;
      const double ratio = std::exp(log_ratio / static_cast<double>(len));
      const Surrogate j = ClippedSurrogate(ratio, s.advantage, o.seq_eps_low, o.seq_eps_high);
      r.policy_loss -= j.value * inv_n;
      // d s_i / d logp_new_t = s_i / |y_i| for every masked token of the sequence.
      const double coef = -j.dratio * ratio / static_cast<double>(len) * inv_n;
      for (size_t t = 0; t < s.logp_new.size(); ++t) {
        if (Masked(s, t)) r.dlogp[i][t] = coef;
      }
      clipped += j.clipped ? 1 : 0;
      ratio_sum += ratio;
    }
    r.clip_fraction = static_cast<double>(clipped) * inv_n;
    r.ratio_mean = ratio_sum * inv_n;
  }

  if (kl) {
    double kl_sum = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      const PgSequence& s = batch[i];
      for (size_t t = 0; t < s.logp_new.size(); ++t) {
        if (!Masked(s, t)) continue;
        const double d = static_cast<double>(s.logp_ref[t]) - s.logp_new[t];
        kl_sum += std::exp(d) - d - 1;
        // d/d logp_new of exp(d) − d − 1, with d = ref − new: −exp(d) + 1.
        r.dlogp[i][t] += o.kl_beta * (1 - std::exp(d)) * inv_t;
      }
    }
    r.kl_mean = kl_sum * inv_t;
  }
  r.loss = r.policy_loss + o.kl_beta * r.kl_mean;
  return r;
}

}  // namespace tide::rl
