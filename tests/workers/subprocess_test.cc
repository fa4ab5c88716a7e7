// Subprocess with real child processes: both start paths (posix_spawn, and fork + execve
// when resource limits are asked for) give the same child: pipes, own process group,
// default signal dispositions, working directory, and the limits in force before exec.
#include "tide/workers/subprocess.h"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tide::workers {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using std::chrono::milliseconds;

// Everything the child writes to stdout until it closes it (at most 10 s).
std::string ReadAll(Subprocess& p) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{p.stdout_fd(), POLLIN, 0};
    poll(&pfd, 1, 100);
    char buf[4096];
    const ssize_t n = read(p.stdout_fd(), buf, sizeof(buf));
    if (n == 0) break;
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

struct Ran {
  std::string out;
  int status = -1;
};

Ran RunShell(const std::string& script, std::vector<std::pair<int, uint64_t>> rlimits = {}, std::string dir = "") {
  SubprocessOptions options;
  options.argv = {"sh", "-c", script};
  options.rlimits = std::move(rlimits);
  options.working_dir = std::move(dir);
  auto p = Subprocess::Start(options);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  if (!p.ok()) return {};
  (*p)->CloseStdin();
  Ran r;
  r.out = ReadAll(**p);
  r.status = (*p)->WaitFor(milliseconds(10000)).value_or(-1);
  return r;
}

class BothStartPaths : public ::testing::TestWithParam<bool> {
 protected:
  // A limit far above what `sh` needs selects the fork + execve path.
  std::vector<std::pair<int, uint64_t>> Limits() const {
    if (!GetParam()) return {};
    return {{RLIMIT_CPU, 3600}};
  }
};

TEST_P(BothStartPaths, ChildHasPipesItsOwnGroupDefaultSignalsAndTheWorkingDir) {
  Ran r = RunShell("read line; echo \"got $line\"; echo oops >&2; exit 4", Limits());
  EXPECT_EQ(r.out, "got \n");  // stdin was not written, read got EOF
  EXPECT_TRUE(WIFEXITED(r.status));
  EXPECT_EQ(WEXITSTATUS(r.status), 4);

  // Own process group: the shell's pgid (field 5 of /proc/PID/stat) is its pid.
  r = RunShell("echo $$; cut -d' ' -f5 /proc/$$/stat", Limits());
  const size_t nl = r.out.find('\n');
  ASSERT_NE(nl, std::string::npos) << r.out;
  EXPECT_EQ(r.out.substr(0, nl + 1), r.out.substr(nl + 1));

  // This process ignores SIGPIPE; the child must not (`yes` would never end).
  struct sigaction ignore {}, old {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &old);
  r = RunShell("yes | head -n 1", Limits());
  sigaction(SIGPIPE, &old, nullptr);
  EXPECT_EQ(r.out, "y\n");

  r = RunShell("pwd", Limits(), "/usr");
  EXPECT_EQ(r.out, "/usr\n");
}

TEST_P(BothStartPaths, MissingProgramIsNotFound) {
  SubprocessOptions options;
  options.argv = {"tide-no-such-program-xyz"};
  options.rlimits = Limits();
  auto p = Subprocess::Start(options);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(p.status().message(), HasSubstr("tide-no-such-program-xyz"));
}

INSTANTIATE_TEST_SUITE_P(Subprocess, BothStartPaths, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "ForkExec" : "PosixSpawn"; });

TEST(SubprocessTest, ResourceLimitsAreInForceFromTheStart) {
  Ran plain = RunShell("ulimit -v; ulimit -n");
  Ran limited = RunShell("ulimit -v; ulimit -n", {{RLIMIT_AS, uint64_t{64} << 20}, {RLIMIT_NOFILE, 77}});
  EXPECT_EQ(limited.out, "65536\n77\n");  // ulimit -v is in KiB
  EXPECT_NE(plain.out, limited.out);
  // The limit binds: 256 MiB cannot be had under 64 MiB.
  Ran hog = RunShell("awk 'BEGIN { s = \"x\"; while (length(s) < 256 * 1024 * 1024) s = s s; print \"done\" }' 2>&1",
                     {{RLIMIT_AS, uint64_t{64} << 20}});
  EXPECT_THAT(hog.out, Not(HasSubstr("done")));
  EXPECT_FALSE(WIFEXITED(hog.status) && WEXITSTATUS(hog.status) == 0);
}

TEST(SubprocessTest, ALimitThatCannotBeSetFailsStart) {
  SubprocessOptions options;
  options.argv = {"true"};
  options.rlimits = {{9999, 1}};  // no such resource
  auto p = Subprocess::Start(options);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("resource limits"));
}

}  // namespace
}  // namespace tide::workers
