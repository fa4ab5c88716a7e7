#include <set>

#include <gtest/gtest.h>

#include "oracle_test_util.h"
#include "tide/env/oracle.h"
#include "tide/env/research_world.h"
#include "tide/env/wide_task.h"

namespace tide::env {
namespace {

using testing::Registry;
using testing::RunAgent;

std::unique_ptr<ResearchEpisode> Episode(uint64_t seed, int items, int columns = 0) {
  TaskParams p;
  p.seed = seed;
  p.items = items;
  p.columns = columns;
  Result<std::unique_ptr<ResearchEpisode>> e = ResearchWorld().ResetResearch(p);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return std::move(e).value();
}

TEST(OracleResearcherTest, SolvesTwentyItemsAloneForSeedsOneToTwenty) {
  OraclePolicy oracle;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    auto episode = Episode(seed, 20);
    workers::ToolRegistry tools = Registry(episode->tools());
    workers::AgentOutcome out = RunAgent(&oracle, tools, episode->prompt());
    ASSERT_EQ(out.end, workers::AgentEnd::kFinished) << out.error.ToString();
    Verdict v = episode->Verify(out.result);
    EXPECT_TRUE(v.success) << "seed " << seed << ": " << v.details.dump(1);
    EXPECT_EQ(out.steps, 3) << "seed " << seed;  // search, open, answer
    EXPECT_EQ(out.tool_calls, 40) << "seed " << seed;
    EXPECT_GT(out.usage.prompt_tokens, 0);
    EXPECT_GT(out.usage.completion_tokens, 0);
  }
}

TEST(OracleResearcherTest, AllColumnsAndOtherSizes) {
  OraclePolicy oracle;
  for (int items : {1, 7, 60}) {
    auto episode = Episode(static_cast<uint64_t>(items) * 31, items, 6);
    workers::ToolRegistry tools = Registry(episode->tools());
    workers::AgentOutcome out = RunAgent(&oracle, tools, episode->prompt());
    Verdict v = episode->Verify(out.result);
    EXPECT_TRUE(v.success) << "items " << items << ": " << v.details.dump(1);
  }
}

TEST(OracleResearcherTest, ParallelCallsHaveUniqueIds) {
  OraclePolicy oracle;
  auto episode = Episode(4, 5);
  workers::ToolRegistry tools = Registry(episode->tools());
  workers::Agent agent({"solo", 10, nullptr}, &oracle, &tools, nullptr);
  agent.Run({workers::Message::User(episode->prompt())});
  std::set<std::string> ids;
  for (const workers::Message& m : agent.context()) {
    for (const workers::ToolCall& c : m.tool_calls) EXPECT_TRUE(ids.insert(c.id).second) << c.id;
  }
  EXPECT_EQ(ids.size(), 10u);
  EXPECT_TRUE(ids.count("call_1_1"));
  EXPECT_TRUE(ids.count("call_2_5"));
}

// Wraps `open` and rewrites one value in the documents it returns.
class RewritingOpen : public workers::Tool {
 public:
  RewritingOpen(std::shared_ptr<workers::Tool> inner, std::string title, std::string from, std::string to)
      : inner_(std::move(inner)), title_(std::move(title)), from_(std::move(from)), to_(std::move(to)) {}
  const workers::ToolSpec& spec() const override { return inner_->spec(); }
  Result<std::string> Call(const nlohmann::json& arguments) override {
    TIDE_ASSIGN_OR_RETURN(std::string out, inner_->Call(arguments));
    nlohmann::json doc = nlohmann::json::parse(out);
    if (doc["title"] != title_) return out;
    std::string text = doc["text"].get<std::string>();
    for (size_t pos = text.find(from_); pos != std::string::npos; pos = text.find(from_, pos + to_.size())) {
      text.replace(pos, from_.size(), to_);
    }
    doc["text"] = text;
    return doc.dump();
  }

 private:
  std::shared_ptr<workers::Tool> inner_;
  std::string title_, from_, to_;
};

TEST(OracleResearcherTest, AnswersWhatTheToolsSayNotTheTruth) {
  auto episode = Episode(8, 10, 6);
  const GoldTable& gold = episode->gold();
  ASSERT_EQ(gold.columns[0].name, "headquarters");
  const std::string target = gold.keys[3];
  const std::string truth = gold.cells[3][0];
  std::vector<std::shared_ptr<workers::Tool>> tools = episode->tools();
  for (auto& t : tools) {
    if (t->spec().name == "open") t = std::make_shared<RewritingOpen>(t, target, truth, "Zorbaville");
  }
  OraclePolicy oracle;
  workers::ToolRegistry registry = Registry(tools);
  workers::AgentOutcome out = RunAgent(&oracle, registry, episode->prompt());
  ASSERT_EQ(out.end, workers::AgentEnd::kFinished);

  Verdict v = episode->Verify(out.result);
  EXPECT_FALSE(v.success);
  const double cells = static_cast<double>(gold.keys.size() * gold.columns.size());
  EXPECT_NEAR(v.item_f1, (cells - 1) / cells, 1e-12);
  for (const nlohmann::json& cell : v.details["cells"]) {
    bool tampered = cell["entity"] == target && cell["column"] == "headquarters";
    EXPECT_EQ(cell["correct"].get<bool>(), !tampered) << cell.dump();
    if (tampered) {
      EXPECT_EQ(cell["predicted"], "Zorbaville");
    }
  }
}

TEST(OracleResearcherTest, GivesUpWithNullsWhenNoProfileIsFound) {
  OraclePolicy oracle;
  auto episode = Episode(2, 3);
  workers::ToolRegistry tools = Registry(episode->tools());
  std::string prompt = FormatWideTask({"Nonexistent Entity Zyx"}, {"founder"});
  workers::Agent agent({"solo", 10, nullptr}, &oracle, &tools, nullptr);
  workers::AgentOutcome out = agent.Run({workers::Message::User(prompt)});
  ASSERT_EQ(out.end, workers::AgentEnd::kFinished);
  EXPECT_EQ(out.steps, 3);  // search, wider search, answer
  nlohmann::json args = nlohmann::json::parse(agent.context()[3].tool_calls[0].arguments);
  EXPECT_EQ(args["limit"], 20);
  EXPECT_NE(out.result.find("\"founder\": null"), std::string::npos) << out.result;
}

}  // namespace
}  // namespace tide::env
