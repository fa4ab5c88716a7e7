// Data generation end to end in process: real swarms on the oracle over research tasks,
// every example checked against the OpenAI fine-tuning shape; rejection sampling keeps
// only runs that reach the threshold; duplicates are dropped; the output is the same byte
// for byte whatever the number of threads; failing swarms are counted, not fatal; bad
// options name the option.
#include "tide/rl/data_gen.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "../orchestrator/orchestrator_test_util.h"
#include "openai_shape_check.h"
#include "tide/env/world.h"
#include "tide/rl/example_dedup.h"
#include "tide/rl/gen_policy.h"

namespace tide::rl {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
using orchestrator::testing::Reply;
using orchestrator::testing::ScriptedPolicy;
using orchestrator::testing::TempDir;

GenOptions Research(int tasks, int items = 3) {
  GenOptions o;
  o.worlds = {"research"};
  o.families = {"wide"};
  o.tasks = tasks;
  o.items = items;
  o.seed = 5;
  o.max_subagents = 3;
  o.jobs = 3;
  o.subagent_threads = 2;
  return o;
}

std::vector<json> Lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << line.substr(0, 200);
    out.push_back(j);
  }
  return out;
}

Result<GenReport> Generate(const std::vector<GenTask>& tasks, const GenOptions& o, workers::Policy* p, std::string* out) {
  std::ostringstream jsonl;
  Result<GenReport> r = GenerateData(tasks, o, p, jsonl);
  *out = jsonl.str();
  return r;
}

TEST(PlanTasksTest, DeterministicRoundRobinOverWorldFamilies) {
  GenOptions o;
  o.worlds = {"research"};
  o.tasks = 50;
  o.seed = 9;
  auto a = PlanTasks(o), b = PlanTasks(o);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->size(), 50u);
  const auto families = env::FindWorld("research").value()->task_families();
  std::set<uint64_t> seeds;
  for (size_t i = 0; i < a->size(); ++i) {
    const GenTask& t = (*a)[i];
    EXPECT_EQ(t.world, "research");
    EXPECT_EQ(t.family, families[i % families.size()]);
    EXPECT_GE(t.items, o.min_items);
    EXPECT_LE(t.items, o.max_items);
    EXPECT_EQ(t.seed, (*b)[i].seed);
    EXPECT_EQ(t.items, (*b)[i].items);
    seeds.insert(t.seed);
  }
  EXPECT_EQ(seeds.size(), 50u);
  std::set<int> sizes;
  for (const auto& t : *a) sizes.insert(t.items);
  EXPECT_GT(sizes.size(), 3u) << "task sizes should vary when --items is not given";
  o.seed = 10;
  EXPECT_NE(PlanTasks(o)->front().seed, a->front().seed);

  o.families = {"research/wide"};
  o.items = 7;
  auto only = PlanTasks(o);
  ASSERT_TRUE(only.ok());
  for (const auto& t : *only) {
    EXPECT_EQ(t.family, "wide");
    EXPECT_EQ(t.items, 7);
  }
}

TEST(PlanTasksTest, BadOptionsNameTheOption) {
  GenOptions o;
  o.worlds = {"research", "atlantis"};
  Status s = PlanTasks(o).status();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("unknown world \"atlantis\" (known: research"));
  o.worlds = {"research"};
  o.families = {"sonnets"};
  s = PlanTasks(o).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--families"));
  EXPECT_THAT(s.message(), HasSubstr("research/wide"));
  o.families = {};
  o.tasks = 0;
  EXPECT_THAT(PlanTasks(o).status().message(), HasSubstr("--tasks"));
  o.tasks = 1;
  o.min_reward = 1.5;
  EXPECT_THAT(PlanTasks(o).status().message(), HasSubstr("--min-reward"));
  o.min_reward = 1;
  o.max_subagents = 0;
  EXPECT_THAT(PlanTasks(o).status().message(), HasSubstr("--subagents"));
  o.max_subagents = 8;
  o.worlds = {"research", "research"};
  EXPECT_THAT(PlanTasks(o).status().message(), HasSubstr("named twice"));
  o.worlds = {};
  EXPECT_THAT(PlanTasks(o).status().message(), HasSubstr("--worlds"));
}

TEST(DataGenTest, OracleDataIsVerifiedOpenAiShapedAndOnePerAgent) {
  const GenOptions o = Research(8);
  auto tasks = PlanTasks(o);
  ASSERT_TRUE(tasks.ok());
  auto policy = GenPolicy::Create({});
  ASSERT_TRUE(policy.ok());
  std::string text;
  auto report = Generate(*tasks, o, (*policy)->policy(), &text);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->tasks, 8);
  EXPECT_EQ(report->errors, 0);
  EXPECT_EQ(report->kept, 8);
  EXPECT_EQ(report->duplicates, 0);

  const std::vector<json> lines = Lines(text);
  ASSERT_EQ(static_cast<int>(lines.size()), report->examples);
  std::map<std::string, std::vector<json>> by_run;
  std::set<std::string> fingerprints;
  int tool_calls = 0;
  for (const json& ex : lines) {
    const auto problems = testing::CheckOpenAiExample(ex);
    EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
    EXPECT_EQ(ex["reward"], 1.0);
    EXPECT_EQ(ex["task_family"], "wide");
    EXPECT_EQ(ex["world"], "research");
    by_run[ex["run_id"]].push_back(ex);
    const Fingerprint f = MessagesFingerprint(ex["messages"]);
    EXPECT_TRUE(fingerprints.insert(std::to_string(f.a) + ":" + std::to_string(f.b)).second) << "a duplicate was written";
    for (const auto& m : ex["messages"]) tool_calls += m.contains("tool_calls") ? static_cast<int>(m["tool_calls"].size()) : 0;
  }
  ASSERT_EQ(by_run.size(), 8u);
  for (const auto& [run, examples] : by_run) {
    // Run order: the coordinator first, then each sub-agent (3 for 3 items under a cap of 3).
    ASSERT_GE(examples.size(), 2u) << run;
    EXPECT_EQ(examples[0]["role_in_swarm"], "coordinator");
    EXPECT_EQ(examples[0]["agent"], "coordinator");
    std::set<std::string> agents;
    for (size_t k = 1; k < examples.size(); ++k) {
      EXPECT_EQ(examples[k]["role_in_swarm"], "subagent");
      agents.insert(examples[k]["agent"].get<std::string>());
      // A sub-agent's context is its own: the coordinator's system prompt is not in it.
      EXPECT_EQ(examples[k]["messages"].dump().find("coordinator of an agent swarm"), std::string::npos);
    }
    EXPECT_EQ(agents.size(), examples.size() - 1);
  }
  // The statistics agree with the file.
  int histogram_total = 0;
  for (const auto& [name, n] : report->stats["tool_calls"].items()) histogram_total += n.get<int>();
  EXPECT_EQ(histogram_total, tool_calls);
  EXPECT_GT(report->stats["tool_calls"].value("search", 0), 0);
  EXPECT_EQ(report->stats["pass_rate"], 1.0);
  EXPECT_EQ(report->stats["examples"], report->examples);
  EXPECT_GT(report->per_min, 0);
}

TEST(DataGenTest, DialogueExamplesCarryTheUserTurns) {
  GenOptions o = Research(4);
  o.worlds = {"api"};
  o.families = {"api-dialogue"};
  auto tasks = PlanTasks(o);
  ASSERT_TRUE(tasks.ok()) << tasks.status().ToString();
  auto policy = GenPolicy::Create({});
  ASSERT_TRUE(policy.ok());
  std::string text;
  auto report = Generate(*tasks, o, (*policy)->policy(), &text);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->kept, 4);
  std::set<std::string> runs_with_dialogue;
  for (const json& ex : Lines(text)) {
    EXPECT_TRUE(testing::CheckOpenAiExample(ex).empty());
    EXPECT_EQ(ex["task_family"], "api-dialogue");
    // A user turn: the agent's ask_user question, then the tool message with the user's reply.
    std::map<std::string, std::string> asks;  // call id -> question
    for (const json& m : ex["messages"]) {
      for (const json& c : m.value("tool_calls", json::array())) {
        if (c["function"]["name"] == "ask_user") asks[c["id"]] = c["function"]["arguments"];
      }
      if (m["role"] == "tool" && asks.count(m["tool_call_id"])) {
        EXPECT_THAT(asks[m["tool_call_id"]], HasSubstr("[detail "));
        EXPECT_FALSE(m["content"].get<std::string>().empty());
        runs_with_dialogue.insert(ex["run_id"]);
      }
    }
  }
  EXPECT_EQ(runs_with_dialogue.size(), 4u) << "every run asks the user at least once";
  EXPECT_GT(report->stats["tool_calls"].value("ask_user", 0), 0);
}

TEST(DataGenTest, ApiAndComputeSwarmsUnderCreateAndAssign) {
  GenOptions o = Research(6);
  o.worlds = {"api", "compute"};
  o.families = {"api-goal", "api-dialogue", "chain"};
  o.swarm_tools = "create_assign";
  auto tasks = PlanTasks(o);
  ASSERT_TRUE(tasks.ok()) << tasks.status().ToString();
  auto policy = GenPolicy::Create({});
  ASSERT_TRUE(policy.ok());
  std::string text;
  auto report = Generate(*tasks, o, (*policy)->policy(), &text);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->errors, 0);
  EXPECT_EQ(report->kept, 6) << report->stats.dump(1);
  std::set<std::string> worlds;
  for (const json& ex : Lines(text)) {
    EXPECT_TRUE(testing::CheckOpenAiExample(ex).empty());
    worlds.insert(ex["world"].get<std::string>());
    if (ex["agent"] != "coordinator") continue;
    const std::string messages = ex["messages"].dump();
    EXPECT_THAT(messages, HasSubstr("create_subagent"));
    EXPECT_THAT(messages, HasSubstr("assign_task"));
    EXPECT_EQ(messages.find("spawn_subagents"), std::string::npos);
  }
  EXPECT_EQ(worlds, (std::set<std::string>{"api", "compute"}));
  o.swarm_tools = "fork";
  EXPECT_THAT(ValidateGenOptions(o).message(), HasSubstr("--swarm-tools"));
}

TEST(DataGenTest, DuplicatesAreDroppedWhole) {
  GenOptions o = Research(4);
  auto planned = PlanTasks(o);
  ASSERT_TRUE(planned.ok());
  // Tasks 0 and 1 again, as tasks 4 and 5: the same trajectories, under other run ids.
  std::vector<GenTask> tasks = *planned;
  tasks.push_back(tasks[0]);
  tasks.push_back(tasks[1]);
  env::OraclePolicy oracle;
  std::string text;
  auto report = Generate(tasks, o, &oracle, &text);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->tasks, 6);
  EXPECT_EQ(report->passed, 6);
  EXPECT_EQ(report->duplicates, 2);
  EXPECT_EQ(report->kept, 4);
  std::set<std::string> runs;
  for (const json& ex : Lines(text)) runs.insert(ex["run_id"]);
  EXPECT_EQ(runs, (std::set<std::string>{"gen-5-0", "gen-5-1", "gen-5-2", "gen-5-3"}));
  EXPECT_EQ(report->stats["duplicates"], 2);
}

// Rejection sampling: a policy that spoils the coordinator's answer on every other task
// (by the task text, so it is deterministic) loses exactly those tasks.
TEST(DataGenTest, RunsBelowTheThresholdAreRejected) {
  GenOptions o = Research(10);
  auto tasks = PlanTasks(o);
  ASSERT_TRUE(tasks.ok());
  env::OraclePolicy oracle;
  auto spoiled = [](const workers::PolicyRequest& r) {
    return std::hash<std::string>()((*r.messages)[1].content) % 2 == 1;  // [1]: the task
  };
  ScriptedPolicy policy([&](const workers::PolicyRequest& r) -> Result<workers::PolicyResponse> {
    TIDE_ASSIGN_OR_RETURN(workers::PolicyResponse resp, oracle.Generate(r));
    if (r.agent == "coordinator" && resp.message.tool_calls.empty() && spoiled(r)) {
      resp.message.content = "I could not finish the table.";
    }
    return resp;
  });
  std::string text;
  auto report = Generate(*tasks, o, &policy, &text);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const int rejected = report->stats["rejected"].get<int>();
  EXPECT_GT(rejected, 0);
  EXPECT_LT(rejected, 10);
  EXPECT_EQ(report->kept + rejected, 10);
  EXPECT_EQ(report->stats["pass_rate"], report->kept / 10.0);
  for (const json& ex : Lines(text)) {
    EXPECT_EQ(ex["reward"], 1.0);
    if (ex["role_in_swarm"] == "coordinator") {
      EXPECT_EQ(ex["messages"].back()["content"].get<std::string>().find("could not finish"), std::string::npos);
    }
  }
  // A threshold of 0 keeps everything.
  o.min_reward = 0;
  auto all = Generate(*tasks, o, &policy, &text);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->kept, 10);
}

TEST(DataGenTest, SameOutputWhateverTheThreads) {
  GenOptions o = Research(9, 4);
  auto tasks = PlanTasks(o);
  ASSERT_TRUE(tasks.ok());
  env::OraclePolicy oracle;
  std::string one, many;
  o.jobs = 1;
  o.subagent_threads = 1;
  ASSERT_TRUE(Generate(*tasks, o, &oracle, &one).ok());
  o.jobs = 6;
  o.subagent_threads = 3;
  ASSERT_TRUE(Generate(*tasks, o, &oracle, &many).ok());
  EXPECT_FALSE(one.empty());
  EXPECT_EQ(one, many);
  // api: operators create records for different owners at once; their ids do not depend on it.
  o = Research(12, 6);
  o.worlds = {"api"};
  o.families = {};
  auto api_tasks = PlanTasks(o);
  ASSERT_TRUE(api_tasks.ok());
  o.jobs = 1;
  o.subagent_threads = 1;
  ASSERT_TRUE(Generate(*api_tasks, o, &oracle, &one).ok());
  o.jobs = 6;
  o.subagent_threads = 4;
  ASSERT_TRUE(Generate(*api_tasks, o, &oracle, &many).ok());
  EXPECT_NE(one.find("create_"), std::string::npos);
  EXPECT_EQ(one, many);
}

TEST(DataGenTest, FailingSwarmsAreCountedAndTheRestGoesOn) {
  GenOptions o = Research(6);
  auto tasks = PlanTasks(o);
  ASSERT_TRUE(tasks.ok());
  env::OraclePolicy oracle;
  std::atomic<int> coordinator_turns{0};
  ScriptedPolicy policy([&](const workers::PolicyRequest& r) -> Result<workers::PolicyResponse> {
    // The policy's backend fails on every third coordinator turn.
    if (r.agent == "coordinator" && ++coordinator_turns % 3 == 0) return Unavailable("the model server went away");
    return oracle.Generate(r);
  });
  o.jobs = 1;  // the failures land on fixed turns
  std::string text;
  auto report = Generate(*tasks, o, &policy, &text);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GT(report->errors, 0);
  EXPECT_GT(report->kept, 0);
  EXPECT_EQ(report->errors + report->kept, 6);
  EXPECT_THAT(report->stats["error_samples"][0].get<std::string>(), HasSubstr("went away"));
  EXPECT_EQ(static_cast<int>(Lines(text).size()), report->examples);
}

TEST(DataGenTest, GenerateToDirWritesExamplesAndStats) {
  TempDir dir;
  const std::string out = dir.path() + "/data";
  GenOptions o = Research(3);
  env::OraclePolicy oracle;
  auto report = GenerateToDir(o, &oracle, out);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  std::ifstream stats_in(out + "/" + kGenStatsFile);
  const json stats = json::parse(stats_in, nullptr, false);
  ASSERT_TRUE(stats.is_object());
  EXPECT_EQ(stats["tasks"], 3);
  EXPECT_EQ(stats["kept"], 3);
  EXPECT_EQ(stats["options"]["worlds"], json::array({"research"}));
  EXPECT_EQ(stats["options"]["policy"], "oracle");
  for (const char* key : {"pass_rate", "tool_calls", "messages_per_example", "chars_per_example", "per_min", "by_task"}) {
    EXPECT_TRUE(stats.contains(key)) << key;
  }
  std::ifstream jsonl(out + "/" + kGenExamplesFile);
  std::stringstream buf;
  buf << jsonl.rdbuf();
  EXPECT_EQ(static_cast<int>(Lines(buf.str()).size()), report->examples);

  // A file where the folder should be.
  const std::string blocked = dir.path() + "/file";
  std::ofstream(blocked) << "x";
  auto bad = GenerateToDir(o, &oracle, blocked);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("--out"));
}

TEST(GenPolicyTest, BuildsByNameAndNamesWhatIsMissing) {
  auto oracle = GenPolicy::Create({});
  ASSERT_TRUE(oracle.ok());
  EXPECT_EQ((*oracle)->policy()->name(), "oracle");
  GenPolicyOptions o;
  o.policy = "magic";
  EXPECT_THAT(GenPolicy::Create(o).status().message(), HasSubstr("unknown --policy \"magic\" (known: oracle, engine, openai)"));
  o.policy = "engine";
  EXPECT_THAT(GenPolicy::Create(o).status().message(), HasSubstr("--model-dir"));
  o.model_dir = "/nonexistent/model";
  EXPECT_FALSE(GenPolicy::Create(o).ok());
  o.policy = "openai";
  EXPECT_THAT(GenPolicy::Create(o).status().message(), HasSubstr("--base-url"));
  o.base_url = "http://127.0.0.1:1/v1";
  EXPECT_THAT(GenPolicy::Create(o).status().message(), HasSubstr("--model"));
  o.model = "m";
  auto openai = GenPolicy::Create(o);
  ASSERT_TRUE(openai.ok()) << openai.status().ToString();
  EXPECT_EQ((*openai)->policy()->name(), "openai");
}

}  // namespace
}  // namespace tide::rl
