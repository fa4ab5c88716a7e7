#include "tide/env/api_user.h"

#include <gtest/gtest.h>

#include <set>

#include "oracle_test_util.h"
#include "tide/env/api_world.h"
#include "tide/env/oracle.h"

namespace tide::env {
namespace {

using nlohmann::json;

std::unique_ptr<ApiEpisode> Reset(uint64_t seed, int items, const std::string& family = kApiDialogueFamily) {
  TaskParams p;
  p.family = family;
  p.seed = seed;
  p.items = items;
  Result<std::unique_ptr<ApiEpisode>> e = ApiWorld().ResetApi(p);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return std::move(e).value();
}

// Passes calls through to the episode's ask_user tool and keeps the dialogue.
class RecordingTool : public workers::Tool {
 public:
  explicit RecordingTool(std::shared_ptr<workers::Tool> inner) : inner_(std::move(inner)) {}
  const workers::ToolSpec& spec() const override { return inner_->spec(); }
  Result<std::string> Call(const json& arguments) override {
    Result<std::string> r = inner_->Call(arguments);
    std::lock_guard<std::mutex> lock(mu_);
    turns.push_back(arguments.dump() + " -> " + (r.ok() ? *r : r.status().ToString()));
    return r;
  }
  std::vector<std::string> turns;

 private:
  std::shared_ptr<workers::Tool> inner_;
  std::mutex mu_;
};

struct Solved {
  workers::AgentOutcome out;
  Verdict verdict;
  std::vector<std::string> dialogue;
};

// The oracle as one operator on the episode's tools; without_ask drops ask_user.
Solved Solve(const ApiEpisode& e, bool without_ask = false) {
  OraclePolicy oracle;
  std::vector<std::shared_ptr<workers::Tool>> tools;
  std::shared_ptr<RecordingTool> recorder;
  for (const auto& t : e.tools()) {
    if (t->spec().name != kAskUserTool) {
      tools.push_back(t);
    } else if (!without_ask) {
      recorder = std::make_shared<RecordingTool>(t);
      tools.push_back(recorder);
    }
  }
  workers::ToolRegistry registry = testing::Registry(tools);
  Solved s;
  s.out = testing::RunAgent(&oracle, registry, e.prompt(), "operator", 80);
  s.verdict = e.Verify(s.out.result);
  if (recorder) s.dialogue = recorder->turns;
  return s;
}

TEST(ApiUserTest, TheFirstMessageHoldsDetailsBackAndParsesBack) {
  for (uint64_t seed = 0; seed < 50; ++seed) {
    auto e = Reset(seed, 1 + static_cast<int>(seed % 6));
    ASSERT_NE(e->user(), nullptr);
    EXPECT_EQ(e->family(), kApiDialogueFamily);
    const ApiTaskSpec& shown = e->shown_task();
    ASSERT_FALSE(shown.steps[0].hidden.empty());
    EXPECT_EQ(shown.steps[0].hidden[0].what, ApiDetail::kOwnerName);
    EXPECT_TRUE(shown.steps[0].owner_name.empty());
    // The prompt names no held-back value and reads back to the shown task.
    const std::string prompt = e->prompt();
    EXPECT_EQ(prompt.find(json(e->task().steps[0].owner_name).dump()), std::string::npos) << prompt;
    EXPECT_NE(prompt.find("ask_user"), std::string::npos);
    Result<ApiTaskSpec> parsed = ParseApiTask(prompt);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << prompt;
    EXPECT_TRUE(parsed->steps == shown.steps);
    EXPECT_EQ(e->public_task().dump().find(json(e->task().steps[0].owner_name).dump()), std::string::npos);
    EXPECT_EQ(e->public_task()["family"], kApiDialogueFamily);
    // Revealing every detail gives the full goal back.
    ApiTaskSpec filled = shown;
    for (const ApiUserDetail& d : e->user()->details()) {
      ASSERT_TRUE(RevealDetail(filled.steps[d.step], d.label, d.value).ok());
    }
    EXPECT_TRUE(filled.steps == e->task().steps) << "seed " << seed;
  }
}

TEST(ApiUserTest, TheGoalFamilyIsUnchanged) {
  auto e = Reset(3, 4, kApiGoalFamily);
  EXPECT_EQ(e->user(), nullptr);
  EXPECT_EQ(e->prompt().find("[detail"), std::string::npos);
  for (const auto& t : e->tools()) EXPECT_NE(t->spec().name, kAskUserTool);
}

TEST(ApiUserTest, TheUserRevealsOneDetailAQuestionInPersonaWording) {
  ApiUserSimulator user({{1, 0, ApiDetail::kOwnerName, "Ana Silva"}, {2, 1, ApiDetail::kThreshold, 250}}, "chatty", 7);
  const std::string one = user.Reply("What is [detail 1]?");
  EXPECT_EQ(ParseUserReply(one).value(), "Ana Silva") << one;
  EXPECT_EQ(ParseUserReply(user.Reply("and DETAIL 2 please")).value(), 250);
  // Two details named: only the first is told.
  const std::string both = user.Reply("What are detail 2 and detail 1?");
  EXPECT_EQ(ParseUserReply(both).value(), 250);
  EXPECT_EQ(both.find("Ana"), std::string::npos);
  // A question naming no known detail gets asked back, with no value in it.
  for (const std::string q : {"Who is the customer?", "What is [detail 9]?", "details"}) {
    const std::string r = user.Reply(q);
    EXPECT_EQ(ParseUserReply(r).status().code(), StatusCode::kNotFound) << r;
    EXPECT_EQ(r.find("Ana"), std::string::npos);
  }
  EXPECT_EQ(user.Reply("What is [detail 1]?"), one) << "a reply is a pure function of the question";
}

TEST(ApiUserTest, PersonasWordTheRepliesDifferently) {
  std::set<std::string> personas, wordings;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    auto e = Reset(seed, 2);
    personas.insert(e->user()->persona());
    std::string reply = e->user()->Reply("What is [detail 1]?");
    reply.replace(reply.find(json(e->task().steps[0].owner_name).dump()), json(e->task().steps[0].owner_name).dump().size(), "V");
    wordings.insert(reply);
  }
  EXPECT_EQ(personas.size(), ApiUserPersonas().size());
  EXPECT_GE(wordings.size(), 10u);
}

TEST(ApiUserTest, AskUserRejectsAMissingQuestion) {
  auto e = Reset(1, 2);
  std::shared_ptr<workers::Tool> ask;
  for (const auto& t : e->tools()) {
    if (t->spec().name == kAskUserTool) ask = t;
  }
  ASSERT_NE(ask, nullptr);
  EXPECT_EQ(ask->Call(json::object()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ask->Call({{"question", ""}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ask->Call({{"question", 3}}).status().code(), StatusCode::kInvalidArgument);
}

TEST(ApiUserTest, ParseUserReplyAndRevealCheckTypes) {
  EXPECT_EQ(ParseUserReply("It's {\"a\":[1,2]}.").value(), json({{"a", {1, 2}}}));
  EXPECT_EQ(ParseUserReply("Use -12.").value(), -12);
  EXPECT_EQ(ParseUserReply("It's false.").value(), false);
  EXPECT_FALSE(ParseUserReply("Which one? Name it.").ok());
  ApiStep step;
  step.hidden = {{ApiDetail::kOwnerName, 1}, {ApiDetail::kThreshold, 2}};
  EXPECT_EQ(RevealDetail(step, 1, 5).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RevealDetail(step, 2, "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RevealDetail(step, 3, 5).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(RevealDetail(step, 2, 40).ok());
  EXPECT_EQ(step.above, 40);
  EXPECT_EQ(step.hidden.size(), 1u);
}

TEST(ApiUserTest, OracleScoresOneOnTwoHundredSeedsByAsking) {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    auto e = Reset(seed, 1 + static_cast<int>(seed % 6));
    Solved s = Solve(*e);
    ASSERT_EQ(s.out.end, workers::AgentEnd::kFinished) << "seed " << seed << ": " << s.out.error.ToString();
    EXPECT_EQ(s.verdict.reward, 1.0) << "seed " << seed << "\n" << e->prompt() << "\n" << s.out.result << "\n"
                                     << s.verdict.details.dump(1);
    // One question per held-back detail: it asks, and never needs to ask twice.
    EXPECT_EQ(s.dialogue.size(), e->user()->details().size()) << "seed " << seed;
  }
}

TEST(ApiUserTest, AnAgentThatDoesNotAskCannotReachTheGoal) {
  for (uint64_t seed = 0; seed < 30; ++seed) {
    auto e = Reset(seed, 1 + static_cast<int>(seed % 6));
    Solved s = Solve(*e, /*without_ask=*/true);
    EXPECT_LT(s.verdict.reward, 1.0) << "seed " << seed;
    EXPECT_NE(s.out.result.find("no ask_user tool"), std::string::npos) << s.out.result;
  }
}

TEST(ApiUserTest, SameSeedSameDialogue) {
  for (uint64_t seed : {4u, 17u, 23u}) {
    Solved a = Solve(*Reset(seed, 5));
    Solved b = Solve(*Reset(seed, 5));
    ASSERT_FALSE(a.dialogue.empty());
    EXPECT_EQ(a.dialogue, b.dialogue);
    EXPECT_EQ(Reset(seed, 5)->prompt(), Reset(seed, 5)->prompt());
  }
  EXPECT_NE(Solve(*Reset(4, 5)).dialogue, Solve(*Reset(5, 5)).dialogue);
}

TEST(ApiUserTest, CoordinatorOperatorsAskForTheirOwnDetails) {
  for (uint64_t seed : {5u, 6u, 7u}) {
    auto e = Reset(seed, 12);
    auto spawn = std::make_shared<testing::SpawnTool>(4, e->tools());
    workers::ToolRegistry registry = testing::Registry({spawn});
    OraclePolicy oracle;
    workers::AgentOutcome out = testing::RunAgent(&oracle, registry, e->prompt(), "coordinator", 10);
    ASSERT_EQ(out.end, workers::AgentEnd::kFinished) << out.error.ToString();
    EXPECT_EQ(e->Verify(out.result).reward, 1.0) << "seed " << seed << "\n" << out.result;
  }
}

}  // namespace
}  // namespace tide::env
