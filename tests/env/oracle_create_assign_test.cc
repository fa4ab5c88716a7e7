// The oracle's api, compute and question coordinators under create_subagent + assign_task:
// real oracle sub-agents run each assignment on the episode's tools, and the verified
// reward is 1.0, as under spawn_subagents.
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "oracle_test_util.h"
#include "tide/env/api_world.h"
#include "tide/env/oracle_families.h"
#include "tide/env/world.h"

namespace tide::env {
namespace {

using nlohmann::json;

// create_subagent and assign_task over an episode's tools, as a swarm runs them: a created
// agent keeps its tools; each assignment is a fresh oracle agent on them.
class Crew {
 public:
  Crew(int limit, std::vector<std::shared_ptr<workers::Tool>> tools) : tools_(std::move(tools)), limit_(limit) {
    for (const auto& t : tools_) names_.push_back(t->spec().name);
  }

  class Create : public workers::Tool {
   public:
    explicit Create(Crew* crew) : crew_(crew), spec_(workers::CreateSubagentSpec(crew->limit_, crew->names_)) {}
    const workers::ToolSpec& spec() const override { return spec_; }
    Result<std::string> Call(const json& args) override {
      TIDE_ASSIGN_OR_RETURN(workers::SubagentDefinition d, workers::ParseCreateArguments(args, crew_->names_));
      std::lock_guard<std::mutex> lock(crew_->mu_);
      if (static_cast<int>(crew_->agents_.size()) >= crew_->limit_) return FailedPrecondition("limit reached");
      if (!crew_->agents_.emplace(d.name, d).second) return AlreadyExists("agent exists: " + d.name);
      ++crew_->creates;
      return json{{"created", d.name}}.dump();
    }

   private:
    Crew* crew_;
    workers::ToolSpec spec_;
  };

  class Assign : public workers::Tool {
   public:
    explicit Assign(Crew* crew) : crew_(crew), spec_(workers::AssignTaskSpec()) {}
    const workers::ToolSpec& spec() const override { return spec_; }
    Result<std::string> Call(const json& args) override {
      TIDE_ASSIGN_OR_RETURN(workers::TaskAssignment a, workers::ParseAssignArguments(args));
      workers::SubagentDefinition d;
      {
        std::lock_guard<std::mutex> lock(crew_->mu_);
        auto it = crew_->agents_.find(a.agent);
        if (it == crew_->agents_.end()) return NotFound("no agent named " + a.agent);
        d = it->second;
        ++crew_->assigns;
      }
      std::vector<std::shared_ptr<workers::Tool>> subset;
      for (const auto& t : crew_->tools_) {
        if (d.tools.empty() || std::find(d.tools.begin(), d.tools.end(), t->spec().name) != d.tools.end()) subset.push_back(t);
      }
      workers::ToolRegistry registry = testing::Registry(subset);
      OraclePolicy policy;
      workers::AgentOutcome out = testing::RunAgent(&policy, registry, a.task, d.name, 60);
      return workers::FormatSubagentReports({{d.name, workers::AgentEndName(out.end), out.result, out.steps, out.tool_calls}});
    }

   private:
    Crew* crew_;
    workers::ToolSpec spec_;
  };

  std::vector<std::shared_ptr<workers::Tool>> CoordinatorTools() {
    return {std::make_shared<Create>(this), std::make_shared<Assign>(this)};
  }

  int creates = 0, assigns = 0;

 private:
  std::vector<std::shared_ptr<workers::Tool>> tools_;
  std::vector<std::string> names_;
  int limit_;
  std::mutex mu_;
  std::map<std::string, workers::SubagentDefinition> agents_;
};

struct Case {
  std::string world, family;
  int items;
};

TEST(OracleCreateAssignTest, CoordinatorsReachRewardOneThroughCreateAndAssign) {
  const std::vector<Case> cases = {{"api", "api-goal", 6},     {"api", "api-dialogue", 5},    {"compute", "chain", 6},
                                   {"research", "lookup", 20}, {"research", "multi-hop", 20}, {"research", "aggregate", 8}};
  for (const Case& c : cases) {
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      TaskParams p;
      p.family = c.family;
      p.seed = seed;
      p.items = c.items;
      Result<std::unique_ptr<Episode>> e = FindWorld(c.world).value()->Reset(p);
      ASSERT_TRUE(e.ok()) << e.status().ToString();
      Crew crew(4, (*e)->tools());
      workers::ToolRegistry registry = testing::Registry(crew.CoordinatorTools());
      OraclePolicy oracle;
      workers::AgentOutcome out = testing::RunAgent(&oracle, registry, (*e)->prompt(), "coordinator", 10);
      ASSERT_EQ(out.end, workers::AgentEnd::kFinished) << c.world << "/" << c.family << " " << out.error.ToString();
      const Verdict v = (*e)->Verify(out.result);
      EXPECT_EQ(v.reward, 1.0) << c.world << "/" << c.family << " seed " << seed << "\n" << out.result << "\n"
                               << v.details.dump(1);
      EXPECT_GE(crew.creates, 1) << c.world << "/" << c.family;
      EXPECT_LE(crew.creates, 4);
      EXPECT_GE(crew.assigns, crew.creates);
    }
  }
}

TEST(OracleCreateAssignTest, FirstTurnCreatesThenAssignsAndReassignsAFailedGroup) {
  TaskParams p;
  p.family = kApiGoalFamily;
  p.seed = 7;
  p.items = 6;
  Result<std::unique_ptr<Episode>> e = ApiWorld().Reset(p);
  ASSERT_TRUE(e.ok());
  std::vector<workers::ToolSpec> tools = {workers::CreateSubagentSpec(3, {"find_customers"}), workers::AssignTaskSpec()};
  std::vector<workers::Message> messages = {workers::Message::User((*e)->prompt())};
  OraclePolicy oracle;
  Result<workers::PolicyResponse> first = oracle.Generate({&messages, &tools, "coordinator", nullptr});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const std::vector<workers::ToolCall>& calls = first->message.tool_calls;
  ASSERT_EQ(calls.size(), 6u);  // three creates (the limit), then three assigns
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].name, i < 3 ? workers::kCreateSubagentTool : workers::kAssignTaskTool) << i;
  }
  // operator-2 fails: it is assigned its steps again, and not created again.
  messages.push_back(first->message);
  for (size_t i = 0; i < calls.size(); ++i) {
    const json args = json::parse(calls[i].arguments);
    if (i < 3) {
      messages.push_back(workers::Message::Tool(calls[i].id, json{{"created", args["name"]}}.dump()));
      continue;
    }
    const std::string agent = args["agent"];
    const bool failed = agent == "operator-2";
    messages.push_back(workers::Message::Tool(
        calls[i].id, workers::FormatSubagentReports({{agent, failed ? "failed" : "finished", failed ? "" : "2 of 2 steps are done", 3, 2}})));
  }
  Result<workers::PolicyResponse> second = oracle.Generate({&messages, &tools, "coordinator", nullptr});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_EQ(second->message.tool_calls.size(), 1u);
  EXPECT_EQ(second->message.tool_calls[0].name, workers::kAssignTaskTool);
  const json again = json::parse(second->message.tool_calls[0].arguments);
  EXPECT_EQ(again["agent"], "operator-2");
  EXPECT_EQ(again["task"], json::parse(calls[4].arguments)["task"]);
}

TEST(OracleCreateAssignTest, NotUsedWhenSpawnIsOfferedOrThePairIsIncomplete) {
  std::vector<workers::Message> messages = {workers::Message::User("x")};
  auto never = [](const workers::PolicyRequest&) -> std::optional<Result<workers::Message>> {
    ADD_FAILURE() << "the spawn turn ran";
    return std::nullopt;
  };
  std::vector<workers::ToolSpec> spawn = {workers::SpawnSubagentsSpec(4, {}), workers::CreateSubagentSpec(4, {}),
                                          workers::AssignTaskSpec()};
  EXPECT_FALSE(CreateAssignViaSpawn({&messages, &spawn, "c", nullptr}, never).has_value());
  std::vector<workers::ToolSpec> create_only = {workers::CreateSubagentSpec(4, {})};
  EXPECT_FALSE(CreateAssignViaSpawn({&messages, &create_only, "c", nullptr}, never).has_value());
}

}  // namespace
}  // namespace tide::env
