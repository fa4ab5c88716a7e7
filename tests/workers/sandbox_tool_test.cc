// run_command for real under bubblewrap: every isolation and limit the header promises is
// checked by doing what it forbids. Skips (naming why) where bwrap cannot run here.
#include "tide/workers/sandbox_tool.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tide/workers/tool_registry.h"

namespace tide::workers {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;
namespace fs = std::filesystem;

class SandboxToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Status s = SandboxAvailable(); !s.ok()) GTEST_SKIP() << s.message();
  }

  static std::shared_ptr<SandboxTool> Make(SandboxLimits limits = {}) {
    auto tool = SandboxTool::Create(limits);
    EXPECT_TRUE(tool.ok()) << tool.status().ToString();
    return tool.ok() ? *tool : nullptr;
  }

  // Runs `command` and returns the parsed observation (fails the test on an error).
  static json Run(SandboxTool& tool, const std::string& command, const std::string& input = "") {
    json args = {{"command", command}};
    if (!input.empty()) args["stdin"] = input;
    Result<std::string> out = tool.Call(args);
    EXPECT_TRUE(out.ok()) << command << ": " << out.status().ToString();
    return out.ok() ? json::parse(*out) : json::object();
  }
};

TEST_F(SandboxToolTest, ReportsExitCodeStdoutStderrAndFeedsStdin) {
  auto tool = Make();
  json r = Run(*tool, "echo out; echo err >&2; exit 3");
  EXPECT_EQ(r["exit_code"], 3);
  EXPECT_EQ(r["stdout"], "out\n");
  EXPECT_EQ(r["stderr"], "err\n");
  EXPECT_FALSE(r.contains("stdout_truncated"));
  r = Run(*tool, "tr a-z A-Z", "hello sandbox");
  EXPECT_EQ(r["exit_code"], 0);
  EXPECT_EQ(r["stdout"], "HELLO SANDBOX");
  // The host's environment (API keys!) does not leak in.
  setenv("TIDE_SANDBOX_SECRET", "s3cret", 1);
  r = Run(*tool, "env");
  unsetenv("TIDE_SANDBOX_SECRET");
  EXPECT_THAT(r["stdout"].get<std::string>(), Not(HasSubstr("s3cret")));
  EXPECT_THAT(r["stdout"].get<std::string>(), HasSubstr("PATH=/usr/local/bin:/usr/bin:/bin"));
}

TEST_F(SandboxToolTest, HasNoNetworkButItsOwnLoopback) {
  auto tool = Make();
  json r = Run(*tool, "cat /proc/net/dev");
  const std::string devs = r["stdout"];
  EXPECT_THAT(devs, HasSubstr("lo:"));
  // Every interface line but the loopback's would be a way out.
  int interfaces = 0;
  for (size_t pos = 0; (pos = devs.find(':', pos)) != std::string::npos; ++pos) ++interfaces;
  EXPECT_EQ(interfaces, 1) << devs;

  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "python3 is needed for the connect check";
  // A port this test listens on outside: reachable from here, not from inside.
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 8), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string connect =
      "/usr/bin/python3 -c \"import socket; socket.create_connection(('127.0.0.1', " +
      std::to_string(ntohs(addr.sin_port)) + "), timeout=3); print('connected')\"";
  FILE* host = popen((connect + " 2>&1").c_str(), "r");
  ASSERT_NE(host, nullptr);
  char buf[256] = {0};
  const size_t n = fread(buf, 1, sizeof(buf) - 1, host);
  pclose(host);
  ASSERT_THAT(std::string(buf, n), HasSubstr("connected")) << "the control connect from the host failed";
  r = Run(*tool, connect);
  EXPECT_NE(r["exit_code"], 0);
  EXPECT_THAT(r["stdout"].get<std::string>(), Not(HasSubstr("connected")));
  EXPECT_THAT(r["stderr"].get<std::string>(), HasSubstr("ConnectionRefused"));
  close(listener);
}

TEST_F(SandboxToolTest, SystemIsReadOnlyAndHostFilesAreHidden) {
  auto tool = Make();
  const std::string probe = "/usr/tide-sandbox-probe-" + std::to_string(getpid());
  json r = Run(*tool, "touch " + probe);
  EXPECT_NE(r["exit_code"], 0);
  EXPECT_THAT(r["stderr"].get<std::string>(), HasSubstr("Read-only file system"));
  EXPECT_FALSE(fs::exists(probe));
  ASSERT_TRUE(fs::exists("/etc/passwd"));
  r = Run(*tool, "cat /etc/passwd");
  EXPECT_NE(r["exit_code"], 0);
  EXPECT_EQ(r["stdout"], "");
  r = Run(*tool, std::string("ls ") + TIDE_SOURCE_DIR);
  EXPECT_NE(r["exit_code"], 0);
  // The programs of /usr still run, Debian alternatives included (awk).
  r = Run(*tool, "awk 'BEGIN { print 6 * 7 }'");
  EXPECT_EQ(r["stdout"], "42\n") << r["stderr"];
}

TEST_F(SandboxToolTest, ScratchPersistsBetweenCallsIsPrivateAndIsRemoved) {
  auto tool = Make();
  auto other = Make();
  const std::string scratch = tool->scratch_dir();
  json r = Run(*tool, "pwd; echo kept > notes.txt; mkdir -p sub && chmod 0 sub");
  EXPECT_EQ(r["stdout"], "/scratch\n") << r["stderr"];
  EXPECT_EQ(Run(*tool, "cat notes.txt")["stdout"], "kept\n");
  std::ifstream host(scratch + "/notes.txt");
  std::string line;
  std::getline(host, line);
  EXPECT_EQ(line, "kept");
  EXPECT_NE(Run(*other, "cat notes.txt")["exit_code"], 0);  // another agent's scratch
  // /tmp is fresh for every call.
  Run(*tool, "echo x > /tmp/t");
  EXPECT_NE(Run(*tool, "cat /tmp/t")["exit_code"], 0);
  tool.reset();
  EXPECT_FALSE(fs::exists(scratch));
}

// True when some process's command line contains `needle`.
bool ProcessRunning(const std::string& needle) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (char& c : cmdline) c = c == '\0' ? ' ' : c;
    if (cmdline.find(needle) != std::string::npos && cmdline.find("bwrap") == std::string::npos) return true;
  }
  return false;
}

TEST_F(SandboxToolTest, WallTimeLimitKillsTheCommand) {
  SandboxLimits limits;
  limits.wall_time = std::chrono::milliseconds(300);
  auto tool = Make(limits);
  ToolRegistry registry;
  ASSERT_TRUE(registry.Add(tool).ok());
  const auto start = std::chrono::steady_clock::now();
  ToolObservation obs = registry.Invoke({"c1", kRunCommandTool, R"({"command": "echo started; sleep 100.125"})"});
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(obs.is_error);
  EXPECT_EQ(obs.error, ToolError::kTimedOut);
  EXPECT_THAT(obs.content, HasSubstr("did not finish within 300 ms and was killed"));
  EXPECT_THAT(obs.content, HasSubstr("started"));  // the output so far is quoted
  EXPECT_LT(waited, 50.0);                          // not the 100 s the command asked for
  // The sleep inside the sandbox is gone too, not left running.
  for (int i = 0; i < 100 && ProcessRunning("sleep 100.125"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(ProcessRunning("sleep 100.125"));
}

TEST_F(SandboxToolTest, MemoryLimitStopsAHog) {
  // Doubles a string to 128 MiB: fine with 1 GiB, impossible in 64 MiB.
  const std::string hog = "awk 'BEGIN { s = \"x\"; while (length(s) < 128 * 1024 * 1024) s = s s; print \"done\" }'";
  SandboxLimits roomy;
  json r = Run(*Make(roomy), hog);
  EXPECT_EQ(r["stdout"], "done\n") << r["stderr"];
  SandboxLimits tight;
  tight.memory_bytes = 64 << 20;
  r = Run(*Make(tight), hog);
  EXPECT_NE(r["exit_code"], 0);
  EXPECT_EQ(r["stdout"], "");
  EXPECT_THAT(r["stderr"].get<std::string>(), HasSubstr("memory"));
}

TEST_F(SandboxToolTest, HugeOutputIsTruncatedAndSaysSo) {
  SandboxLimits limits;
  limits.max_output_bytes = 1000;
  auto tool = Make(limits);
  json r = Run(*tool, "head -c 10000000 /dev/zero | tr '\\0' a; echo tail >&2");
  EXPECT_EQ(r["exit_code"], 0);
  EXPECT_EQ(r["stdout"], std::string(1000, 'a'));
  EXPECT_THAT(r["stdout_truncated"].get<std::string>(), HasSubstr("kept the first 1000 of 10000000 bytes"));
  EXPECT_EQ(r["stderr"], "tail\n");
  EXPECT_FALSE(r.contains("stderr_truncated"));
  // Output that is not UTF-8 still makes a valid observation.
  r = Run(*tool, "printf '\\377\\376ok'");
  EXPECT_THAT(r["stdout"].get<std::string>(), HasSubstr("ok"));
}

TEST_F(SandboxToolTest, BadArgumentsAreErrorObservations) {
  SandboxLimits limits;
  limits.max_stdin_bytes = 10;
  ToolRegistry registry;
  ASSERT_TRUE(registry.Add(Make(limits)).ok());
  ToolObservation obs = registry.Invoke({"c1", kRunCommandTool, R"({"cmd": "ls"})"});
  EXPECT_EQ(obs.error, ToolError::kBadArguments) << obs.content;
  obs = registry.Invoke({"c2", kRunCommandTool, R"({"command": ""})"});
  EXPECT_EQ(obs.error, ToolError::kBadArguments) << obs.content;
  obs = registry.Invoke({"c3", kRunCommandTool, R"({"command": "cat", "stdin": "more than ten bytes"})"});
  EXPECT_EQ(obs.error, ToolError::kFailed);
  EXPECT_THAT(obs.content, HasSubstr("\"stdin\" has 19 bytes, more than the 10 allowed"));
}

}  // namespace
}  // namespace tide::workers
