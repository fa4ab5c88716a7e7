// Evaluate through the real orchestrator: the oracle teacher solves every held-out wide
// task, spawning in swarm mode with fewer critical steps than the single agent; a policy
// that answers at once with an empty table scores 0 without failing; bad options are named;
// a random tiny engine model's episodes run and are counted.
#include "tide/rl/evaluation.h"

#include <cstdio>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "rl_model_util.h"
#include "tide/engine/inference_engine.h"
#include "tide/engine/model.h"
#include "tide/engine/tokenizer.h"
#include "tide/env/oracle.h"
#include "tide/workers/engine_policy.h"

namespace tide::rl {
namespace {

using ::testing::HasSubstr;

EvalOptions Wide(const std::string& mode) {
  EvalOptions o;
  o.items = 8;
  o.seed_first = 9000;
  o.seed_last = 9002;
  o.mode = mode;
  o.jobs = 3;
  o.keep_episodes = true;
  return o;
}

TEST(Evaluation, OracleSwarmSolvesEveryTaskWithFewerCriticalStepsThanSingle) {
  // Capped at 4 calls a turn, as bench swarm does: steps then mean what they mean for a model.
  env::OraclePolicy oracle(env::OraclePolicy::Options{4});
  Result<EvalReport> swarm = Evaluate(Wide("swarm"), &oracle);
  ASSERT_TRUE(swarm.ok()) << swarm.status().ToString();
  Result<EvalReport> single = Evaluate(Wide("single"), &oracle);
  ASSERT_TRUE(single.ok()) << single.status().ToString();

  EXPECT_EQ(swarm->episodes, 3);
  EXPECT_EQ(swarm->failed_runs, 0);
  EXPECT_DOUBLE_EQ(swarm->success, 1.0);
  EXPECT_DOUBLE_EQ(swarm->item_f1, 1.0);
  EXPECT_DOUBLE_EQ(swarm->spawn_rate, 1.0);
  EXPECT_GT(swarm->mean_subagents, 1.0);
  EXPECT_EQ(swarm->options.max_subagents, 8);  // default min(items, 100)
  EXPECT_GT(swarm->tool_calls, 0);
  ASSERT_EQ(swarm->episodes_detail.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(swarm->episodes_detail[i].seed, 9000 + i);  // seed order whatever the threads
    EXPECT_EQ(swarm->episodes_detail[i].status, "ok");
  }

  // Single: the same coordinator allowed one sub-agent, which does every item itself.
  EXPECT_EQ(single->options.max_subagents, 1);
  EXPECT_DOUBLE_EQ(single->success, 1.0);
  EXPECT_DOUBLE_EQ(single->spawn_rate, 1.0);  // the oracle still delegates to its one sub-agent
  EXPECT_DOUBLE_EQ(single->mean_subagents, 1.0);
  EXPECT_LT(swarm->critical_steps, single->critical_steps);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_LT(swarm->episodes_detail[i].critical_steps, single->episodes_detail[i].critical_steps) << "seed " << 9000 + i;
  }

  const nlohmann::json j = EvalReportJson(*swarm);
  EXPECT_EQ(j["eval"], "swarm");
  EXPECT_EQ(j["seeds"], "9000-9002");
  EXPECT_EQ(j["mode"], "swarm");
  EXPECT_EQ(j["episodes"], 3);
  for (const char* key : {"success", "item_f1", "reward", "spawn_rate", "mean_subagents", "critical_steps", "total_steps",
                          "tool_calls", "wall_s", "failed_runs", "tokens"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(EvalEpisodeJson(single->episodes_detail[0])["seed"], 9000);
}

// A real (if useless) policy: it answers every turn with an empty table.
class EmptyAnswerPolicy : public workers::Policy {
 public:
  std::string name() const override { return "empty-answer"; }
  Result<workers::PolicyResponse> Generate(const workers::PolicyRequest&) override {
    return workers::PolicyResponse{workers::Message::Assistant("[]"), {}};
  }
};

TEST(Evaluation, AnEmptyAnswerScoresZeroWithoutFailing) {
  EmptyAnswerPolicy policy;
  EvalOptions o = Wide("swarm");
  o.policy_name = policy.name();
  Result<EvalReport> r = Evaluate(o, &policy);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->episodes, 3);
  EXPECT_EQ(r->failed_runs, 0);
  EXPECT_DOUBLE_EQ(r->success, 0.0);
  EXPECT_DOUBLE_EQ(r->item_f1, 0.0);
  EXPECT_DOUBLE_EQ(r->spawn_rate, 0.0);
  EXPECT_DOUBLE_EQ(r->mean_subagents, 0.0);
  EXPECT_DOUBLE_EQ(r->critical_steps, 1.0);  // one coordinator turn, nothing else
  EXPECT_EQ(EvalReportJson(*r)["policy"], "empty-answer");
  EXPECT_EQ(r->episodes_detail[0].answer, "[]");  // kept, to see what scored 0
}

TEST(Evaluation, BadOptionsAreNamed) {
  EmptyAnswerPolicy policy;
  auto expect_invalid = [&](EvalOptions o, const std::string& field) {
    Result<EvalReport> r = Evaluate(o, &policy);
    ASSERT_FALSE(r.ok()) << field;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr(field));
  };
  EvalOptions o;
  o.world = "atlantis";
  expect_invalid(o, "world");
  o = {};
  o.family = "narrow";
  expect_invalid(o, "family");
  o = {};
  o.items = 0;
  expect_invalid(o, "items");
  o.items = 201;
  expect_invalid(o, "items");
  o = {};
  o.seed_first = 10;
  o.seed_last = 9;
  expect_invalid(o, "seeds");
  o = {};
  o.mode = "duo";
  expect_invalid(o, "mode");
  o = {};
  o.jobs = 0;
  expect_invalid(o, "jobs");
  o = {};
  o.max_subagents = 101;
  expect_invalid(o, "max_subagents");
  o = {};
  EXPECT_EQ(Evaluate(o, nullptr).status().code(), StatusCode::kInvalidArgument);
}

TEST(Evaluation, EnginePolicyEpisodesOnARandomTinyModelAreCounted) {
  const engine::Tokenizer tokenizer = engine::ByteLevelTokenizer();
  engine::ModelConfig c = testing::TinyConfig();
  c.vocab_size = tokenizer.vocab_size();
  c.max_position_embeddings = 8192;  // the task prompt and tool specs, byte by byte
  auto model = engine::Model::Create(testing::TinyWeights(c, 5));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto eng = engine::InferenceEngine::Create(&*model, &tokenizer, {});
  ASSERT_TRUE(eng.ok()) << eng.status().ToString();
  workers::EnginePolicy::Options po;
  po.max_tokens = 24;
  workers::EnginePolicy policy(eng->get(), po);
  EvalOptions o;
  o.items = 2;
  o.seed_first = 9000;
  o.seed_last = 9001;
  o.jobs = 2;
  o.max_coordinator_steps = 2;
  o.max_subagent_steps = 2;
  o.policy_name = "engine";
  o.keep_episodes = true;
  Result<EvalReport> r = Evaluate(o, &policy);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->episodes, 2);
  ASSERT_EQ(r->episodes_detail.size(), 2u);
  int failed = 0;
  for (const EvalEpisode& e : r->episodes_detail) {
    std::printf("tiny engine episode %llu: %s, %lld tokens, item_f1 %.2f\n", static_cast<unsigned long long>(e.seed),
                e.status.c_str(), static_cast<long long>(e.tokens), e.item_f1);
    if (e.status == "ok") {
      EXPECT_GT(e.tokens, 0) << "a finished run decoded through the engine";
    } else {
      ++failed;
      EXPECT_FALSE(e.success);
      EXPECT_EQ(e.item_f1, 0.0);
    }
  }
  EXPECT_EQ(r->failed_runs, failed);
  EXPECT_LE(r->success, 0.5);  // random weights cannot fill a research table
}

}  // namespace
}  // namespace tide::rl
