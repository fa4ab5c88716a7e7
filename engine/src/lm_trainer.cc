#include "tide/engine/lm_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include "tide/engine/checkpoint.h"
#include "tide/engine/model.h"
#include "tide/engine/train_checkpoint.h"

namespace tide::engine {
namespace {

// Window for micro-batch `i` of the run: epochs are seeded permutations, so the order is a
// pure function of (seed, i).
size_t WindowIndex(uint64_t seed, size_t n, int64_t i) {
  const int64_t epoch = i / static_cast<int64_t>(n);
  std::vector<size_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(seed * 1000003ULL + static_cast<uint64_t>(epoch));
  for (size_t k = n; k > 1; --k) std::swap(perm[k - 1], perm[rng() % k]);
  return perm[static_cast<size_t>(i % static_cast<int64_t>(n))];
}

float WeightedCrossEntropy(const Tensor& logits, const LmWindow& w, double* weight_sum) {
  const int vocab = static_cast<int>(logits.shape[1]);
  double loss = 0;
  for (size_t t = 0; t < w.targets.size(); ++t) {
    if (w.weights[t] == 0.f) continue;
    const float* row = logits.data.data() + t * static_cast<size_t>(vocab);
    double mx = row[0];
    for (int v = 1; v < vocab; ++v) mx = std::max(mx, static_cast<double>(row[v]));
    double sum = 0;
    for (int v = 0; v < vocab; ++v) sum += std::exp(row[v] - mx);
    loss += w.weights[t] * (mx + std::log(sum) - row[w.targets[t]]);
    *weight_sum += std::fabs(w.weights[t]);
  }
  return static_cast<float>(loss);
}

}  // namespace

double LrScale(const LmTrainOptions& o, int step) {
  if (o.warmup_steps > 0 && step <= o.warmup_steps) return static_cast<double>(step) / o.warmup_steps;
  const double span = std::max(1, o.steps - o.warmup_steps);
  const double progress = std::clamp((step - o.warmup_steps) / span, 0.0, 1.0);
  return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + std::cos(M_PI * progress));
}

Result<float> EvalLoss(ModelWeights* weights, const std::vector<LmWindow>& windows) {
  TIDE_ASSIGN_OR_RETURN(Model model, Model::Create(weights));
  double loss = 0, weight_sum = 0;
  for (const LmWindow& w : windows) {
    std::vector<SequenceInput> documents;
    const std::span<const int32_t> inputs(w.inputs);
    size_t offset = 0;
    for (const int32_t length : w.segments) {
      if (length <= 0 || offset + static_cast<size_t>(length) > inputs.size()) {
        return InvalidArgument("a window's segments do not fit its " + std::to_string(inputs.size()) + " inputs");
      }
      documents.push_back({inputs.subspan(offset, static_cast<size_t>(length)), {}, nullptr});
      offset += static_cast<size_t>(length);
    }
    if (documents.empty()) documents.push_back({inputs, {}, nullptr});
    TIDE_ASSIGN_OR_RETURN(Tensor logits, model.ForwardBatch(documents));
    loss += WeightedCrossEntropy(logits, w, &weight_sum);
  }
  if (weight_sum == 0) return InvalidArgument("no weighted tokens to evaluate");
  return static_cast<float>(loss / weight_sum);
}

Result<LmTrainResult> TrainLm(ModelWeights* weights, const std::vector<LmWindow>& train,
                              const std::vector<LmWindow>& eval, const LmTrainOptions& options,
                              const std::string& out_dir, const std::function<void(const LmTrainProgress&)>& progress) {
  if (train.empty()) return InvalidArgument("no training windows (is the data shorter than one window?)");
  if (options.steps < 1 || options.batch_windows < 1) return InvalidArgument("steps and batch_windows must be >= 1");
  Optimizer opt(options.optimizer, weights);
  LmTrainResult result;
  TIDE_ASSIGN_OR_RETURN(result.resumed_from, LoadTrainCheckpoint(out_dir, options.optimizer, weights, &opt));
  TIDE_ASSIGN_OR_RETURN(Model model, Model::Create(weights));
  const bool bias_update = weights->config.use_expert_bias;
  const auto start = std::chrono::steady_clock::now();
  int64_t tokens = 0;
  const int per_forward = options.windows_per_forward > 0 ? std::min(options.windows_per_forward, options.batch_windows)
                                                          : options.batch_windows;
  Gradients grads = model.ZeroGradients();
  std::vector<int32_t> packed_tokens, packed_targets, lengths;
  std::vector<float> packed_weights;
  for (int step = result.resumed_from + 1; step <= options.steps; ++step) {
    for (NamedTensor& p : NamedParameters(grads)) std::fill(p.tensor->data.begin(), p.tensor->data.end(), 0.f);
    ExpertLoad load;
    double loss_sum = 0;
    // The step's windows, packed into forwards of `per_forward` windows. Each window's loss
    // is normalised by its own weights and the step averages windows (token weights scaled
    // by 1 / (Σ|w| of the window · batch_windows)); each forward's balance loss counts by
    // its share of the windows.
    for (int first = 0; first < options.batch_windows; first += per_forward) {
      const int count = std::min(per_forward, options.batch_windows - first);
      packed_tokens.clear();
      packed_targets.clear();
      packed_weights.clear();
      lengths.clear();
      for (int b = first; b < first + count; ++b) {
        const int64_t micro = static_cast<int64_t>(step - 1) * options.batch_windows + b;
        const LmWindow& w = train[WindowIndex(options.seed, train.size(), micro)];
        double norm = 0;
        for (size_t t = 0; t < w.inputs.size(); ++t) norm += w.weights.empty() ? 1.0 : std::fabs(w.weights[t]);
        const double scale = norm > 0 ? 1.0 / (norm * options.batch_windows) : 0.0;
        packed_tokens.insert(packed_tokens.end(), w.inputs.begin(), w.inputs.end());
        packed_targets.insert(packed_targets.end(), w.targets.begin(), w.targets.end());
        for (size_t t = 0; t < w.inputs.size(); ++t) {
          packed_weights.push_back(static_cast<float>((w.weights.empty() ? 1.0 : w.weights[t]) * scale));
        }
        if (w.segments.empty()) lengths.push_back(static_cast<int32_t>(w.inputs.size()));
        else lengths.insert(lengths.end(), w.segments.begin(), w.segments.end());
        tokens += static_cast<int64_t>(w.inputs.size());
      }
      LossOptions lo;
      lo.normalizer = 1.f;
      lo.sequence_lengths = lengths;
      lo.aux_weight = static_cast<float>(count) / static_cast<float>(options.batch_windows);
      lo.expert_load = bias_update ? &load : nullptr;
      TIDE_ASSIGN_OR_RETURN(float loss, model.LossAndGrad(packed_tokens, packed_targets, packed_weights, &grads, lo));
      loss_sum += loss;
    }
    if (options.clip_norm > 0) Optimizer::ClipGradNorm(grads, options.clip_norm);
    const double lr_scale = LrScale(options, step);
    TIDE_RETURN_IF_ERROR(opt.Step(grads, static_cast<float>(lr_scale)));
    if (bias_update) TIDE_RETURN_IF_ERROR(model.UpdateExpertBias(load, options.expert_bias_gamma));

    const float step_loss = static_cast<float>(loss_sum);
    if (!std::isfinite(step_loss)) return Internal("loss became " + std::to_string(step_loss) + " at step " + std::to_string(step));
    if (step == result.resumed_from + 1) result.first_loss = step_loss;
    result.final_loss = step_loss;
    result.steps = step;
    const StepEnd end = EndOfStep(step, options.steps, options.save_every, options.stop_after_step);
    if (!eval.empty() && ((options.eval_every > 0 && step % options.eval_every == 0) || end.last)) {
      TIDE_ASSIGN_OR_RETURN(result.eval_loss, EvalLoss(weights, eval));
    }
    if (end.save) {
      TIDE_RETURN_IF_ERROR(SaveTrainCheckpoint(*weights, opt, step, out_dir));
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.tokens_per_s = elapsed > 0 ? tokens / elapsed : 0;
    if (progress) {
      LmTrainProgress p;
      p.step = step;
      p.steps = options.steps;
      p.loss = step_loss;
      p.eval_loss = result.eval_loss;
      p.lr = options.optimizer.lr * lr_scale;
      p.tokens_per_s = result.tokens_per_s;
      const int done = step - result.resumed_from;
      p.eta_s = done > 0 ? elapsed / done * (options.steps - step) : 0;
      progress(p);
    }
    if (end.pause) return result;
  }
  TIDE_RETURN_IF_ERROR(SaveModel(*weights, out_dir, Dtype::kF32));
  return result;
}

}  // namespace tide::engine
