#include "tide/orchestrator/swarm_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace tide::orchestrator {
namespace {

using ::testing::HasSubstr;

// --- ValidateSwarmSpec ---

TEST(ValidateSwarmSpecTest, DefaultsAreValid) {
  Status s = ValidateSwarmSpec(SwarmSpec{});
  EXPECT_TRUE(s.ok()) << s.ToString();
  SwarmSpec spec;
  spec.task_family = "wide";
  spec.max_subagents = kMaxSubagentsLimit;
  spec.items = 200;
  spec.timeout_s = 30;
  s = ValidateSwarmSpec(spec);
  EXPECT_TRUE(s.ok()) << s.ToString();
  spec.max_subagents = 1;
  spec.items = 1;
  s = ValidateSwarmSpec(spec);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(ValidateSwarmSpecTest, UnknownWorldIsNotFoundNamingIt) {
  SwarmSpec spec;
  spec.world = "atlantis";
  Status s = ValidateSwarmSpec(spec, "request");
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("atlantis"));
  EXPECT_THAT(s.message(), HasSubstr("request"));
}

TEST(ValidateSwarmSpecTest, EmptyWorldIsInvalid) {
  SwarmSpec spec;
  spec.world = "";
  Status s = ValidateSwarmSpec(spec);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("world"));
}

TEST(ValidateSwarmSpecTest, MaxSubagentsOutOfRangeNamesTheField) {
  for (int bad : {0, -1, kMaxSubagentsLimit + 1}) {
    SwarmSpec spec;
    spec.max_subagents = bad;
    Status s = ValidateSwarmSpec(spec, "request");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("max_subagents"));
    EXPECT_THAT(s.message(), HasSubstr(std::to_string(bad)));
    EXPECT_THAT(s.message(), HasSubstr("request"));
  }
}

TEST(ValidateSwarmSpecTest, ItemsOutOfRangeNamesTheField) {
  for (int bad : {0, 201}) {
    SwarmSpec spec;
    spec.items = bad;
    Status s = ValidateSwarmSpec(spec);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("items"));
    EXPECT_THAT(s.message(), HasSubstr(std::to_string(bad)));
  }
}

TEST(ValidateSwarmSpecTest, UnknownTaskFamilyListsTheKnownOnes) {
  SwarmSpec spec;
  spec.task_family = "deep";
  Status s = ValidateSwarmSpec(spec);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("task_family"));
  EXPECT_THAT(s.message(), HasSubstr("deep"));
  EXPECT_THAT(s.message(), HasSubstr("wide"));
}

TEST(ValidateSwarmSpecTest, UnknownPolicyNamesTheField) {
  SwarmSpec spec;
  spec.policy = "gpt-17";
  Status s = ValidateSwarmSpec(spec);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("policy"));
  EXPECT_THAT(s.message(), HasSubstr("gpt-17"));
}

TEST(ValidateSwarmSpecTest, OpenAiPolicyNeedsAUsableUrlAndAModel) {
  SwarmSpec spec;
  spec.policy = "engine";
  EXPECT_TRUE(ValidateSwarmSpec(spec).ok());
  spec.policy = "openai";
  EXPECT_THAT(ValidateSwarmSpec(spec).message(), HasSubstr("base_url"));
  spec.base_url = "api.openai.com/v1";
  Status s = ValidateSwarmSpec(spec);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("base_url"));
  spec.base_url = "https://api.openai.com/v1";
  EXPECT_THAT(ValidateSwarmSpec(spec).message(), HasSubstr("model"));
  spec.model = "gpt-5-mini";
  EXPECT_TRUE(ValidateSwarmSpec(spec).ok());
  spec.api_key_env = "";
  EXPECT_THAT(ValidateSwarmSpec(spec).message(), HasSubstr("api_key_env"));
  spec.api_key_env = "MY_KEY";
  const SwarmSpec back = SpecFromProto(SpecToProto(spec));
  EXPECT_EQ(back.policy, "openai");
  EXPECT_EQ(back.base_url, spec.base_url);
  EXPECT_EQ(back.model, "gpt-5-mini");
  EXPECT_EQ(back.api_key_env, "MY_KEY");
}

TEST(ValidateSwarmSpecTest, ToolLatencyIsBoundedAndTravels) {
  SwarmSpec spec;
  spec.tool_latency_ms = -1;
  EXPECT_THAT(ValidateSwarmSpec(spec).message(), HasSubstr("tool_latency_ms"));
  spec.tool_latency_ms = kMaxToolLatencyMs + 1;
  EXPECT_THAT(ValidateSwarmSpec(spec).message(), HasSubstr("tool_latency_ms"));
  spec.tool_latency_ms = 100;
  EXPECT_TRUE(ValidateSwarmSpec(spec).ok());
  EXPECT_EQ(SpecFromProto(SpecToProto(spec)).tool_latency_ms, 100);
}

TEST(ValidateSwarmSpecTest, StepLimitsAndTimeoutAreChecked) {
  {
    SwarmSpec spec;
    spec.max_coordinator_steps = 0;
    Status s = ValidateSwarmSpec(spec);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("max_coordinator_steps"));
  }
  {
    SwarmSpec spec;
    spec.max_subagent_steps = 1001;
    Status s = ValidateSwarmSpec(spec);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("max_subagent_steps"));
  }
  for (double bad : {-1.0, 1e9, std::nan("")}) {
    SwarmSpec spec;
    spec.timeout_s = bad;
    Status s = ValidateSwarmSpec(spec);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("timeout_s"));
  }
}

// --- LoadSwarmConfig ---

class LoadSwarmConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "tide_swarm_spec_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << tmpl;
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(LoadSwarmConfigTest, RepoConfigLoads) {
  const std::string path = std::string(TIDE_SOURCE_DIR) + "/configs/swarm.json";
  Result<SwarmSpec> spec = LoadSwarmConfig(path);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->world, "research");
  EXPECT_EQ(spec->task_family, "wide");
  EXPECT_EQ(spec->policy, "engine");  // the committed default model
  EXPECT_GE(spec->max_subagents, 1);
  EXPECT_LE(spec->max_subagents, kMaxSubagentsLimit);
  EXPECT_TRUE(ValidateSwarmSpec(*spec).ok());
}

TEST_F(LoadSwarmConfigTest, FieldsOverrideDefaultsAndAbsentOnesAreKept) {
  SwarmSpec defaults;
  defaults.seed = 99;
  defaults.max_coordinator_steps = 9;
  defaults.timeout_s = 12.5;
  const std::string path = Write("partial.json", R"({"items": 5, "max_subagents": 3, "seed": 123456789012})");
  Result<SwarmSpec> spec = LoadSwarmConfig(path, defaults);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->items, 5);
  EXPECT_EQ(spec->max_subagents, 3);
  EXPECT_EQ(spec->seed, 123456789012ull);
  EXPECT_EQ(spec->max_coordinator_steps, 9);
  EXPECT_DOUBLE_EQ(spec->timeout_s, 12.5);
  EXPECT_EQ(spec->world, "research");
}

TEST_F(LoadSwarmConfigTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = dir_ + "/does_not_exist.json";
  Result<SwarmSpec> spec = LoadSwarmConfig(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(spec.status().message(), HasSubstr(path));
}

TEST_F(LoadSwarmConfigTest, MalformedJsonNamesTheFile) {
  const std::string path = Write("broken.json", "{\"items\": 5,");
  Result<SwarmSpec> spec = LoadSwarmConfig(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr(path));
}

TEST_F(LoadSwarmConfigTest, WrongTypeNamesFileAndField) {
  const std::string path = Write("wrong_type.json", R"({"max_subagents": "eight"})");
  Result<SwarmSpec> spec = LoadSwarmConfig(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr(path));
  EXPECT_THAT(spec.status().message(), HasSubstr("max_subagents"));

  const std::string path2 = Write("wrong_type2.json", R"({"world": 3})");
  spec = LoadSwarmConfig(path2);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr(path2));
  EXPECT_THAT(spec.status().message(), HasSubstr("world"));
}

TEST_F(LoadSwarmConfigTest, OutOfRangeNamesFileAndField) {
  const std::string path = Write("range.json", R"({"max_subagents": 101})");
  Result<SwarmSpec> spec = LoadSwarmConfig(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr(path));
  EXPECT_THAT(spec.status().message(), HasSubstr("max_subagents"));
  EXPECT_THAT(spec.status().message(), HasSubstr("101"));
}

TEST_F(LoadSwarmConfigTest, UnknownFieldNamesFileAndField) {
  const std::string path = Write("typo.json", R"({"items": 5, "max_subagent": 4})");
  Result<SwarmSpec> spec = LoadSwarmConfig(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr(path));
  EXPECT_THAT(spec.status().message(), HasSubstr("max_subagent"));
}

TEST_F(LoadSwarmConfigTest, TopLevelMustBeAnObject) {
  const std::string path = Write("array.json", "[1, 2]");
  Result<SwarmSpec> spec = LoadSwarmConfig(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr(path));
}

TEST_F(LoadSwarmConfigTest, SemanticErrorsAreValidatedNamingTheFile) {
  const std::string path = Write("world.json", R"({"world": "atlantis"})");
  Result<SwarmSpec> spec = LoadSwarmConfig(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(spec.status().message(), HasSubstr(path));
  EXPECT_THAT(spec.status().message(), HasSubstr("atlantis"));

  const std::string path2 = Write("family.json", R"({"task_family": "deep"})");
  spec = LoadSwarmConfig(path2);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr(path2));
  EXPECT_THAT(spec.status().message(), HasSubstr("task_family"));
}

// --- proto conversion ---

TEST(SwarmSpecProtoTest, RoundTripKeepsEveryField) {
  SwarmSpec spec;
  spec.world = "research";
  spec.task_family = "wide";
  spec.seed = 0xfeedfacecafeull;
  spec.items = 37;
  spec.max_subagents = 11;
  spec.policy = "oracle";
  spec.max_coordinator_steps = 4;
  spec.max_subagent_steps = 55;
  spec.timeout_s = 2.25;
  const tide::v1::SwarmRequest proto = SpecToProto(spec);
  EXPECT_EQ(proto.items(), 37);
  EXPECT_EQ(proto.max_subagents(), 11);
  const SwarmSpec back = SpecFromProto(proto);
  EXPECT_EQ(back.world, spec.world);
  EXPECT_EQ(back.task_family, spec.task_family);
  EXPECT_EQ(back.seed, spec.seed);
  EXPECT_EQ(back.items, spec.items);
  EXPECT_EQ(back.max_subagents, spec.max_subagents);
  EXPECT_EQ(back.policy, spec.policy);
  EXPECT_EQ(back.max_coordinator_steps, spec.max_coordinator_steps);
  EXPECT_EQ(back.max_subagent_steps, spec.max_subagent_steps);
  EXPECT_DOUBLE_EQ(back.timeout_s, spec.timeout_s);
}

TEST(SwarmSpecProtoTest, ZerosInTheRequestMeanDefaults) {
  tide::v1::SwarmRequest req;
  req.set_seed(5);
  const SwarmSpec spec = SpecFromProto(req);
  const SwarmSpec defaults;
  EXPECT_EQ(spec.world, defaults.world);
  EXPECT_EQ(spec.task_family, "");
  EXPECT_EQ(spec.seed, 5u);
  EXPECT_EQ(spec.items, defaults.items);
  EXPECT_EQ(spec.max_subagents, defaults.max_subagents);
  EXPECT_EQ(spec.policy, defaults.policy);
  EXPECT_EQ(spec.max_coordinator_steps, kDefaultCoordinatorSteps);
  EXPECT_EQ(spec.max_subagent_steps, kDefaultSubagentSteps);
  EXPECT_EQ(spec.timeout_s, 0);
  EXPECT_TRUE(ValidateSwarmSpec(spec, "request").ok());
}

TEST(SwarmSpecProtoTest, OutOfRangeRequestValuesAreKeptForValidation) {
  tide::v1::SwarmRequest req;
  req.set_max_subagents(101);
  const SwarmSpec spec = SpecFromProto(req);
  EXPECT_EQ(spec.max_subagents, 101);
  Status s = ValidateSwarmSpec(spec, "request");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("max_subagents"));
}

TEST(ValidateSwarmSpecTest, SwarmToolsBudgetsAndToolTimeoutAreChecked) {
  SwarmSpec spec;
  spec.swarm_tools = "create_assign";
  spec.max_tokens = 1000000;
  spec.max_tool_calls = 500;
  spec.tool_timeout_ms = 30000;
  EXPECT_TRUE(ValidateSwarmSpec(spec).ok());
  struct Case {
    std::function<void(SwarmSpec&)> set;
    std::string field;
  };
  const std::vector<Case> bad = {
      {[](SwarmSpec& s) { s.swarm_tools = "fork"; }, "swarm_tools must be \"spawn\" or \"create_assign\", got \"fork\""},
      {[](SwarmSpec& s) { s.max_tokens = -1; }, "max_tokens"},
      {[](SwarmSpec& s) { s.max_tool_calls = -5; }, "max_tool_calls"},
      {[](SwarmSpec& s) { s.max_tool_calls = kMaxToolCallsLimit + 1; }, "max_tool_calls"},
      {[](SwarmSpec& s) { s.tool_timeout_ms = -1; }, "tool_timeout_ms"},
      {[](SwarmSpec& s) { s.tool_timeout_ms = kMaxToolTimeoutMs + 1; }, "tool_timeout_ms"},
  };
  for (const Case& c : bad) {
    SwarmSpec b;
    c.set(b);
    Status st = ValidateSwarmSpec(b, "request");
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(st.message(), HasSubstr("request: " + c.field)) << st.ToString();
  }
}

TEST(SwarmSpecProtoTest, SwarmToolsBudgetsAndTimeoutTravel) {
  SwarmSpec spec;
  spec.swarm_tools = "create_assign";
  spec.max_tokens = int64_t{1} << 33;  // beyond 32 bits
  spec.max_tool_calls = 77;
  spec.tool_timeout_ms = 1500;
  const tide::v1::SwarmRequest proto = SpecToProto(spec);
  EXPECT_EQ(proto.swarm_tools(), "create_assign");
  const SwarmSpec back = SpecFromProto(proto);
  EXPECT_EQ(back.swarm_tools, "create_assign");
  EXPECT_EQ(back.max_tokens, int64_t{1} << 33);
  EXPECT_EQ(back.max_tool_calls, 77);
  EXPECT_EQ(back.tool_timeout_ms, 1500);
  // An empty request keeps the defaults: spawn, no budgets, no timeout.
  const SwarmSpec plain = SpecFromProto(tide::v1::SwarmRequest());
  EXPECT_EQ(plain.swarm_tools, "spawn");
  EXPECT_EQ(plain.max_tokens, 0);
  EXPECT_EQ(plain.max_tool_calls, 0);
  EXPECT_EQ(plain.tool_timeout_ms, 0);
}

TEST_F(LoadSwarmConfigTest, SwarmToolsBudgetsAndTimeoutLoadAndBadOnesAreNamed) {
  Result<SwarmSpec> spec = LoadSwarmConfig(Write("tools.json", R"({"swarm_tools": "create_assign", "max_tokens": 5000000000,
      "max_tool_calls": 40, "tool_timeout_ms": 250})"));
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->swarm_tools, "create_assign");
  EXPECT_EQ(spec->max_tokens, 5000000000);
  EXPECT_EQ(spec->max_tool_calls, 40);
  EXPECT_EQ(spec->tool_timeout_ms, 250);
  const std::string path = Write("bad.json", R"({"swarm_tools": "threads"})");
  Result<SwarmSpec> bad = LoadSwarmConfig(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr(path));
  EXPECT_THAT(bad.status().message(), HasSubstr("swarm_tools"));
  Result<SwarmSpec> negative = LoadSwarmConfig(Write("neg.json", R"({"tool_timeout_ms": -3})"));
  ASSERT_FALSE(negative.ok());
  EXPECT_THAT(negative.status().message(), HasSubstr("tool_timeout_ms"));
}

// --- builtin_tools and mcp_servers ---

SwarmSpec WithRunTools() {
  SwarmSpec spec;
  spec.builtin_tools = {"calculator", "run_command"};
  spec.mcp_servers = {{"memory", {"npx", "-y", "@modelcontextprotocol/server-memory"}, {{"MEMORY_FILE_PATH", "/tmp/m"}}},
                      {"fs-2", {"mcp-server-filesystem", "/data"}, {}}};
  return spec;
}

TEST(ValidateSwarmSpecTest, RunToolsAreCheckedNamingWhatIsWrong) {
  EXPECT_TRUE(ValidateSwarmSpec(WithRunTools()).ok());
  auto expect_bad = [](std::function<void(SwarmSpec&)> edit, const std::string& what) {
    SwarmSpec spec = WithRunTools();
    edit(spec);
    Status s = ValidateSwarmSpec(spec, "request");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << what;
    EXPECT_THAT(s.message(), HasSubstr(what));
    EXPECT_THAT(s.message(), HasSubstr("request: "));
  };
  expect_bad([](SwarmSpec& s) { s.builtin_tools.push_back("web_search"); }, "unknown tool \"web_search\" (known: calculator, notes, run_command)");
  expect_bad([](SwarmSpec& s) { s.builtin_tools.push_back("calculator"); }, "names \"calculator\" twice");
  expect_bad([](SwarmSpec& s) { s.mcp_servers[1].name = "my.fs"; }, "mcp_servers[1].name must be 1..32 characters");
  expect_bad([](SwarmSpec& s) { s.mcp_servers[1].name = ""; }, "mcp_servers[1].name");
  expect_bad([](SwarmSpec& s) { s.mcp_servers[1].name = "memory"; }, "\"memory\" is used twice");
  expect_bad([](SwarmSpec& s) { s.mcp_servers[0].command.clear(); }, "mcp_servers[0].command must name the program");
  expect_bad([](SwarmSpec& s) { s.mcp_servers[0].env["A=B"] = "x"; }, "invalid variable name \"A=B\"");
  expect_bad([](SwarmSpec& s) { s.mcp_servers.resize(kMaxMcpServers + 1, s.mcp_servers[0]); }, "at most 16 servers");
}

TEST(SwarmSpecProtoTest, RunToolsTravel) {
  const SwarmSpec spec = WithRunTools();
  const tide::v1::SwarmRequest proto = SpecToProto(spec);
  ASSERT_EQ(proto.mcp_servers_size(), 2);
  EXPECT_EQ(proto.mcp_servers(0).env().at("MEMORY_FILE_PATH"), "/tmp/m");
  const SwarmSpec back = SpecFromProto(proto);
  EXPECT_EQ(back.builtin_tools, spec.builtin_tools);
  EXPECT_EQ(back.mcp_servers, spec.mcp_servers);
  EXPECT_TRUE(SpecFromProto(tide::v1::SwarmRequest()).mcp_servers.empty());
}

TEST_F(LoadSwarmConfigTest, RunToolsLoadAndBadOnesAreNamed) {
  Result<SwarmSpec> spec = LoadSwarmConfig(Write("tools.json", R"({"items": 4, "builtin_tools": ["calculator", "run_command"],
      "mcp_servers": [{"name": "memory", "command": ["npx", "-y", "@modelcontextprotocol/server-memory"],
                       "env": {"MEMORY_FILE_PATH": "/tmp/m"}},
                      {"name": "fs-2", "command": ["mcp-server-filesystem", "/data"]}]})"));
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->items, 4);
  EXPECT_EQ(spec->builtin_tools, WithRunTools().builtin_tools);
  EXPECT_EQ(spec->mcp_servers, WithRunTools().mcp_servers);
  for (const auto& [text, what] : std::vector<std::pair<std::string, std::string>>{
           {R"({"builtin_tools": "calculator"})", "\"builtin_tools\": must be an array"},
           {R"({"builtin_tools": [3]})", "must be an array of strings, got 3"},
           {R"({"builtin_tools": ["shell"]})", "unknown tool \"shell\""},
           {R"({"mcp_servers": {"name": "m"}})", "\"mcp_servers\": must be an array"},
           {R"({"mcp_servers": [{"name": "m", "cmd": ["x"]}]})", "\"mcp_servers[0].cmd\": unknown field"},
           {R"({"mcp_servers": [{"name": "m", "command": "npx"}]})", "mcp_servers[0].command\": must be an array"},
           {R"({"mcp_servers": [{"name": "m", "command": ["x"], "env": {"A": 1}}]})", "mcp_servers[0].env.A\": must be a string"},
           {R"({"mcp_servers": [{"name": "m"}]})", "mcp_servers[0].command must name the program"},
           {R"({"mcp_servers": [{"name": "m", "command": ["x"]}], "typo": 1})", "typo"}}) {
    const std::string path = Write("bad.json", text);
    Result<SwarmSpec> bad = LoadSwarmConfig(path);
    ASSERT_FALSE(bad.ok()) << text;
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(bad.status().message(), HasSubstr(path)) << text;
    EXPECT_THAT(bad.status().message(), HasSubstr(what)) << text;
  }
}

}  // namespace
}  // namespace tide::orchestrator
