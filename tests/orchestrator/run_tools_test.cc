// RunTools with real tools: the built-ins per agent, the npm MCP server-memory and the MCP
// test server (tests/workers/data/mcp_test_server.py) started, called, killed and stopped;
// then the same tools inside whole swarm runs (Swarm::Run builds them), driven by a
// scripted policy that calls them (the oracle never does). Node-based tests skip when node
// or the npm servers (scripts/setup.sh) are missing.
#include "tide/orchestrator/run_tools.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio/thread_pool.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "orchestrator_test_util.h"
#include "tide/orchestrator/swarm.h"
#include "tide/workers/swarm_protocol.h"
#include "tide/workers/tool_registry.h"

namespace tide::orchestrator {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;
using testing::RecordingSink;
using testing::Reply;
using testing::ScriptedPolicy;
using testing::TempDir;
namespace fs = std::filesystem;

const std::string kTestServer = std::string(TIDE_SOURCE_DIR) + "/tests/workers/data/mcp_test_server.py";
const std::string kMemoryServer = std::string(TIDE_SOURCE_DIR) + "/tests/e2e/node/node_modules/.bin/mcp-server-memory";

McpServerSpec TestServer(std::vector<std::string> flags = {}) {
  McpServerSpec s{"test", {"/usr/bin/python3", kTestServer}, {}};
  s.command.insert(s.command.end(), flags.begin(), flags.end());
  return s;
}

#define SKIP_WITHOUT_PYTHON()                                                                     \
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "python3 runs the MCP test server; it is missing"

std::string SkipReasonForMemory() {
  if (std::system("node --version >/dev/null 2>&1") != 0) return "node is not installed (scripts/setup.sh installs it)";
  if (!fs::exists(kMemoryServer)) return "@modelcontextprotocol/server-memory is not installed in tests/e2e/node";
  return "";
}

workers::ToolRegistry Registry(const std::vector<std::shared_ptr<workers::Tool>>& tools) {
  workers::ToolRegistry r;
  for (const auto& t : tools) EXPECT_TRUE(r.Add(t).ok()) << t->spec().name;
  return r;
}

std::vector<std::string> NamesOf(const std::vector<std::shared_ptr<workers::Tool>>& tools) {
  std::vector<std::string> names;
  for (const auto& t : tools) names.push_back(t->spec().name);
  return names;
}

TEST(RunToolsTest, BuiltinsArePerAgentAndScratchGoesWithTheRun) {
  TempDir scratch;
  SwarmSpec spec;
  spec.builtin_tools = {"calculator", "notes", "run_command"};
  RunToolsOptions options;
  options.scratch_parent = scratch.path();
  auto tools = RunTools::Start(spec, options);
  ASSERT_TRUE(tools.ok()) << tools.status().ToString();
  EXPECT_EQ((*tools)->Names(), spec.builtin_tools);
  {
    auto a = (*tools)->ForAgent("a");
    auto b = (*tools)->ForAgent("b");
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(NamesOf(*a), spec.builtin_tools);
    workers::ToolRegistry ra = Registry(*a), rb = Registry(*b);
    EXPECT_EQ(ra.Invoke({"1", "calculator", R"({"expression": "6 * 7"})"}).content, "42");
    ASSERT_FALSE(ra.Invoke({"2", "notes", R"({"action": "write", "key": "k", "text": "mine"})"}).is_error);
    EXPECT_TRUE(rb.Invoke({"3", "notes", R"({"action": "read", "key": "k"})"}).is_error);  // b's own notes
    // The same agent gets the same tools back: its notes are still there.
    workers::ToolRegistry again = Registry(*(*tools)->ForAgent("a"));
    EXPECT_THAT(again.Invoke({"4", "notes", R"({"action": "read", "key": "k"})"}).content, HasSubstr("mine"));
    EXPECT_EQ(std::distance(fs::directory_iterator(scratch.path()), fs::directory_iterator()), 2);  // a's and b's

    if (Status s = workers::SandboxAvailable(); s.ok()) {
      ASSERT_FALSE(ra.Invoke({"5", "run_command", R"({"command": "echo a > own.txt"})"}).is_error);
      EXPECT_THAT(again.Invoke({"6", "run_command", R"({"command": "cat own.txt"})"}).content, HasSubstr("\"stdout\":\"a\\n\""));
      EXPECT_THAT(rb.Invoke({"7", "run_command", R"({"command": "cat own.txt"})"}).content, HasSubstr("No such file"));
    }
  }  // the agents' tools are released, as at the end of a run
  (*tools)->Stop();
  // The timeout wrapper's worker thread lets go of the sandbox tool just after handing back
  // its result, so the last reference (and the scratch removal) may land a moment later.
  auto entries = [&] { return std::distance(fs::directory_iterator(scratch.path()), fs::directory_iterator()); };
  for (int i = 0; i < 500 && entries() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(entries(), 0);
}

TEST(RunToolsTest, AServerThatCannotStartFailsNamingIt) {
  SKIP_WITHOUT_PYTHON();
  SwarmSpec spec;
  spec.mcp_servers = {{"ghost", {"/nonexistent/tide-mcp-server"}, {}}};
  auto tools = RunTools::Start(spec);
  ASSERT_FALSE(tools.ok());
  EXPECT_THAT(tools.status().message(), HasSubstr("mcp server \"ghost\" did not start"));
  EXPECT_THAT(tools.status().message(), HasSubstr("/nonexistent/tide-mcp-server"));
  spec.mcp_servers = {TestServer({"--exit-at-start", "3"})};
  tools = RunTools::Start(spec);
  ASSERT_FALSE(tools.ok());
  EXPECT_THAT(tools.status().message(), HasSubstr("mcp server \"test\" did not start"));
  EXPECT_THAT(tools.status().message(), HasSubstr("exited with code 3"));
}

TEST(RunToolsTest, ServerToolsAreNamedWithTheServerAndADeadServerGivesErrorObservations) {
  SKIP_WITHOUT_PYTHON();
  SwarmSpec spec;
  spec.builtin_tools = {"calculator"};
  spec.mcp_servers = {TestServer()};
  spec.tool_timeout_ms = 300;
  std::atomic<bool> cancelled{false};
  RunToolsOptions options;
  options.cancelled = &cancelled;
  auto tools = RunTools::Start(spec, options);
  ASSERT_TRUE(tools.ok()) << tools.status().ToString();
  const auto& names = (*tools)->Names();
  EXPECT_EQ(names.front(), "calculator");
  for (const char* n : {"test__echo", "test__crash", "test__hang"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
  workers::ToolRegistry r = Registry(*(*tools)->ForAgent("a"));
  EXPECT_EQ(r.Find("test__echo")->spec().parameters["required"], json::array({"text"}));  // the server's schema
  EXPECT_EQ(r.Invoke({"1", "test__echo", R"({"text": "hi"})"}).content, "hi");
  EXPECT_EQ(r.Invoke({"2", "test__echo", R"({"txt": "hi"})"}).error, workers::ToolError::kBadArguments);
  // tool_timeout_ms bounds MCP calls.
  workers::ToolObservation hung = r.Invoke({"3", "test__hang", "{}"});
  EXPECT_EQ(hung.error, workers::ToolError::kTimedOut) << hung.content;

  const pid_t pid = (*tools)->Server("test")->pid();
  EXPECT_TRUE(r.Invoke({"4", "test__crash", "{}"}).is_error);
  workers::ToolObservation after = r.Invoke({"5", "test__echo", R"({"text": "hi"})"});
  EXPECT_TRUE(after.is_error);
  EXPECT_THAT(after.content, HasSubstr("mcp server \"test\" exited"));
  EXPECT_EQ(r.Invoke({"6", "calculator", R"({"expression": "1 + 1"})"}).content, "2");  // the rest still works
  (*tools)->Stop();
  EXPECT_NE(kill(pid, 0), 0);  // reaped, not left running
}

TEST(RunToolsTest, MemoryServerRoundTripAndItIsStoppedAtTheEnd) {
  if (std::string why = SkipReasonForMemory(); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  SwarmSpec spec;
  spec.mcp_servers = {{"memory", {kMemoryServer}, {{"MEMORY_FILE_PATH", dir.path() + "/memory.jsonl"}}}};
  auto tools = RunTools::Start(spec);
  ASSERT_TRUE(tools.ok()) << tools.status().ToString();
  workers::ToolRegistry r = Registry(*(*tools)->ForAgent("coordinator"));
  ASSERT_TRUE(r.Has("memory__create_entities") && r.Has("memory__read_graph"));
  const json entities = {{"entities", {{{"name", "Tide"}, {"entityType", "project"}, {"observations", {"runs swarms"}}}}}};
  workers::ToolObservation created = r.Invoke({"1", "memory__create_entities", entities.dump()});
  ASSERT_FALSE(created.is_error) << created.content;
  workers::ToolObservation graph = r.Invoke({"2", "memory__read_graph", "{}"});
  EXPECT_THAT(graph.content, HasSubstr("runs swarms"));
  const pid_t pid = (*tools)->Server("memory")->pid();
  tools->reset();
  EXPECT_NE(kill(pid, 0), 0);
}

// --- inside a swarm run -----------------------------------------------------------------

Result<tide::v1::RunResult> RunSwarm(const SwarmSpec& spec, workers::Policy* policy, EventSink* sink) {
  std::atomic<bool> cancelled{false};
  boost::asio::thread_pool pool(4);
  Swarm swarm(spec, SwarmContext{policy, &pool, sink, &cancelled});
  Result<tide::v1::RunResult> r = swarm.Run();
  pool.join();
  return r;
}

workers::PolicyResponse Call(const std::string& id, const std::string& tool, const json& args) {
  return Reply(workers::Message::Assistant("", {{id, tool, args.dump()}}));
}

// The coordinator's turn: how many assistant messages its context holds.
int Turn(const workers::PolicyRequest& req) {
  int turn = 0;
  for (const auto& m : *req.messages) turn += m.role == "assistant";
  return turn;
}

TEST(SwarmRunToolsTest, EveryAgentIsOfferedTheRunToolsAndTheirCallsReachTheServer) {
  if (std::string why = SkipReasonForMemory(); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  SwarmSpec spec = testing::ResearchSpec(4, 4);
  spec.builtin_tools = {"calculator", "notes"};
  spec.mcp_servers = {{"memory", {kMemoryServer}, {{"MEMORY_FILE_PATH", dir.path() + "/memory.jsonl"}}}};
  std::mutex mu;
  std::map<std::string, std::set<std::string>> offered;  // agent -> tools its policy saw
  std::string r1_graph;
  ScriptedPolicy policy([&](const workers::PolicyRequest& req) -> Result<workers::PolicyResponse> {
    {
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& t : *req.tools) offered[req.agent].insert(t.name);
    }
    const int turn = Turn(req);
    if (req.agent == "r1") {  // reads what the coordinator stored, and reports it
      if (turn == 0) return Call("r1_1", "memory__read_graph", json::object());
      std::lock_guard<std::mutex> lock(mu);
      if (req.messages->back().role == "tool") r1_graph = req.messages->back().content;
      return Reply(workers::Message::Assistant("graph: " + r1_graph));
    }
    if (req.agent != kCoordinatorName) return Reply(workers::Message::Assistant("nothing to report from " + req.agent));
    switch (turn) {
      case 0:
        return Call("c_1", "memory__create_entities",
                    {{"entities", {{{"name", "Ada"}, {"entityType", "person"}, {"observations", {"wrote the first program"}}}}}});
      case 1:
        return Reply(workers::Message::Assistant(
            "", {{"c_2", workers::kSpawnSubagentsTool,
                  workers::SpawnArguments({{"r1", "read the graph", {"memory__read_graph"}}, {"r2", "anything", {}}}).dump()}}));
      default:
        return Reply(workers::Message::Assistant("done"));
    }
  });
  RecordingSink sink;
  Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->finished_subagents(), 2);
  EXPECT_THAT(r1_graph, HasSubstr("wrote the first program"));  // coordinator -> server -> sub-agent

  std::set<std::string> coordinator = offered[kCoordinatorName];
  for (const char* t : {"spawn_subagents", "calculator", "notes", "memory__create_entities", "memory__read_graph"}) {
    EXPECT_TRUE(coordinator.count(t)) << t;
  }
  EXPECT_EQ(offered["r1"], (std::set<std::string>{"memory__read_graph"}));  // its explicit list only
  for (const char* t : {"search", "open", "calculator", "notes", "memory__create_entities"}) {
    EXPECT_TRUE(offered["r2"].count(t)) << t;
  }
  EXPECT_FALSE(offered["r2"].count("spawn_subagents"));
}

TEST(SwarmRunToolsTest, ADeadServerMidRunGivesErrorObservationsAndTheRunEnds) {
  SKIP_WITHOUT_PYTHON();
  SwarmSpec spec = testing::ResearchSpec(4, 4);
  spec.mcp_servers = {TestServer()};
  std::vector<std::string> observations;
  ScriptedPolicy policy([&](const workers::PolicyRequest& req) -> Result<workers::PolicyResponse> {
    const int turn = Turn(req);
    if (turn > 0) observations.push_back(req.messages->back().content);
    if (turn == 0) return Call("c_1", "test__crash", json::object());
    if (turn == 1) return Call("c_2", "test__echo", {{"text", "still there?"}});
    return Reply(workers::Message::Assistant("no table"));
  });
  RecordingSink sink;
  Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();  // a scored (wrong) answer, not a failed run
  EXPECT_EQ(r->answer_json(), "no table");
  ASSERT_EQ(observations.size(), 2u);
  EXPECT_THAT(observations[0], HasSubstr("error: "));
  EXPECT_THAT(observations[1], HasSubstr("mcp server \"test\" exited"));
}

TEST(SwarmRunToolsTest, AServerThatCannotStartFailsTheRunNamingIt) {
  SwarmSpec spec = testing::ResearchSpec(4, 4);
  spec.mcp_servers = {{"ghost", {"/nonexistent/tide-mcp-server"}, {}}};
  ScriptedPolicy policy([](const workers::PolicyRequest&) -> Result<workers::PolicyResponse> {
    return Reply(workers::Message::Assistant("never asked"));
  });
  RecordingSink sink;
  Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("mcp server \"ghost\""));
}

TEST(SwarmRunToolsTest, ACreatedAgentKeepsItsNotesAcrossAssignmentsAndOthersDoNotSeeThem) {
  SwarmSpec spec = testing::ResearchSpec(4, 4);
  spec.swarm_tools = "create_assign";
  spec.builtin_tools = {"notes"};
  std::mutex mu;
  std::map<std::string, std::string> read_back;  // sub-agent context -> what its notes read gave
  ScriptedPolicy policy([&](const workers::PolicyRequest& req) -> Result<workers::PolicyResponse> {
    const int turn = Turn(req);
    if (req.agent != kCoordinatorName) {
      const std::string task = (*req.messages)[1].content;
      if (turn == 0 && task == "remember") {
        return Call("w", "notes", {{"action", "write"}, {"key", "k"}, {"text", "kept across assignments"}});
      }
      if (turn == 0) return Call("r", "notes", {{"action", "read"}, {"key", "k"}});
      std::lock_guard<std::mutex> lock(mu);
      if (req.messages->back().role == "tool") read_back[req.agent] = req.messages->back().content;
      return Reply(workers::Message::Assistant("done with " + task + " as " + req.agent));
    }
    auto assign = [](const std::string& id, const std::string& agent, const std::string& task) {
      return Call(id, workers::kAssignTaskTool, workers::AssignArguments({agent, task}));
    };
    switch (turn) {
      case 0: return Call("c0", workers::kCreateSubagentTool, workers::CreateArguments({"w", "You keep notes.", {"notes"}}));
      case 1: return Call("c1", workers::kCreateSubagentTool, workers::CreateArguments({"v", "You keep notes.", {}}));
      case 2: return assign("c2", "w", "remember");
      case 3: return assign("c3", "w", "recall");
      case 4: return assign("c4", "v", "recall");
      default: return Reply(workers::Message::Assistant("no table"));
    }
  });
  RecordingSink sink;
  Result<tide::v1::RunResult> r = RunSwarm(spec, &policy, &sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->subagents(), 3);
  EXPECT_THAT(read_back["w#2"], HasSubstr("kept across assignments"));  // w's second context, same notes
  EXPECT_THAT(read_back["v"], HasSubstr("error"));                      // v has notes of its own
  EXPECT_THAT(read_back["v"], Not(HasSubstr("kept across assignments")));
}

}  // namespace
}  // namespace tide::orchestrator
