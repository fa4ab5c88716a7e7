#include "tide/rl/swarm_rl.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <thread>

#include <boost/asio/thread_pool.hpp>

#include "tide/core/split_mix.h"
#include "tide/engine/checkpoint.h"
#include "tide/engine/lm_trainer.h"
#include "tide/engine/train_checkpoint.h"
#include "tide/orchestrator/swarm.h"
#include "tide/rl/rollout_sampler.h"
#include "tide/rl/swarm_collector.h"

namespace tide::rl {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// Swarm events are not kept: an episode's record is its generations and its result.
class DroppingSink : public orchestrator::EventSink {
 public:
  Status Emit(tide::v1::EventKind, const std::string&, const std::string&, const nlohmann::json&) override {
    return Status::Ok();
  }
};

// The coordinator decodes on one policy, every other agent on another (PARL's frozen
// sub-agents).
class SplitPolicy : public workers::Policy {
 public:
  SplitPolicy(workers::Policy* coordinator, workers::Policy* others) : coordinator_(coordinator), others_(others) {}
  std::string name() const override { return coordinator_->name(); }
  Result<workers::PolicyResponse> Generate(const workers::PolicyRequest& request) override {
    return request.agent == orchestrator::kCoordinatorName ? coordinator_->Generate(request) : others_->Generate(request);
  }

 private:
  workers::Policy* coordinator_;
  workers::Policy* others_;
};

Status ValidateRollout(const SwarmRolloutOptions& o) {
  if (o.group_size < 1) return InvalidArgument("group_size must be >= 1, got " + std::to_string(o.group_size));
  if (o.max_tokens < 1) return InvalidArgument("max_tokens must be >= 1, got " + std::to_string(o.max_tokens));
  if (!(o.temperature > 0) || !std::isfinite(o.temperature)) {
    return InvalidArgument("temperature must be > 0 for RL rollouts, got " + std::to_string(o.temperature));
  }
  TIDE_RETURN_IF_ERROR(env::ValidateRewardConfig(o.reward));
  return orchestrator::ValidateSwarmSpec(o.spec, "rollout spec");
}

// Token-level loss: the normaliser is the masked tokens of the whole step; GSPO's is its
// sequences. A micro-batch's gradient is scaled by its share.
double Share(std::span<const Rollout> part, int64_t total, RatioLevel level) {
  if (total <= 0) return 0;
  int64_t n = 0;
  for (const Rollout& r : part) {
    if (level == RatioLevel::kSequence) {
      ++n;
    } else {
      for (size_t t = 0; t < r.completion.size(); ++t) n += r.mask.empty() || r.mask[t] != 0 ? 1 : 0;
    }
  }
  return static_cast<double>(n) / static_cast<double>(total);
}

}  // namespace

Result<std::vector<SwarmEpisode>> CollectSwarmGroup(engine::InferenceEngine* engine, const SwarmRolloutOptions& o,
                                                    uint64_t task_seed, uint64_t sample_seed) {
  if (engine == nullptr) return InvalidArgument("no engine");
  TIDE_RETURN_IF_ERROR(ValidateRollout(o));
  const int g_count = o.group_size;
  std::vector<SwarmEpisode> episodes(static_cast<size_t>(g_count));
  std::vector<std::mutex> turn_mu(static_cast<size_t>(g_count));
  // Sub-agents block on the engine and tools, so threads are not tied to cores.
  boost::asio::thread_pool pool(static_cast<size_t>(std::min(256, 16 * g_count)));
  std::vector<std::thread> runs;
  for (int g = 0; g < g_count; ++g) {
    runs.emplace_back([&, g] {
      SwarmEpisode& ep = episodes[static_cast<size_t>(g)];
      ep.task_seed = task_seed;
      workers::EnginePolicy::Options po;
      po.temperature = o.temperature;
      po.max_tokens = o.max_tokens;
      po.seed = SplitMix64(sample_seed ^ SplitMix64(static_cast<uint64_t>(g) + 1));
      po.return_router_choices = true;  // tool-call bodies stay constrained: they get mask 0
      po.on_generation = [&ep, &mu = turn_mu[static_cast<size_t>(g)], version = o.policy_version](workers::AgentGeneration gen) {
        std::lock_guard<std::mutex> lock(mu);
        if (version != nullptr) {
          const int64_t v = version->load();
          ep.first_version = ep.turns.empty() ? v : std::min(ep.first_version, v);
          ep.last_version = ep.turns.empty() ? v : std::max(ep.last_version, v);
        }
        ep.turns.push_back(std::move(gen));
      };
      workers::EnginePolicy trained(engine, po);
      std::unique_ptr<workers::EnginePolicy> frozen;
      std::unique_ptr<SplitPolicy> split;
      workers::Policy* policy = &trained;
      if (o.frozen_subagents != nullptr) {
        workers::EnginePolicy::Options fo = po;
        fo.on_generation = nullptr;
        fo.return_router_choices = false;
        frozen = std::make_unique<workers::EnginePolicy>(o.frozen_subagents, fo);
        split = std::make_unique<SplitPolicy>(&trained, frozen.get());
        policy = split.get();
      }
      orchestrator::SwarmSpec spec = o.spec;
      spec.seed = task_seed;
      spec.policy = "engine";
      DroppingSink sink;
      std::atomic<bool> own_cancel{false};
      std::atomic<bool>* cancelled = o.cancelled != nullptr ? o.cancelled : &own_cancel;
      orchestrator::Swarm swarm(spec, orchestrator::SwarmContext{policy, &pool, &sink, cancelled});
      Result<tide::v1::RunResult> run = swarm.Run();
      ep.status = run.status();
      if (run.ok()) ep.result = *run;
    });
  }
  for (std::thread& t : runs) t.join();
  pool.join();
  return episodes;
}

Result<double> EpisodeReward(const SwarmEpisode& episode, const env::RewardConfig& config, int64_t training_step) {
  env::SwarmRunStats stats;
  if (episode.status.ok()) {
    const tide::v1::RunResult& r = episode.result;
    stats.task_reward = std::clamp(r.reward(), 0.0, 1.0);
    stats.spawned = static_cast<int>(r.subagents());
    stats.finished = std::min(stats.spawned, static_cast<int>(r.finished_subagents()));
    stats.critical_steps = r.critical_steps();
    stats.tokens = r.usage().total_tokens();
  }
  TIDE_ASSIGN_OR_RETURN(env::RewardBreakdown breakdown, env::CoordinatorReward(config, stats, training_step));
  return breakdown.total;
}

Result<SwarmRlResult> TrainSwarmRl(engine::InferenceEngine* engine, const SwarmRlOptions& o, const std::string& out_dir,
                                   const std::function<void(const SwarmRlStepStats&)>& progress) {
  if (engine == nullptr) return InvalidArgument("no engine");
  TIDE_RETURN_IF_ERROR(ValidateRollout(o.rollout));
  if (o.steps < 1) return InvalidArgument("steps must be >= 1, got " + std::to_string(o.steps));
  if (o.tasks_per_step < 1) return InvalidArgument("tasks_per_step must be >= 1, got " + std::to_string(o.tasks_per_step));
  if (o.task_seed_count < 1) return InvalidArgument("task_seed_count must be >= 1");
  if (o.micro_batch_tokens < 1) return InvalidArgument("micro_batch_tokens must be >= 1");
  if (o.max_staleness < 0 || o.max_staleness > 1000) {
    return InvalidArgument("max_staleness must be in [0, 1000], got " + std::to_string(o.max_staleness));
  }
  if (out_dir.empty()) return InvalidArgument("no output folder");

  // The optimizer and checkpoint work on the engine's own weights, under the engine's hold.
  engine::ModelWeights* weights = nullptr;
  std::unique_ptr<engine::Optimizer> optimizer;
  SwarmRlResult result;
  TIDE_RETURN_IF_ERROR(engine
                           ->UpdateWeights([&](engine::Model& model) -> Status {
                             weights = &model.weights();
                             optimizer = std::make_unique<engine::Optimizer>(o.optimizer, weights);
                             TIDE_ASSIGN_OR_RETURN(result.resumed_from, engine::LoadTrainCheckpoint(
                                                                            out_dir, o.optimizer, weights, optimizer.get()));
                             return Status::Ok();
                           })
                           .status());
  result.steps = result.resumed_from;
  const engine::ModelConfig config = engine->model_config();
  PolicyGradientOptions po = o.policy;
  po.temperature = o.rollout.temperature;
  if (po.sampling_vocab == 0) po.sampling_vocab = std::min(engine->tokenizer().vocab_size(), config.vocab_size);
  engine::LmTrainOptions schedule;
  schedule.steps = o.steps;
  schedule.warmup_steps = o.warmup_steps;
  schedule.min_lr_ratio = o.min_lr_ratio;
  engine::Gradients grads;

  // Slot n is the (n % tasks_per_step)-th group of step n / tasks_per_step + 1: the tasks
  // and sampling seeds are functions of (seed, slot), whichever way they are collected.
  const auto seeds_of = [&o](uint64_t slot) {
    const uint64_t step = slot / static_cast<uint64_t>(o.tasks_per_step) + 1;
    const uint64_t j = slot % static_cast<uint64_t>(o.tasks_per_step);
    AsyncGroupCollector::Seeds s;
    s.task_seed = o.task_seed_first + SplitMix64(SplitMix64(o.seed) ^ SplitMix64(step << 16 | j)) % o.task_seed_count;
    s.sample_seed = SplitMix64(s.task_seed ^ SplitMix64(o.seed + step));
    return s;
  };
  const uint64_t first_slot = static_cast<uint64_t>(result.resumed_from) * static_cast<uint64_t>(o.tasks_per_step);
  std::unique_ptr<AsyncGroupCollector> collector;
  if (o.max_staleness > 0 && result.resumed_from < o.steps) {
    collector = std::make_unique<AsyncGroupCollector>(engine, o.rollout, seeds_of, first_slot, result.resumed_from,
                                                      static_cast<size_t>(o.tasks_per_step) * o.max_staleness);
  }

  for (int step = result.resumed_from + 1; step <= o.steps; ++step) {
    SwarmRlStepStats st;
    st.step = step;
    const auto collect_start = Clock::now();
    std::vector<Rollout> batch;
    double reward_sum = 0, staleness_sum = 0;
    const int64_t version = step - 1;  // updates applied before this step's
    for (int j = 0; j < o.tasks_per_step; ++j) {
      std::vector<SwarmEpisode> group;
      if (collector) {
        CollectedGroup c = collector->Next();
        if (!c.episodes.ok()) return c.episodes.status().WithContext("step " + std::to_string(step));
        if (version - c.version_started > o.max_staleness) {
          ++st.stale_groups;
          --j;  // take the next one instead
          continue;
        }
        staleness_sum += static_cast<double>(version - c.version_started);
        group = std::move(*c.episodes);
      } else {
        const AsyncGroupCollector::Seeds s = seeds_of(first_slot + static_cast<uint64_t>(step - 1 - result.resumed_from) *
                                                                       static_cast<uint64_t>(o.tasks_per_step) +
                                                      static_cast<uint64_t>(j));
        TIDE_ASSIGN_OR_RETURN(group, CollectSwarmGroup(engine, o.rollout, s.task_seed, s.sample_seed));
      }
      std::vector<float> rewards;
      for (SwarmEpisode& ep : group) {
        if (o.reward_fn) {
          ep.reward = o.reward_fn(ep, step);
        } else {
          TIDE_ASSIGN_OR_RETURN(ep.reward, EpisodeReward(ep, o.rollout.reward, step));
        }
        if (!std::isfinite(ep.reward)) return InvalidArgument("step " + std::to_string(step) + ": a non-finite reward");
        rewards.push_back(static_cast<float>(ep.reward));
        reward_sum += ep.reward;
        ++st.episodes;
        if (!ep.status.ok()) {
          ++st.failed_episodes;
          continue;
        }
        st.success += ep.result.success() ? 1 : 0;
        st.item_f1 += ep.result.item_f1();
        st.spawn_rate += ep.result.subagents() > 0 ? 1 : 0;
        st.critical_steps += ep.result.critical_steps();
        st.partial_episodes += ep.last_version > ep.first_version ? 1 : 0;
      }
      ++st.groups;
      if (o.dynamic_sampling && !GroupHasSignal(rewards)) continue;
      ++st.groups_kept;
      TIDE_ASSIGN_OR_RETURN(std::vector<float> adv, GroupAdvantages(rewards, o.advantage));
      for (size_t g = 0; g < group.size(); ++g) {
        for (const workers::AgentGeneration& turn : group[g].turns) {
          if (o.rollout.frozen_subagents != nullptr && turn.agent != orchestrator::kCoordinatorName) continue;
          if (turn.result.tokens.empty()) continue;  // stopped at once: nothing sampled to train
          Result<Rollout> r = RolloutFromGeneration(config, turn.prompt, turn.result);
          if (!r.ok()) return r.status().WithContext("step " + std::to_string(step) + ", agent " + turn.agent);
          r->reward = static_cast<float>(group[g].reward);
          r->advantage = adv[g];
          batch.push_back(std::move(*r));
        }
      }
    }
    st.collect_s = Seconds(collect_start);
    if (st.episodes > 0) {
      st.reward_mean = reward_sum / st.episodes;
      st.success /= st.episodes;
      st.item_f1 /= st.episodes;
      st.spawn_rate /= st.episodes;
      st.critical_steps /= st.episodes;
    }
    st.staleness = staleness_sum / o.tasks_per_step;
    st.rollouts = static_cast<int>(batch.size());
    const double lr_scale = engine::LrScale(schedule, step);
    st.lr = o.optimizer.lr * lr_scale;
    if (!batch.empty()) {
      int64_t total = 0;
      for (const Rollout& r : batch) {
        if (po.loss.level == RatioLevel::kSequence) {
          ++total;
        } else {
          for (size_t t = 0; t < r.completion.size(); ++t) total += r.mask.empty() || r.mask[t] != 0 ? 1 : 0;
        }
      }
      const auto hold = Clock::now();
      Result<engine::WeightUpdateReport> update = engine->UpdateWeights([&](engine::Model& model) -> Status {
        const auto train_start = Clock::now();
        if (grads.layers.empty()) grads = model.ZeroGradients();
        for (engine::NamedTensor& t : engine::NamedParameters(grads)) std::fill(t.tensor->data.begin(), t.tensor->data.end(), 0.f);
        // Micro-batches of whole rollouts up to micro_batch_tokens (one longer rollout alone).
        size_t begin = 0;
        PolicyGradientStats sum;
        double mismatch = 0;
        while (begin < batch.size()) {
          size_t end = begin;
          int64_t tokens = 0;
          while (end < batch.size()) {
            const int64_t n = static_cast<int64_t>(batch[end].prompt.size() + batch[end].completion.size());
            if (end > begin && tokens + n > o.micro_batch_tokens) break;
            tokens += n;
            ++end;
          }
          std::span<const Rollout> part(batch.data() + begin, end - begin);
          PolicyGradientOptions mo = po;
          mo.grad_scale = static_cast<float>(Share(part, total, po.loss.level));
          TIDE_ASSIGN_OR_RETURN(PolicyGradientStats s, PolicyGradientBackward(model, part, mo, &grads));
          const double w = mo.grad_scale;  // the step's statistics weigh micro-batches alike
          sum.loss += w * s.loss;
          sum.policy_loss += w * s.policy_loss;
          sum.kl_mean += w * s.kl_mean;
          sum.clip_fraction += w * s.clip_fraction;
          sum.ratio_mean += w * s.ratio_mean;
          sum.aux_loss += w * s.aux_loss;
          sum.tokens += s.tokens;
          mismatch += s.logprob_mismatch * static_cast<double>(s.tokens);
          sum.logprob_mismatch_max = std::max(sum.logprob_mismatch_max, s.logprob_mismatch_max);
          begin = end;
        }
        sum.logprob_mismatch = sum.tokens > 0 ? mismatch / static_cast<double>(sum.tokens) : 0;
        sum.grad_norm = engine::Optimizer::ClipGradNorm(grads, po.clip_norm > 0 ? po.clip_norm : INFINITY);
        if (!std::isfinite(sum.grad_norm)) return Internal("gradient norm is " + std::to_string(sum.grad_norm));
        TIDE_RETURN_IF_ERROR(optimizer->Step(grads, static_cast<float>(lr_scale)));
        if (collector) collector->SetVersion(step);  // turns finishing from here on are the new policy's
        st.policy = sum;
        st.train_s = Seconds(train_start);
        return Status::Ok();
      });
      if (!update.ok()) return update.status().WithContext("step " + std::to_string(step));
      st.update_s = Seconds(hold);
      st.updated = true;
    }
    if (collector) collector->SetVersion(step);
    result.steps = step;
    result.history.push_back(st);
    const engine::StepEnd end = engine::EndOfStep(step, o.steps, o.save_every, o.stop_after_step);
    if (end.save) {
      TIDE_RETURN_IF_ERROR(engine::SaveTrainCheckpoint(*weights, *optimizer, step, out_dir));
    }
    if (progress) progress(st);
    if (end.pause) return result;
  }
  if (result.resumed_from < o.steps) TIDE_RETURN_IF_ERROR(engine::SaveModel(*weights, out_dir, o.save_dtype));
  return result;
}

}  // namespace tide::rl
