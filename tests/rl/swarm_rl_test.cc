// Swarm RL, colocated: groups of real swarm runs on the engine record every turn so that
// the training forward replays it; the trainer updates the engine's weights in place (the
// engine then serves exactly the saved model), learns a verifiable reward through the
// whole orchestrator, and resumes from its checkpoint.
#include "tide/rl/swarm_rl.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "rl_model_util.h"
#include "tide/engine/checkpoint.h"
#include "tide/engine/tokenizer.h"
#include "tide/rl/rollout_sampler.h"

namespace tide::rl {
namespace {

class SwarmRlTest : public ::testing::Test {
 protected:
  SwarmRlTest() : tokenizer_(engine::ByteLevelTokenizer()) {
    config_ = testing::TinyConfig();
    config_.vocab_size = tokenizer_.vocab_size();
    config_.max_position_embeddings = 8192;  // the task prompt and tool specs, byte by byte
  }

  std::unique_ptr<engine::InferenceEngine> Engine(engine::Model* model) {
    auto e = engine::InferenceEngine::Create(model, &tokenizer_, {});
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return std::move(e).value();
  }

  static SwarmRolloutOptions Rollouts() {
    SwarmRolloutOptions o;
    o.spec.items = 2;
    o.spec.max_coordinator_steps = 1;
    o.spec.max_subagent_steps = 1;
    o.group_size = 4;
    o.max_tokens = 8;
    return o;
  }

  // The share of the coordinator's sampled tokens that are lowercase letters: a property
  // the policy can learn from the rollouts alone.
  static double LowercaseShare(const SwarmEpisode& ep, int64_t) {
    int good = 0, all = 0;
    for (const workers::AgentGeneration& turn : ep.turns) {
      if (turn.agent != "coordinator") continue;
      for (const engine::GeneratedToken& t : turn.result.tokens) {
        good += t.id >= 'a' && t.id <= 'z' ? 1 : 0;
        ++all;
      }
    }
    return all > 0 ? static_cast<double>(good) / all : 0.0;
  }

  // 12 steps of one group of real swarms a step, rewarded with LowercaseShare.
  static SwarmRlOptions LearnLowercase() {
    SwarmRlOptions o;
    o.rollout = Rollouts();
    o.steps = 12;
    o.tasks_per_step = 1;
    o.optimizer.kind = engine::OptimizerKind::kAdamW;
    o.optimizer.lr = 3e-2f;
    o.optimizer.weight_decay = 0;
    o.reward_fn = LowercaseShare;
    return o;
  }

  engine::Tokenizer tokenizer_;
  engine::ModelConfig config_;
};

TEST_F(SwarmRlTest, AGroupRecordsEveryTurnSoTheTrainingForwardReplaysIt) {
  auto model = engine::Model::Create(testing::TinyWeights(config_, 3, 4.f));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto engine = Engine(&*model);
  Result<std::vector<SwarmEpisode>> group = CollectSwarmGroup(engine.get(), Rollouts(), 4242, 7);
  ASSERT_TRUE(group.ok()) << group.status().ToString();
  ASSERT_EQ(group->size(), 4u);
  std::set<std::vector<int32_t>> completions;
  std::vector<Rollout> rollouts;
  for (const SwarmEpisode& ep : *group) {
    EXPECT_EQ(ep.task_seed, 4242u);
    ASSERT_FALSE(ep.turns.empty());
    EXPECT_EQ(ep.turns[0].agent, "coordinator");
    EXPECT_GT(ep.turns[0].prompt.size(), 100u);  // the system prompt, tools and task
    for (const workers::AgentGeneration& turn : ep.turns) {
      Result<Rollout> r = RolloutFromGeneration(config_, turn.prompt, turn.result);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (turn.agent == "coordinator") completions.insert(r->completion);
      rollouts.push_back(std::move(*r));
    }
  }
  EXPECT_GT(completions.size(), 1u) << "each episode of a group samples on its own seed";
  // The same prompt for every episode: a group is G samples of one task.
  for (const SwarmEpisode& ep : *group) EXPECT_EQ(ep.turns[0].prompt, (*group)[0].turns[0].prompt);

  Result<std::vector<std::vector<float>>> replayed =
      CompletionLogprobs(*model, rollouts, 1.f, /*routing_replay=*/true, tokenizer_.vocab_size());
  ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
  double worst = 0;
  for (size_t i = 0; i < rollouts.size(); ++i) {
    for (size_t t = 0; t < rollouts[i].completion.size(); ++t) {
      if (rollouts[i].mask[t] == 0) continue;
      worst = std::max(worst, std::fabs(static_cast<double>((*replayed)[i][t]) - rollouts[i].logprobs[t]));
    }
  }
  EXPECT_LT(worst, 1e-3) << "the serving and training forwards disagree";
}

TEST_F(SwarmRlTest, TrainingUpdatesTheServingEngineInPlaceAndLearnsAVerifiableReward) {
  auto model = engine::Model::Create(testing::TinyWeights(config_, 3, 4.f));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto engine = Engine(&*model);
  const auto dir = std::filesystem::temp_directory_path() / ("tide-swarm-rl-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);

  SwarmRlOptions o = LearnLowercase();
  o.save_every = 4;
  Result<SwarmRlResult> r = TrainSwarmRl(engine.get(), o, dir.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->history.size(), 12u);
  double early = 0, late = 0;
  int updates = 0;
  for (const SwarmRlStepStats& s : r->history) {
    std::printf("step %d reward %.3f rollouts %d update_s %.4f mismatch %.2e\n", s.step, s.reward_mean, s.rollouts,
                s.update_s, s.policy.logprob_mismatch);
    if (s.step <= 3) early += s.reward_mean / 3;
    if (s.step > 9) late += s.reward_mean / 3;
    if (s.updated) {
      ++updates;
      EXPECT_GT(s.update_s, 0);
      EXPECT_LT(s.policy.logprob_mismatch, 1e-3);
    }
  }
  EXPECT_GT(updates, 6);
  EXPECT_GT(late, early + 0.1) << "the reward did not rise";

  // The engine serves the trained weights: it generates what an engine on the saved model does.
  auto saved = engine::LoadModel(dir.string());
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  auto reloaded = engine::Model::Create(std::move(*saved));
  ASSERT_TRUE(reloaded.ok());
  auto fresh = Engine(&*reloaded);
  engine::GenerateRequest req;
  for (int32_t id : tokenizer_.Encode("hello swarm", false)) req.prompt.push_back(id);
  req.params.sampling.temperature = 0;
  req.params.max_tokens = 12;
  auto a = engine->Generate(req), b = fresh->Generate(req);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->text, b->text);

  // Done: a second call resumes at the last step and has nothing left to do.
  Result<SwarmRlResult> again = TrainSwarmRl(engine.get(), o, dir.string());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->resumed_from, 12);
  EXPECT_TRUE(again->history.empty());
  std::filesystem::remove_all(dir);
}

TEST_F(SwarmRlTest, AsynchronousCollectionTrainsOneUpdateBehindAndStillLearns) {
  auto model = engine::Model::Create(testing::TinyWeights(config_, 3, 4.f));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto engine = Engine(&*model);
  const auto dir = std::filesystem::temp_directory_path() / ("tide-swarm-rl-async-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  SwarmRlOptions o = LearnLowercase();
  o.max_staleness = 1;
  Result<SwarmRlResult> r = TrainSwarmRl(engine.get(), o, dir.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->history.size(), 12u);
  double early = 0, late = 0, off_policy_steps = 0;
  int partial = 0;
  for (const SwarmRlStepStats& s : r->history) {
    std::printf("step %d reward %.3f staleness %.1f partial %d\n", s.step, s.reward_mean, s.staleness, s.partial_episodes);
    if (s.step <= 3) early += s.reward_mean / 3;
    if (s.step > 9) late += s.reward_mean / 3;
    partial += s.partial_episodes;
    EXPECT_EQ(s.stale_groups, 0);
    // One group buffered: step k trains on the group collected while step k - 1 trained,
    // which started under the weights before that update (1), or after it when the
    // collector was scheduled late (0); never older.
    EXPECT_LE(s.staleness, 1.0) << "step " << s.step;
    if (s.step == 1) EXPECT_EQ(s.staleness, 0.0);
    off_policy_steps += s.staleness;
  }
  std::printf("off-policy steps: %.0f; episodes that continued across an update: %d\n", off_policy_steps, partial);
  EXPECT_GT(off_policy_steps, 0) << "every group waited for the update: collection never ran ahead";
  EXPECT_GT(late, early + 0.1) << "the reward did not rise with off-policy groups";
  std::filesystem::remove_all(dir);
}

TEST_F(SwarmRlTest, BadOptionsNameTheField) {
  auto model = engine::Model::Create(testing::TinyWeights(config_, 3));
  ASSERT_TRUE(model.ok());
  auto engine = Engine(&*model);
  SwarmRolloutOptions o = Rollouts();
  o.group_size = 0;
  EXPECT_NE(CollectSwarmGroup(engine.get(), o, 1, 1).status().message().find("group_size"), std::string::npos);
  o = Rollouts();
  o.temperature = 0;
  EXPECT_NE(CollectSwarmGroup(engine.get(), o, 1, 1).status().message().find("temperature"), std::string::npos);
  o = Rollouts();
  o.spec.world = "atlantis";
  Status unknown = CollectSwarmGroup(engine.get(), o, 1, 1).status();
  EXPECT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("atlantis"), std::string::npos) << unknown.ToString();
  SwarmRlOptions t;
  t.rollout = Rollouts();
  t.steps = 0;
  EXPECT_NE(TrainSwarmRl(engine.get(), t, "/tmp/x").status().message().find("steps"), std::string::npos);
  t.steps = 1;
  t.tasks_per_step = 0;
  EXPECT_NE(TrainSwarmRl(engine.get(), t, "/tmp/x").status().message().find("tasks_per_step"), std::string::npos);
  t.tasks_per_step = 1;
  t.max_staleness = -1;
  EXPECT_NE(TrainSwarmRl(engine.get(), t, "/tmp/x").status().message().find("max_staleness"), std::string::npos);
}

}  // namespace
}  // namespace tide::rl
