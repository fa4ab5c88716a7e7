#include "tide/rl/grpo_trainer.h"

#include <cmath>

#include "tide/core/split_mix.h"
#include "tide/engine/checkpoint.h"
#include "tide/engine/lm_trainer.h"
#include "tide/engine/model.h"
#include "tide/engine/train_checkpoint.h"

namespace tide::rl {
namespace {

uint64_t StepSeed(uint64_t seed, int step, int slot) {
  return SplitMix64(SplitMix64(seed) ^ SplitMix64(static_cast<uint64_t>(step) << 20 | static_cast<uint64_t>(slot)));
}

}  // namespace

Result<GrpoResult> TrainGrpo(engine::ModelWeights* weights, std::span<const std::vector<int32_t>> prompts,
                             const RewardFn& reward, const GrpoOptions& o, const std::string& out_dir,
                             const std::function<void(const GrpoStepStats&)>& progress) {
  if (prompts.empty()) return InvalidArgument("no prompts");
  if (o.steps < 1 || o.prompts_per_step < 1) return InvalidArgument("steps and prompts_per_step must be >= 1");
  if (!reward) return InvalidArgument("no reward function");
  engine::Optimizer opt(o.optimizer, weights);
  GrpoResult result;
  TIDE_ASSIGN_OR_RETURN(result.resumed_from, engine::LoadTrainCheckpoint(out_dir, o.optimizer, weights, &opt));
  result.steps = result.resumed_from;
  TIDE_ASSIGN_OR_RETURN(engine::Model model, engine::Model::Create(weights));
  engine::LmTrainOptions schedule;  // the SFT trainer's schedule, shared
  schedule.steps = o.steps;
  schedule.warmup_steps = o.warmup_steps;
  schedule.min_lr_ratio = o.min_lr_ratio;
  engine::Gradients grads = model.ZeroGradients();
  const bool bias_update = weights->config.use_expert_bias;

  for (int step = result.resumed_from + 1; step <= o.steps; ++step) {
    GrpoStepStats st;
    st.step = step;
    std::vector<Rollout> batch;
    double reward_sum = 0;
    int rollouts = 0;
    for (int j = 0; j < o.prompts_per_step; ++j) {
      const auto& prompt = prompts[SplitMix64(StepSeed(o.seed, step, j)) % prompts.size()];
      TIDE_ASSIGN_OR_RETURN(std::vector<Rollout> group, SampleGroup(model, prompt, o.rollout, StepSeed(o.seed, step, j + 1000)));
      std::vector<float> rewards;
      for (Rollout& r : group) {
        r.reward = reward(r);
        if (!std::isfinite(r.reward)) return InvalidArgument("step " + std::to_string(step) + ": the reward function returned a non-finite value");
        rewards.push_back(r.reward);
        reward_sum += r.reward;
        ++rollouts;
      }
      ++st.groups;
      if (o.dynamic_sampling && !GroupHasSignal(rewards)) continue;
      ++st.groups_kept;
      TIDE_ASSIGN_OR_RETURN(std::vector<float> adv, GroupAdvantages(rewards, o.advantage));
      for (size_t i = 0; i < group.size(); ++i) {
        group[i].advantage = adv[i];
        batch.push_back(std::move(group[i]));
      }
    }
    st.reward_mean = rollouts > 0 ? reward_sum / rollouts : 0;
    const double lr_scale = engine::LrScale(schedule, step);
    st.lr = o.optimizer.lr * lr_scale;
    if (!batch.empty()) {
      engine::ExpertLoad load;
      PolicyGradientOptions po = o.policy;
      if (bias_update) po.expert_load = &load;
      TIDE_ASSIGN_OR_RETURN(st.policy, PolicyGradientStep(model, opt, batch, po, &grads, static_cast<float>(lr_scale)));
      if (bias_update) TIDE_RETURN_IF_ERROR(model.UpdateExpertBias(load, o.expert_bias_gamma));
      st.updated = true;
    }
    result.steps = step;
    result.history.push_back(st);
    const engine::StepEnd end = engine::EndOfStep(step, o.steps, o.save_every, o.stop_after_step);
    if (end.save) {
      TIDE_RETURN_IF_ERROR(engine::SaveTrainCheckpoint(*weights, opt, step, out_dir));
    }
    if (progress) progress(st);
    if (end.pause) return result;
  }
  if (result.resumed_from < o.steps) TIDE_RETURN_IF_ERROR(engine::SaveModel(*weights, out_dir, engine::Dtype::kF32));
  return result;
}

}  // namespace tide::rl
