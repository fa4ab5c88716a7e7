#include "tide/env/api_world.h"

#include <algorithm>
#include <functional>

#include <gtest/gtest.h>

#include "tide/env/world.h"

namespace tide::env {
namespace {

using nlohmann::json;

std::unique_ptr<ApiEpisode> Reset(TaskParams p) {
  p.family = kApiGoalFamily;
  Result<std::unique_ptr<ApiEpisode>> e = ApiWorld().ResetApi(p);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

TaskParams Params(uint64_t seed, int items = 6, double failure_rate = 0) {
  TaskParams p;
  p.seed = seed;
  p.items = items;
  p.failure_rate = failure_rate;
  return p;
}

// Applies the goal state directly, as a perfect agent would leave it.
void ApplyGoal(const ApiEpisode& e) {
  ApiSimulator& sim = e.simulator();
  const ApiSuite& suite = e.suite();
  const ApiState& init = e.initial_state();
  for (const ApiRecord& want : e.goal_state().records) {
    const ApiDomain& d = suite.domains[static_cast<size_t>(want.domain)];
    const ApiRecord* before = nullptr;
    for (const ApiRecord& r : init.records) {
      if (r.id == want.id) before = &r;
    }
    if (before == nullptr) {
      json args = want.fields;
      args[d.owner_key()] = want.owner_id;
      ASSERT_TRUE(sim.Call("create_" + d.noun, args).ok());
      continue;
    }
    if (before->fields != want.fields) {
      json args = {{d.id_key(), want.id}};
      for (const auto& [k, v] : want.fields.items()) {
        if (before->fields.value(k, json()) != v) args[k] = v;
      }
      ASSERT_TRUE(sim.Call("update_" + d.noun, args).ok());
    }
    // Moves the status on: straight to the goal status when one action does it, else through
    // an action after which one more does.
    std::string status = before->status;
    for (int guard = 0; status != want.status && guard < 2; ++guard) {
      const ApiAction* pick = nullptr;
      for (const ApiAction& a : d.actions) {
        const bool from = std::find(a.from.begin(), a.from.end(), status) != a.from.end();
        if (from && a.to == want.status) pick = &a;
      }
      for (const ApiAction& a : d.actions) {
        if (pick != nullptr || std::find(a.from.begin(), a.from.end(), status) == a.from.end()) continue;
        for (const ApiAction& b : d.actions) {
          if (std::find(b.from.begin(), b.from.end(), a.to) != b.from.end() && b.to == want.status) pick = &a;
        }
      }
      ASSERT_NE(pick, nullptr) << want.id << " " << status << " -> " << want.status;
      ASSERT_TRUE(sim.Call(pick->verb + "_" + d.noun, {{d.id_key(), want.id}}).ok());
      status = pick->to;
    }
  }
}

TEST(ApiWorldTest, RegisteredAndValidatesParams) {
  Result<const World*> w = FindWorld("api");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ((*w)->task_families(), (std::vector<std::string>{"api-goal", "api-dialogue"}));
  TaskParams p;
  p.family = "wide";
  EXPECT_NE((*w)->Reset(p).status().message().find("known: api-goal, api-dialogue"), std::string::npos);
  for (auto bad : std::vector<std::function<void(TaskParams&)>>{
           [](TaskParams& t) { t.items = 0; }, [](TaskParams& t) { t.items = 201; },
           [](TaskParams& t) { t.distractors = -2; }, [](TaskParams& t) { t.failure_rate = 0.9; },
           [](TaskParams& t) { t.failure_rate = -0.5; }, [](TaskParams& t) { t.columns = 2; },
           [](TaskParams& t) { t.hops = 1; }}) {
    TaskParams t;
    bad(t);
    EXPECT_EQ((*w)->Reset(t).status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_NE((*w)->Reset([] { TaskParams t; t.failure_rate = 0.9; return t; }()).status().message().find("failure_rate"),
            std::string::npos);
}

TEST(ApiWorldTest, SameSeedSameWorldTaskAndAnswer) {
  auto a = Reset(Params(31, 8, 0.1)), b = Reset(Params(31, 8, 0.1)), c = Reset(Params(32, 8, 0.1));
  EXPECT_EQ(a->prompt(), b->prompt());
  EXPECT_EQ(a->public_task(), b->public_task());
  EXPECT_EQ(a->GoalStateJson(), b->GoalStateJson());
  ASSERT_EQ(a->tools().size(), b->tools().size());
  for (size_t i = 0; i < a->tools().size(); ++i) {
    EXPECT_EQ(a->tools()[i]->spec().parameters, b->tools()[i]->spec().parameters);
  }
  EXPECT_NE(a->prompt(), c->prompt());
}

TEST(ApiWorldTest, TaskCarriesARubricAndNoAnswer) {
  auto e = Reset(Params(4, 5));
  json t = e->public_task();
  EXPECT_EQ(t["world"], "api");
  EXPECT_EQ(t["family"], "api-goal");
  EXPECT_EQ(t["items"], 5);
  EXPECT_EQ(t["steps"].size(), 5u);
  EXPECT_EQ(t["rubric"]["expected_tool_pattern"].size(), 5u);
  EXPECT_GE(t["rubric"]["criteria"].size(), 3u);
  EXPECT_EQ(t["rubric"]["forbidden"]["tools"], json(e->task().forbidden_tools));
  EXPECT_NE(e->prompt().find("API goal (5 steps):"), std::string::npos);
  for (const ApiRecord& r : e->goal_state().records) {
    EXPECT_EQ(e->prompt().find(r.id), std::string::npos) << "the task names record " << r.id;
  }
}

TEST(ApiWorldTest, EveryStepChangesSomethingAndKnobsScale) {
  for (uint64_t seed = 0; seed < 40; ++seed) {
    auto e = Reset(Params(seed, 4));
    size_t changed = 0;
    for (const ApiRecord& want : e->goal_state().records) {
      bool same = false;
      for (const ApiRecord& r : e->initial_state().records) {
        same = same || (r.id == want.id && r.status == want.status && r.fields == want.fields);
      }
      changed += !same;
    }
    EXPECT_GE(changed, 4u) << "seed " << seed;
  }
  TaskParams few = Params(5, 10), many = Params(5, 10);
  few.distractors = 0;
  many.distractors = 40;
  EXPECT_GT(Reset(many)->initial_state().owners.size(), Reset(few)->initial_state().owners.size() + 30);
}

TEST(ApiWorldTest, GoalStateScoresOneAndTheUntouchedStateZero) {
  for (uint64_t seed : {1u, 2u, 3u, 77u}) {
    auto untouched = Reset(Params(seed));
    Verdict v0 = untouched->Verify("done");
    EXPECT_EQ(v0.reward, 0.0);
    EXPECT_FALSE(v0.success);
    EXPECT_EQ(v0.recall, 0.0);
    EXPECT_EQ(v0.details["steps_done"], 0);
    auto e = Reset(Params(seed));
    ApplyGoal(*e);
    Verdict v = e->Verify("");
    EXPECT_EQ(v.reward, 1.0) << "seed " << seed << ": " << v.details.dump();
    EXPECT_TRUE(v.success);
    EXPECT_EQ(v.item_f1, 1.0);
    EXPECT_EQ(v.details["steps_done"], 6);
  }
}

TEST(ApiWorldTest, WrongEndStatesScoreBelowOne) {
  // One extra change to a record outside the goal: a mismatch and a forbidden action.
  auto e = Reset(Params(9));
  ApplyGoal(*e);
  const ApiState& goal = e->goal_state();
  std::string outside;
  for (const ApiRecord& r : e->initial_state().records) {
    for (const ApiRecord& g : goal.records) {
      if (g.id == r.id && g.status == r.status && g.fields == r.fields && !e->suite().domains[0].IsTerminal(r.status) &&
          r.domain == 0 && outside.empty()) {
        outside = r.id;
      }
    }
  }
  ASSERT_FALSE(outside.empty());
  const ApiDomain& d = e->suite().domains[0];
  ASSERT_TRUE(e->simulator().Call("update_" + d.noun, {{d.id_key(), outside}, {"notes", "touched"}}).ok());
  Verdict v = e->Verify("");
  EXPECT_LT(v.reward, 1.0);
  EXPECT_FALSE(v.details["state_match"].get<bool>());
  EXPECT_LT(v.precision, 1.0);
  EXPECT_EQ(v.recall, 1.0);
  ASSERT_EQ(v.details["forbidden_actions"].size(), 1u);
  EXPECT_EQ(v.details["forbidden_actions"][0]["record"], outside);

  // A duplicate creation (a retried create without request_id) is an extra record.
  for (uint64_t seed = 0; seed < 30; ++seed) {
    auto c = Reset(Params(seed));
    const ApiStep* create = nullptr;
    for (const ApiStep& s : c->task().steps) {
      if (s.kind == ApiStepKind::kCreate) create = &s;
    }
    if (create == nullptr) continue;
    ApplyGoal(*c);
    std::string owner;
    for (const ApiOwner& o : c->initial_state().owners) {
      if (o.name == create->owner_name) owner = o.id;
    }
    json args = create->fields;
    args[create->owner + "_id"] = owner;
    ASSERT_TRUE(c->simulator().Call("create_" + create->noun, args).ok());
    Verdict dup = c->Verify("");
    EXPECT_EQ(dup.reward, 0.0);
    EXPECT_LT(dup.item_f1, 1.0);
    EXPECT_EQ(dup.details["mismatches"], 1);
    break;
  }
}

TEST(ApiWorldTest, ForbiddenToolsScoreZeroEvenWhenTheStateMatches) {
  auto e = Reset(Params(12));
  ApplyGoal(*e);
  const ApiDomain& d = e->suite().domains[1];
  // A delete of a record that does not exist changes nothing, but calling the tool is forbidden.
  EXPECT_FALSE(e->simulator().Call("delete_" + d.noun, {{d.id_key(), "NOPE-1"}}).ok());
  Verdict v = e->Verify("");
  EXPECT_TRUE(v.details["state_match"].get<bool>());
  EXPECT_EQ(v.reward, 0.0);
  EXPECT_EQ(v.details["forbidden_actions"][0]["tool"], "delete_" + d.noun);
  EXPECT_NE(v.details["reason"].get<std::string>().find("forbidden"), std::string::npos);
}

TEST(ApiWorldTest, PartialProgressShowsInTheDetails) {
  auto e = Reset(Params(21, 6));
  ApplyGoal(*e);
  Verdict full = e->Verify("");
  ASSERT_EQ(full.reward, 1.0) << full.details.dump(1);
  // Undo one step's first target by moving it on once more, or set a field back, via a fresh episode.
  auto half = Reset(Params(21, 6));
  // Only the created records of the goal: every other step stays undone.
  const ApiState& init = half->initial_state();
  size_t created = 0;
  for (const ApiRecord& want : half->goal_state().records) {
    if (std::any_of(init.records.begin(), init.records.end(), [&](const ApiRecord& r) { return r.id == want.id; })) continue;
    const ApiDomain& d = half->suite().domains[static_cast<size_t>(want.domain)];
    json args = want.fields;
    args[d.owner_key()] = want.owner_id;
    ASSERT_TRUE(half->simulator().Call("create_" + d.noun, args).ok());
    ++created;
  }
  Verdict v = half->Verify("");
  EXPECT_EQ(v.reward, 0.0);
  EXPECT_EQ(v.precision, created > 0 ? 1.0 : 0.0);
  EXPECT_LT(v.recall, 1.0);
  EXPECT_EQ(v.details["steps_done"].get<size_t>(), created);
}

}  // namespace
}  // namespace tide::env
