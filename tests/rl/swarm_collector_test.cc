// The asynchronous collector: groups come back in slot order with the seeds the slot names,
// stamped with the policy version they started under, and it runs at most max_buffered
// groups ahead of the consumer, so a version set while a group waits reaches the next one.
#include "tide/rl/swarm_collector.h"

#include <gtest/gtest.h>

#include "rl_model_util.h"
#include "tide/engine/tokenizer.h"

namespace tide::rl {
namespace {

TEST(SwarmCollectorTest, GroupsComeInSlotOrderStampedWithTheVersionTheyStartedUnder) {
  engine::Tokenizer tokenizer = engine::ByteLevelTokenizer();
  engine::ModelConfig config = testing::TinyConfig();
  config.vocab_size = tokenizer.vocab_size();
  config.max_position_embeddings = 8192;
  auto model = engine::Model::Create(testing::TinyWeights(config, 3, 4.f));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto engine = engine::InferenceEngine::Create(&*model, &tokenizer, {});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();

  SwarmRolloutOptions o;
  o.spec.items = 2;
  o.spec.max_coordinator_steps = 1;
  o.spec.max_subagent_steps = 1;
  o.group_size = 2;
  o.max_tokens = 6;
  auto seeds = [](uint64_t slot) { return AsyncGroupCollector::Seeds{1000 + slot, 7 * slot + 1}; };
  AsyncGroupCollector collector(engine->get(), o, seeds, /*first_slot=*/5, /*version=*/7, /*max_buffered=*/1);

  CollectedGroup first = collector.Next();
  ASSERT_TRUE(first.episodes.ok()) << first.episodes.status().ToString();
  EXPECT_EQ(first.slot, 5u);
  EXPECT_EQ(first.task_seed, 1005u);
  EXPECT_EQ(first.version_started, 7);
  ASSERT_EQ(first.episodes->size(), 2u);
  for (const SwarmEpisode& ep : *first.episodes) {
    EXPECT_EQ(ep.task_seed, 1005u);
    ASSERT_FALSE(ep.turns.empty());
    EXPECT_EQ(ep.first_version, 7);  // every turn stamped as it finished
    EXPECT_EQ(ep.last_version, 7);
  }
  // Slot 6 may already be running under version 7; slot 7 cannot start until slot 6 is
  // taken (one buffered group), so it starts under the version set before that.
  collector.SetVersion(9);
  CollectedGroup second = collector.Next();
  EXPECT_EQ(second.slot, 6u);
  EXPECT_EQ(second.task_seed, 1006u);
  CollectedGroup third = collector.Next();
  ASSERT_TRUE(third.episodes.ok()) << third.episodes.status().ToString();
  EXPECT_EQ(third.slot, 7u);
  EXPECT_EQ(third.version_started, 9);
  for (const SwarmEpisode& ep : *third.episodes) EXPECT_EQ(ep.first_version, 9);
}

}  // namespace
}  // namespace tide::rl
