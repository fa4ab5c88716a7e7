// McpClient against a real MCP server process: tests/workers/data/mcp_test_server.py,
// which speaks the stdio protocol and misbehaves on demand (crash, hang, a malformed line,
// requests to the client, a server that ignores SIGTERM). McpServersE2eTest drives the
// real npm servers @modelcontextprotocol/server-memory and server-filesystem, pinned in
// tests/e2e/node (scripts/setup.sh installs them); it skips when node or they are missing.
#include "tide/workers/mcp_client.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tide/workers/tool_registry.h"

namespace tide::workers {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

const std::string kServer = std::string(TIDE_SOURCE_DIR) + "/tests/workers/data/mcp_test_server.py";

// Debian's interpreter when present: a version manager's shim on PATH costs ~0.5 s a start.
std::string Python() { return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3"; }

bool HavePython() {
  static const bool have = std::system((Python() + " -c pass >/dev/null 2>&1").c_str()) == 0;
  return have;
}

McpServerConfig TestServer(std::vector<std::string> flags = {}) {
  McpServerConfig config;
  config.name = "test";
  config.command = {Python(), kServer};
  for (auto& f : flags) config.command.push_back(std::move(f));
  return config;
}

std::shared_ptr<McpClient> StartOrDie(McpServerConfig config, McpClientOptions options = {}) {
  auto client = McpClient::Start(std::move(config), options);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? client.value() : nullptr;
}

class McpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HavePython()) GTEST_SKIP() << "python3 is not installed; the MCP test server needs it";
  }
};

TEST_F(McpClientTest, HandshakeReportsTheServerAndSendsTheProtocolVersion) {
  auto client = StartOrDie(TestServer());
  ASSERT_TRUE(client);
  EXPECT_EQ(client->server_info().name, "tide-test-server");
  EXPECT_EQ(client->server_info().version, "1.2.3");
  EXPECT_EQ(client->server_info().protocol_version, "2025-06-18");
  EXPECT_EQ(client->server_info().instructions, "Use echo to test.");
  EXPECT_TRUE(client->server_info().capabilities.contains("tools"));
  auto info = client->CallTool("client_info", json::object());  // refused unless initialized was sent
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  const json params = json::parse(info->text);
  EXPECT_EQ(params["protocolVersion"], "2025-06-18");
  EXPECT_EQ(params["clientInfo"]["name"], "tide");
  EXPECT_TRUE(params["capabilities"].is_object());
}

TEST_F(McpClientTest, ListToolsFollowsEveryPage) {
  auto client = StartOrDie(TestServer({"--page-size", "3"}));
  ASSERT_TRUE(client);
  auto tools = client->ListTools();
  ASSERT_TRUE(tools.ok()) << tools.status().ToString();
  ASSERT_EQ(tools->size(), 15u);  // five pages of three
  EXPECT_EQ(tools->front().name, "echo");
  EXPECT_EQ(tools->back().name, "noisy_stderr");
  EXPECT_EQ(tools->front().input_schema["required"], json::array({"text"}));
  EXPECT_EQ(tools->front().description, "Returns its text.");
}

TEST_F(McpClientTest, CallToolJoinsTextBlocksAndReportsToolErrors) {
  auto client = StartOrDie(TestServer());
  ASSERT_TRUE(client);
  auto sum = client->CallTool("add", {{"a", 2}, {"b", 40}});
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  EXPECT_EQ(sum->text, "42");
  EXPECT_FALSE(sum->is_error);
  auto multi = client->CallTool("multi", json::object());
  ASSERT_TRUE(multi.ok());
  EXPECT_EQ(multi->text, "first\nsecond\n[image: image/png]");
  auto fail = client->CallTool("fail", json::object());
  ASSERT_TRUE(fail.ok()) << fail.status().ToString();
  EXPECT_TRUE(fail->is_error);
  EXPECT_EQ(fail->text, "boom: the tool failed");
  auto unknown = client->CallTool("nope", json::object());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("-32602"), std::string::npos) << unknown.status().message();
  EXPECT_NE(unknown.status().message().find("Unknown tool: nope"), std::string::npos);
}

TEST_F(McpClientTest, ToolsRegisterWithServerPrefixAndTheRegistryValidatesArguments) {
  auto client = StartOrDie(TestServer());
  ASSERT_TRUE(client);
  ToolRegistry registry;
  auto names = RegisterMcpTools(client, registry, {.only = {"echo", "fail", "add"}});
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(names.value(), (std::vector<std::string>{"test__echo", "test__add", "test__fail"}));
  EXPECT_EQ(registry.Find("test__echo")->spec().parameters["properties"]["text"]["type"], "string");

  ToolObservation ok = registry.Invoke({"call_1", "test__echo", R"({"text": "hello"})"});
  EXPECT_FALSE(ok.is_error) << ok.content;
  EXPECT_EQ(ok.content, "hello");
  ToolObservation bad = registry.Invoke({"call_2", "test__echo", R"({"text": 3})"});
  EXPECT_TRUE(bad.is_error);
  EXPECT_NE(bad.content.find("invalid arguments"), std::string::npos) << bad.content;
  ToolObservation failed = registry.Invoke({"call_3", "test__fail", "{}"});
  EXPECT_TRUE(failed.is_error);
  EXPECT_EQ(failed.content, "error: boom: the tool failed");

  ToolRegistry bare;
  auto bare_names = RegisterMcpTools(client, bare, {.prefix_with_server = false, .only = {"echo"}});
  ASSERT_TRUE(bare_names.ok());
  EXPECT_TRUE(bare.Has("echo"));
  auto again = RegisterMcpTools(client, bare, {.prefix_with_server = false, .only = {"echo"}});
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
}

TEST_F(McpClientTest, NotificationsAreCountedAndServerRequestsAnswered) {
  auto client = StartOrDie(TestServer());
  ASSERT_TRUE(client);
  EXPECT_FALSE(client->tools_changed());
  auto notified = client->CallTool("notify", json::object());
  ASSERT_TRUE(notified.ok()) << notified.status().ToString();
  EXPECT_EQ(notified->text, "notified");
  EXPECT_EQ(client->notifications_received(), 2);
  EXPECT_TRUE(client->tools_changed());

  auto sampling = client->CallTool("ask_client", {{"method", "sampling/createMessage"}});
  ASSERT_TRUE(sampling.ok()) << sampling.status().ToString();
  EXPECT_NE(sampling->text.find("-32601"), std::string::npos) << sampling->text;
  auto ping = client->CallTool("ask_client", {{"method", "ping"}});
  ASSERT_TRUE(ping.ok()) << ping.status().ToString();
  EXPECT_EQ(ping->text, R"(client answered: {"result": {}})");
}

TEST_F(McpClientTest, ConcurrentCallsAreMatchedById) {
  auto client = StartOrDie(TestServer());
  ASSERT_TRUE(client);
  constexpr int kCalls = 8;
  std::vector<std::string> got(kCalls);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int i = 0; i < kCalls; ++i) {
    // The first call answers last: answers arrive in the reverse order of the requests.
    threads.emplace_back([&, i] {
      auto r = client->CallTool("slow", {{"ms", 50 * (kCalls - i)}, {"text", "call " + std::to_string(i)}});
      got[i] = r.ok() ? r->text : r.status().ToString();
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kCalls; ++i) EXPECT_EQ(got[i], "call " + std::to_string(i));
  // In flight together: well under the 1.8 s the calls would take one after another.
  EXPECT_LT(Clock::now() - start, milliseconds(1500));
}

TEST_F(McpClientTest, HungCallTimesOutAndIsCancelledWhileTheServerStaysUsable) {
  auto client = StartOrDie(TestServer());
  ASSERT_TRUE(client);
  const auto start = Clock::now();
  auto hung = client->CallTool("hang", json::object(), milliseconds(300));
  ASSERT_FALSE(hung.ok());
  EXPECT_EQ(hung.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(hung.status().message().find("no answer within 300 ms"), std::string::npos) << hung.status().message();
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
  auto echo = client->CallTool("echo", {{"text", "still here"}});
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  EXPECT_EQ(echo->text, "still here");
  auto cancelled = client->CallTool("cancelled", json::object());
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(json::parse(cancelled->text).size(), 1u) << cancelled->text;
}

TEST_F(McpClientTest, MalformedLineFailsTheCallInFlight) {
  auto client = StartOrDie(TestServer());
  ASSERT_TRUE(client);
  auto bad = client->CallTool("malformed", json::object(), milliseconds(5000));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
  EXPECT_NE(bad.status().message().find("not JSON"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("this is {not json"), std::string::npos);
  auto echo = client->CallTool("echo", {{"text", "recovered"}});
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  EXPECT_EQ(echo->text, "recovered");
}

TEST_F(McpClientTest, CrashFailsTheCallAndEveryLaterCall) {
  auto client = StartOrDie(TestServer());
  ASSERT_TRUE(client);
  auto crashed = client->CallTool("crash", json::object(), milliseconds(10000));
  ASSERT_FALSE(crashed.ok());
  EXPECT_EQ(crashed.status().code(), StatusCode::kUnavailable);
  const std::string& m = crashed.status().message();
  EXPECT_NE(m.find("MCP server \"test\" tools/call"), std::string::npos) << m;
  EXPECT_NE(m.find("exited with code 3"), std::string::npos) << m;
  EXPECT_NE(m.find("crashing on purpose"), std::string::npos) << m;
  EXPECT_FALSE(client->alive());
  const auto start = Clock::now();
  auto later = client->CallTool("echo", {{"text", "x"}});
  EXPECT_EQ(later.status().code(), StatusCode::kUnavailable);
  EXPECT_LT(Clock::now() - start, milliseconds(500));
  // Through the registry the crash is an error observation.
  ToolRegistry registry;
  ASSERT_TRUE(registry.Add(std::make_shared<McpTool>(client, McpToolInfo{.name = "echo"}, "echo")).ok());
  ToolObservation obs = registry.Invoke({"c", "echo", R"({"text": "x"})"});
  EXPECT_TRUE(obs.is_error);
  EXPECT_NE(obs.content.find("exited with code 3"), std::string::npos) << obs.content;
}

TEST_F(McpClientTest, StartFailuresAreClearErrors) {
  McpServerConfig missing;
  missing.name = "ghost";
  missing.command = {"/nonexistent/mcp-server"};
  auto r = McpClient::Start(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/mcp-server"), std::string::npos) << r.status().message();

  auto exits = McpClient::Start(TestServer({"--exit-at-start", "2"}));
  ASSERT_FALSE(exits.ok());
  EXPECT_EQ(exits.status().code(), StatusCode::kUnavailable) << exits.status().ToString();
  EXPECT_NE(exits.status().message().find("exited with code 2"), std::string::npos) << exits.status().message();
  EXPECT_NE(exits.status().message().find("refusing to start"), std::string::npos) << exits.status().message();

  auto version = McpClient::Start(TestServer({"--answer-version", "1999-01-01"}));
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(version.status().message().find("1999-01-01"), std::string::npos) << version.status().message();

  const auto start = Clock::now();
  McpClientOptions quick;
  quick.initialize_timeout = milliseconds(300);
  auto hangs = McpClient::Start(TestServer({"--hang-on-initialize"}), quick);
  ASSERT_FALSE(hangs.ok());
  EXPECT_EQ(hangs.status().code(), StatusCode::kDeadlineExceeded) << hangs.status().ToString();
  EXPECT_LT(Clock::now() - start, milliseconds(5000));

  McpServerConfig empty;
  empty.name = "empty";
  EXPECT_EQ(McpClient::Start(empty).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(McpClientTest, CloseKillsAServerThatIgnoresEofAndSigterm) {
  McpClientOptions options;
  options.shutdown_grace = milliseconds(200);
  auto client = StartOrDie(TestServer({"--stubborn"}), options);
  ASSERT_TRUE(client);
  const pid_t pid = client->pid();
  ASSERT_TRUE(client->CallTool("echo", {{"text", "x"}}).ok());
  const auto start = Clock::now();
  client->Close();
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
  EXPECT_NE(kill(pid, 0), 0) << "the server is still running";
  EXPECT_FALSE(client->alive());
  auto after = client->CallTool("echo", {{"text", "x"}});
  EXPECT_EQ(after.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(after.status().message().find("closed"), std::string::npos) << after.status().message();
}

TEST_F(McpClientTest, ServerThatStopsReadingCannotBlockCallersOrClose) {
  McpClientOptions options;
  options.shutdown_grace = milliseconds(200);
  auto client = StartOrDie(TestServer(), options);
  ASSERT_TRUE(client);
  auto frozen = client->CallTool("freeze", json::object(), milliseconds(200));
  EXPECT_EQ(frozen.status().code(), StatusCode::kDeadlineExceeded);
  // 4 MB of arguments fill the pipe the frozen server no longer reads.
  const std::string big(4 << 20, 'a');
  auto start = Clock::now();
  auto stuck = client->CallTool("echo", {{"text", big}}, milliseconds(500));
  EXPECT_EQ(stuck.status().code(), StatusCode::kDeadlineExceeded) << stuck.status().ToString();
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
  // Part of that message may be in the pipe: the connection is given up, not reused.
  EXPECT_FALSE(client->alive());
  auto later = client->CallTool("echo", {{"text", "x"}});
  EXPECT_EQ(later.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(later.status().message().find("stopped reading its stdin"), std::string::npos) << later.status().message();

  // Close while a writer is stuck: it kills the server, so the writer and Close both return.
  auto second = StartOrDie(TestServer(), options);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->CallTool("freeze", json::object(), milliseconds(200)).status().code(),
            StatusCode::kDeadlineExceeded);
  Status writer_status;
  std::thread writer([&] { writer_status = second->CallTool("echo", {{"text", big}}, milliseconds(60000)).status(); });
  std::this_thread::sleep_for(milliseconds(300));
  start = Clock::now();
  second->Close();
  writer.join();
  EXPECT_LT(Clock::now() - start, milliseconds(5000));
  EXPECT_EQ(writer_status.code(), StatusCode::kUnavailable) << writer_status.ToString();
}

TEST_F(McpClientTest, EnvironmentIsPassedThroughAndStderrIsDrained) {
  setenv("TIDE_MCP_TEST_INHERITED", "inherited", 1);
  McpServerConfig config = TestServer();
  config.env = {{"TIDE_MCP_TEST_VALUE", "forty-two"}};
  auto client = StartOrDie(config);
  ASSERT_TRUE(client);
  auto value = client->CallTool("env", {{"name", "TIDE_MCP_TEST_VALUE"}});
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->text, "forty-two");
  auto inherited = client->CallTool("env", {{"name", "TIDE_MCP_TEST_INHERITED"}});
  ASSERT_TRUE(inherited.ok());
  EXPECT_EQ(inherited->text, "inherited");
  // 1 MB of log is far more than a pipe holds: the reader must keep draining stderr.
  auto noisy = client->CallTool("noisy_stderr", {{"bytes", 1 << 20}}, milliseconds(20000));
  ASSERT_TRUE(noisy.ok()) << noisy.status().ToString();
  EXPECT_EQ(noisy->text, "logged");
  EXPECT_LE(client->stderr_tail().size(), 8192u);
  EXPECT_NE(client->stderr_tail().find("xxxx"), std::string::npos);
}

// ---- The real npm servers -------------------------------------------------------------

namespace fs = std::filesystem;

class McpServersE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path bin = fs::path(TIDE_SOURCE_DIR) / "tests/e2e/node/node_modules/.bin";
    memory_bin_ = (bin / "mcp-server-memory").string();
    filesystem_bin_ = (bin / "mcp-server-filesystem").string();
    if (std::system("node --version >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "node is not installed (scripts/setup.sh installs it); skipping the npm MCP servers";
    }
    if (!fs::exists(memory_bin_) || !fs::exists(filesystem_bin_)) {
      GTEST_SKIP() << "the npm MCP servers are not installed in tests/e2e/node "
                      "(run scripts/setup.sh, or npm ci there); skipping";
    }
    dir_ = fs::temp_directory_path() / ("tide-mcp-e2e-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    dir_ = fs::canonical(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  static McpClientOptions Options() {
    McpClientOptions options;
    options.initialize_timeout = milliseconds(60000);  // node starts slowly on a busy machine
    return options;
  }

  std::string memory_bin_, filesystem_bin_;
  fs::path dir_;
};

TEST_F(McpServersE2eTest, MemoryServerStoresAndFindsEntities) {
  McpServerConfig config;
  config.name = "memory";
  config.command = {memory_bin_};
  config.env = {{"MEMORY_FILE_PATH", (dir_ / "memory.jsonl").string()}};
  auto client = StartOrDie(config, Options());
  ASSERT_TRUE(client);
  EXPECT_EQ(client->server_info().name, "memory-server");
  ToolRegistry registry;
  auto names = RegisterMcpTools(client, registry);
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  for (const char* name : {"memory__create_entities", "memory__read_graph", "memory__search_nodes"}) {
    EXPECT_TRUE(registry.Has(name)) << name;
  }

  const json entities = {{"entities",
                          {{{"name", "Tide"}, {"entityType", "project"}, {"observations", {"an agent-swarm runtime"}}},
                           {{"name", "RocksDB"}, {"entityType", "database"}, {"observations", {"stores every event"}}}}}};
  ToolObservation created = registry.Invoke({"c1", "memory__create_entities", entities.dump()});
  ASSERT_FALSE(created.is_error) << created.content;
  EXPECT_NE(created.content.find("Tide"), std::string::npos) << created.content;

  ToolObservation found = registry.Invoke({"c2", "memory__search_nodes", R"({"query": "swarm"})"});
  ASSERT_FALSE(found.is_error) << found.content;
  EXPECT_NE(found.content.find("Tide"), std::string::npos) << found.content;
  EXPECT_EQ(found.content.find("RocksDB"), std::string::npos) << found.content;

  ToolObservation graph = registry.Invoke({"c3", "memory__read_graph", "{}"});
  ASSERT_FALSE(graph.is_error) << graph.content;
  EXPECT_NE(graph.content.find("stores every event"), std::string::npos) << graph.content;

  // The server's own schema rejects a malformed entity before the server sees it.
  ToolObservation bad = registry.Invoke({"c4", "memory__create_entities", R"({"entities": [{"name": "x"}]})"});
  EXPECT_TRUE(bad.is_error);
  EXPECT_NE(bad.content.find("invalid arguments"), std::string::npos) << bad.content;

  client->Close();
  std::ifstream file(dir_ / "memory.jsonl");
  std::stringstream stored;
  stored << file.rdbuf();
  EXPECT_NE(stored.str().find("agent-swarm runtime"), std::string::npos) << stored.str();
}

TEST_F(McpServersE2eTest, FilesystemServerWorksInsideItsDirectoryOnly) {
  McpServerConfig config;
  config.name = "fs";
  config.command = {filesystem_bin_, dir_.string()};
  auto client = StartOrDie(config, Options());
  ASSERT_TRUE(client);
  ToolRegistry registry;
  auto names = RegisterMcpTools(client, registry);
  ASSERT_TRUE(names.ok()) << names.status().ToString();

  const std::string file = (dir_ / "notes.txt").string();
  ToolObservation written = registry.Invoke(
      {"c1", "fs__write_file", json{{"path", file}, {"content", "hello from tide\n"}}.dump()});
  ASSERT_FALSE(written.is_error) << written.content;
  std::ifstream on_disk(file);
  std::string first_line;
  std::getline(on_disk, first_line);
  EXPECT_EQ(first_line, "hello from tide");

  ToolObservation read = registry.Invoke({"c2", "fs__read_text_file", json{{"path", file}}.dump()});
  ASSERT_FALSE(read.is_error) << read.content;
  EXPECT_EQ(read.content, "hello from tide\n");

  ToolObservation listed = registry.Invoke({"c3", "fs__list_directory", json{{"path", dir_.string()}}.dump()});
  ASSERT_FALSE(listed.is_error) << listed.content;
  EXPECT_NE(listed.content.find("[FILE] notes.txt"), std::string::npos) << listed.content;

  ToolObservation outside = registry.Invoke({"c4", "fs__read_text_file", R"({"path": "/etc/passwd"})"});
  EXPECT_TRUE(outside.is_error) << outside.content;
  EXPECT_NE(outside.content.find("Access denied"), std::string::npos) << outside.content;
  EXPECT_EQ(outside.content.find("root:"), std::string::npos) << outside.content;
}

}  // namespace
}  // namespace tide::workers
