#include "tide/workers/swarm_protocol.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tide/workers/json_schema.h"

namespace tide::workers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using nlohmann::json;

const std::vector<std::string> kTools = {"search", "fetch_page", "calculator"};

json Task(const std::string& name, const std::string& instructions, json tools = nullptr) {
  json t = {{"name", name}, {"instructions", instructions}};
  if (!tools.is_null()) t["tools"] = std::move(tools);
  return t;
}

TEST(SwarmProtocolTest, SpecNamesTheToolAndLimit) {
  ToolSpec spec = SpawnSubagentsSpec(4, kTools);
  EXPECT_EQ(spec.name, "spawn_subagents");
  EXPECT_EQ(spec.name, kSpawnSubagentsTool);
  EXPECT_THAT(spec.description, HasSubstr("4"));
  EXPECT_EQ(spec.parameters["type"], "object");
  // The spec is a well-formed OpenAI tool.
  json wire = ToJson(spec);
  Result<ToolSpec> back = ToolSpecFromJson(wire);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->parameters, spec.parameters);
}

TEST(SwarmProtocolTest, SpecSchemaAcceptsGoodArguments) {
  ToolSpec spec = SpawnSubagentsSpec(3, kTools);
  const json args = {{"subagents",
                      {Task("researcher-1", "find the capital of France", {"search", "fetch_page"}),
                       Task("math-1", "compute 2+2", {"calculator"}), Task("free", "anything")}}};
  Status s = ValidateJsonSchema(spec.parameters, args);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(SwarmProtocolTest, SpecSchemaRejectsMoreThanMaxItems) {
  ToolSpec spec = SpawnSubagentsSpec(2, kTools);
  const json two = {{"subagents", {Task("a", "x"), Task("b", "y")}}};
  EXPECT_TRUE(ValidateJsonSchema(spec.parameters, two).ok());
  const json three = {{"subagents", {Task("a", "x"), Task("b", "y"), Task("c", "z")}}};
  Status s = ValidateJsonSchema(spec.parameters, three);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("$.subagents"));
  EXPECT_THAT(s.message(), HasSubstr("at most 2"));
}

TEST(SwarmProtocolTest, SpecSchemaRejectsBadShapes) {
  ToolSpec spec = SpawnSubagentsSpec(4, kTools);
  // No sub-agents at all.
  EXPECT_FALSE(ValidateJsonSchema(spec.parameters, json{{"subagents", json::array()}}).ok());
  EXPECT_FALSE(ValidateJsonSchema(spec.parameters, json::object()).ok());
  // Missing instructions.
  Status missing = ValidateJsonSchema(spec.parameters, json{{"subagents", {{{"name", "a"}}}}});
  EXPECT_THAT(missing.message(), HasSubstr("$.subagents[0]"));
  EXPECT_THAT(missing.message(), HasSubstr("instructions"));
  // Empty name.
  EXPECT_FALSE(ValidateJsonSchema(spec.parameters, json{{"subagents", {Task("", "x")}}}).ok());
  // A tool that is not offered.
  Status tool = ValidateJsonSchema(spec.parameters, json{{"subagents", {Task("a", "x", {"search", "shell"})}}});
  EXPECT_FALSE(tool.ok());
  EXPECT_THAT(tool.message(), HasSubstr("$.subagents[0].tools[1]"));
}

TEST(SwarmProtocolTest, SpecWithoutAvailableToolsAcceptsAnyToolName) {
  ToolSpec spec = SpawnSubagentsSpec(4, {});
  EXPECT_TRUE(ValidateJsonSchema(spec.parameters, json{{"subagents", {Task("a", "x", {"whatever"})}}}).ok());
}

TEST(SwarmProtocolTest, ParsesSpawnArguments) {
  const json args = {{"subagents",
                      {Task("researcher-1", "find X", {"search", "fetch_page"}), Task("writer", "summarize")}}};
  Result<std::vector<SubagentTask>> tasks = ParseSpawnArguments(args, kTools);
  ASSERT_TRUE(tasks.ok()) << tasks.status().ToString();
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ((*tasks)[0].name, "researcher-1");
  EXPECT_EQ((*tasks)[0].instructions, "find X");
  EXPECT_THAT((*tasks)[0].tools, ElementsAre("search", "fetch_page"));
  EXPECT_EQ((*tasks)[1].name, "writer");
  EXPECT_TRUE((*tasks)[1].tools.empty());  // empty means all tools
}

TEST(SwarmProtocolTest, ParseRejectsDuplicateNames) {
  const json args = {{"subagents", {Task("dup", "a"), Task("other", "b"), Task("dup", "c")}}};
  Result<std::vector<SubagentTask>> tasks = ParseSpawnArguments(args, kTools);
  ASSERT_FALSE(tasks.ok());
  EXPECT_EQ(tasks.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(tasks.status().message(), HasSubstr("\"dup\""));
}

TEST(SwarmProtocolTest, ParseRejectsUnknownTools) {
  const json args = {{"subagents", {Task("a", "x", {"search", "rm_rf"})}}};
  Result<std::vector<SubagentTask>> tasks = ParseSpawnArguments(args, kTools);
  ASSERT_FALSE(tasks.ok());
  EXPECT_EQ(tasks.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(tasks.status().message(), HasSubstr("\"rm_rf\""));
  EXPECT_THAT(tasks.status().message(), HasSubstr("a"));
}

TEST(SwarmProtocolTest, ParseRejectsMalformedArguments) {
  EXPECT_FALSE(ParseSpawnArguments(json::array(), kTools).ok());
  EXPECT_FALSE(ParseSpawnArguments(json::object(), kTools).ok());
  EXPECT_FALSE(ParseSpawnArguments(json{{"subagents", "a"}}, kTools).ok());
  EXPECT_FALSE(ParseSpawnArguments(json{{"subagents", {{{"name", "a"}}}}}, kTools).ok());
  EXPECT_FALSE(ParseSpawnArguments(json{{"subagents", {{{"name", 1}, {"instructions", "x"}}}}}, kTools).ok());
  EXPECT_FALSE(ParseSpawnArguments(json{{"subagents", {Task("", "x")}}}, kTools).ok());
  EXPECT_FALSE(ParseSpawnArguments(json{{"subagents", {Task("a", "x", {3})}}}, kTools).ok());
}

TEST(SwarmProtocolTest, SpawnArgumentsRoundTrip) {
  const std::vector<SubagentTask> tasks = {{"r1", "look it up", {"search"}}, {"r2", "do math", {}}};
  json args = SpawnArguments(tasks);
  // What a coordinator writes passes the tool's own schema...
  EXPECT_TRUE(ValidateJsonSchema(SpawnSubagentsSpec(2, kTools).parameters, args).ok());
  // ...and parses back to the same tasks.
  EXPECT_FALSE(args["subagents"][1].contains("tools"));
  Result<std::vector<SubagentTask>> back = ParseSpawnArguments(json::parse(args.dump()), kTools);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].name, "r1");
  EXPECT_EQ((*back)[0].instructions, "look it up");
  EXPECT_THAT((*back)[0].tools, ElementsAre("search"));
  EXPECT_EQ((*back)[1].name, "r2");
  EXPECT_TRUE((*back)[1].tools.empty());
}

TEST(SwarmProtocolTest, ReportsRoundTrip) {
  const std::vector<SubagentReport> reports = {
      {"researcher-1", "finished", "Paris is the capital of France.\nSource: \"wiki\"", 4, 3},
      {"math-1", "failed", "policy scripted failed: backend down", 1, 0},
      {"slow", "step_limit", "", 100, 99},
  };
  const std::string text = FormatSubagentReports(reports);
  // The observation is JSON of the documented shape.
  json j = json::parse(text);
  ASSERT_TRUE(j["results"].is_array());
  EXPECT_EQ(j["results"][0]["name"], "researcher-1");
  EXPECT_EQ(j["results"][0]["status"], "finished");
  EXPECT_EQ(j["results"][2]["steps"], 100);
  EXPECT_EQ(j["results"][2]["tool_calls"], 99);

  Result<std::vector<SubagentReport>> back = ParseSubagentReports(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), reports.size());
  for (size_t i = 0; i < reports.size(); ++i) {
    EXPECT_EQ((*back)[i].name, reports[i].name);
    EXPECT_EQ((*back)[i].status, reports[i].status);
    EXPECT_EQ((*back)[i].result, reports[i].result);
    EXPECT_EQ((*back)[i].steps, reports[i].steps);
    EXPECT_EQ((*back)[i].tool_calls, reports[i].tool_calls);
  }
}

TEST(SwarmProtocolTest, EmptyReportsRoundTrip) {
  const std::string text = FormatSubagentReports({});
  Result<std::vector<SubagentReport>> back = ParseSubagentReports(text);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->empty());
}

TEST(SwarmProtocolTest, ParseReportsRejectsGarbage) {
  Result<std::vector<SubagentReport>> not_json = ParseSubagentReports("results: none");
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseSubagentReports(R"({"res": []})").ok());
  EXPECT_FALSE(ParseSubagentReports(R"({"results": {}})").ok());
  EXPECT_FALSE(ParseSubagentReports(R"({"results": [1]})").ok());
}

TEST(SwarmProtocolTest, ParseReportsRejectsWronglyTypedFieldsWithoutThrowing) {
  const char* cases[] = {
      R"({"results": [{"name": 1, "status": "finished", "result": "", "steps": 1, "tool_calls": 0}]})",
      R"({"results": [{"name": "a", "status": null, "result": "", "steps": 1, "tool_calls": 0}]})",
      R"({"results": [{"name": "a", "status": "finished", "result": ["x"], "steps": 1, "tool_calls": 0}]})",
      R"({"results": [{"name": "a", "status": "finished", "result": "", "steps": "one", "tool_calls": 0}]})",
      R"({"results": [{"name": "a", "status": "finished", "result": "", "steps": 1, "tool_calls": {}}]})",
  };
  for (const char* text : cases) {
    Result<std::vector<SubagentReport>> r = InvalidArgument("not run");
    ASSERT_NO_THROW(r = ParseSubagentReports(text)) << text;
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << text;
  }
}

TEST(SwarmProtocolTest, CreateSubagentSpecStatesTheLimitAndValidates) {
  ToolSpec spec = CreateSubagentSpec(12, {"search", "open"});
  EXPECT_EQ(spec.name, kCreateSubagentTool);
  EXPECT_EQ(SubagentLimit(spec), 12);
  EXPECT_TRUE(ValidateJsonSchema(spec.parameters, {{"name", "r1"}, {"system_prompt", "you research"},
                                                   {"tools", {"search"}}}).ok());
  EXPECT_TRUE(ValidateJsonSchema(spec.parameters, {{"name", "r1"}, {"system_prompt", "p"}}).ok());
  EXPECT_FALSE(ValidateJsonSchema(spec.parameters, {{"name", "r1"}}).ok());
  EXPECT_FALSE(ValidateJsonSchema(spec.parameters, {{"name", ""}, {"system_prompt", "p"}}).ok());
  EXPECT_FALSE(ValidateJsonSchema(spec.parameters, {{"name", "r"}, {"system_prompt", "p"}, {"tools", {"fly"}}}).ok());
  ToolSpec other;
  other.description = "no limit here";
  EXPECT_EQ(SubagentLimit(other), 0);
}

TEST(SwarmProtocolTest, CreateArgumentsRoundTripAndBadOnesAreNamed) {
  SubagentDefinition d{"r1", "you research", {"search"}};
  Result<SubagentDefinition> back = ParseCreateArguments(CreateArguments(d), {"search", "open"});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->name, "r1");
  EXPECT_EQ(back->system_prompt, "you research");
  EXPECT_THAT(back->tools, ElementsAre("search"));

  Result<SubagentDefinition> unknown = ParseCreateArguments({{"name", "r1"}, {"system_prompt", "p"}, {"tools", {"fly"}}},
                                                            {"search", "open"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown tool \"fly\""));
  EXPECT_THAT(unknown.status().message(), HasSubstr("available: search, open"));
  Result<SubagentDefinition> missing = ParseCreateArguments({{"name", "r1"}}, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("system_prompt"));
  EXPECT_FALSE(ParseCreateArguments(json::array(), {}).ok());
}

TEST(SwarmProtocolTest, AssignTaskRoundTripAndBadOnesAreNamed) {
  ToolSpec spec = AssignTaskSpec();
  EXPECT_EQ(spec.name, kAssignTaskTool);
  EXPECT_TRUE(ValidateJsonSchema(spec.parameters, AssignArguments({"r1", "find X"})).ok());
  EXPECT_FALSE(ValidateJsonSchema(spec.parameters, {{"agent", "r1"}}).ok());
  Result<TaskAssignment> a = ParseAssignArguments(AssignArguments({"r1", "find X"}));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->agent, "r1");
  EXPECT_EQ(a->task, "find X");
  Result<TaskAssignment> bad = ParseAssignArguments({{"agent", "r1"}, {"task", 3}});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("\"task\""));
}

}  // namespace
}  // namespace tide::workers
