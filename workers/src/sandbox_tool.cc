#include "tide/workers/sandbox_tool.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "tide/workers/subprocess.h"

namespace tide::workers {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr char kScratchMount[] = "/scratch";

// The bwrap command line that runs `command` in the sandbox (header comment), with
// `scratch` bound read-write at /scratch when given.
std::vector<std::string> BwrapArgv(const std::string& scratch, std::vector<std::string> command) {
  std::vector<std::string> argv = {"bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
                                   "--ro-bind", "/usr", "/usr"};
  // Merged-/usr systems have /bin -> usr/bin etc.; others have real directories.
  for (const char* top : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    std::error_code ec;
    const fs::file_status st = fs::symlink_status(top, ec);
    if (ec || !fs::exists(st)) continue;
    if (fs::is_symlink(st)) {
      const fs::path target = fs::read_symlink(top, ec);
      if (!ec) argv.insert(argv.end(), {"--symlink", target.string(), top});
    } else if (fs::is_directory(st)) {
      argv.insert(argv.end(), {"--ro-bind", top, top});
    }
  }
  // Debian's /usr/bin/awk, editor, ... are symlinks through /etc/alternatives.
  if (std::error_code ec; fs::is_directory("/etc/alternatives", ec)) {
    argv.insert(argv.end(), {"--ro-bind", "/etc/alternatives", "/etc/alternatives"});
  }
  argv.insert(argv.end(), {"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"});
  if (!scratch.empty()) {
    argv.insert(argv.end(), {"--bind", scratch, kScratchMount, "--chdir", kScratchMount});
  } else {
    argv.insert(argv.end(), {"--chdir", "/tmp"});
  }
  argv.insert(argv.end(), {"--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME",
                           scratch.empty() ? "/tmp" : kScratchMount, "--setenv", "TMPDIR", "/tmp", "--setenv", "LANG",
                           "C.UTF-8"});
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

// One output stream of the child: what is kept, and how much there was.
struct Capture {
  int fd = -1;
  bool eof = false;
  size_t total = 0;
  std::string kept;

  void Drain(size_t cap) {
    char buf[65536];
    while (true) {
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n > 0) {
        total += static_cast<size_t>(n);
        if (kept.size() < cap) kept.append(buf, std::min(static_cast<size_t>(n), cap - kept.size()));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) eof = true;
      return;
    }
  }
};

struct RunOutcome {
  bool timed_out = false;
  int wait_status = 0;
  Capture out, err;
};

// Runs argv to its end or `wall_time`, feeding `input` to its stdin and keeping at most
// `cap` bytes of each output stream.
Result<RunOutcome> RunBounded(SubprocessOptions options, const std::string& input, std::chrono::milliseconds wall_time,
                              size_t cap) {
  const auto deadline = Clock::now() + wall_time;
  TIDE_ASSIGN_OR_RETURN(std::unique_ptr<Subprocess> proc, Subprocess::Start(options));
  // Writing on its own thread: a child that fills stdout before it reads stdin must not
  // deadlock against us.
  std::thread writer([&proc, &input, deadline] {
    if (!input.empty()) (void)proc->WriteStdin(input, deadline);
    proc->CloseStdin();
  });
  RunOutcome run;
  run.out.fd = proc->stdout_fd();
  run.err.fd = proc->stderr_fd();
  while (!run.out.eof || !run.err.eof) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      run.timed_out = true;
      break;
    }
    pollfd fds[2];
    nfds_t n = 0;
    for (Capture* c : {&run.out, &run.err}) {
      if (!c->eof) fds[n++] = {c->fd, POLLIN, 0};
    }
    poll(fds, n, static_cast<int>(std::min<long long>(left, 100)));
    for (Capture* c : {&run.out, &run.err}) {
      if (!c->eof) c->Drain(cap);
    }
  }
  std::optional<int> status;
  if (!run.timed_out) {
    // Both streams closed; the process may still be running (it closed them itself).
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    status = proc->WaitFor(std::max(left, std::chrono::milliseconds(0)));
    run.timed_out = !status.has_value();
  }
  if (run.timed_out) {
    // bwrap leads the process group; --die-with-parent takes the sandbox down with it.
    proc->Kill();
    status = proc->WaitFor(std::chrono::milliseconds(10000));
  }
  writer.join();
  run.wait_status = status.value_or(0);
  return run;
}

std::string Quote(const std::string& s, size_t max) {
  return s.size() <= max ? s : s.substr(0, max) + "...";
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void MakeRemovable(const fs::path& dir) {
  std::error_code ec;
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add, ec);
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) MakeRemovable(it->path());
  }
}

}  // namespace

Status SandboxAvailable() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] {
    SubprocessOptions options;
    options.argv = BwrapArgv("", {"/bin/sh", "-c", "true"});
    Result<RunOutcome> run = RunBounded(options, "", std::chrono::milliseconds(20000), 4096);
    if (!run.ok()) {
      status = Unavailable("the command sandbox needs bubblewrap (`bwrap`, Debian package bubblewrap): " +
                           run.status().message());
    } else if (run->timed_out) {
      status = Unavailable("the command sandbox is unavailable: `bwrap --unshare-all` did not finish in 20 s");
    } else if (!WIFEXITED(run->wait_status) || WEXITSTATUS(run->wait_status) != 0) {
      status = Unavailable("the command sandbox is unavailable: `bwrap --unshare-all` " +
                           Subprocess::DescribeExit(run->wait_status) + " (" + Quote(run->err.kept, 500) +
                           "); user namespaces may be disabled on this machine");
    }
  });
  return status;
}

Result<std::shared_ptr<SandboxTool>> SandboxTool::Create(SandboxLimits limits, const std::string& scratch_parent) {
  if (limits.wall_time.count() <= 0) return InvalidArgument("run_command: the wall time limit must be positive");
  std::string parent = scratch_parent;
  if (parent.empty()) {
    const char* tmp = getenv("TMPDIR");
    parent = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  std::string pattern = parent + "/tide-sandbox-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    return Internal("run_command: cannot create a scratch directory under " + parent + ": " + strerror(errno));
  }
  return std::shared_ptr<SandboxTool>(new SandboxTool(limits, pattern));
}

SandboxTool::SandboxTool(SandboxLimits limits, std::string scratch) : limits_(limits), scratch_(std::move(scratch)) {
  spec_.name = kRunCommandTool;
  const std::string mib = limits_.memory_bytes == 0 ? "no" : std::to_string(limits_.memory_bytes >> 20) + " MiB";
  spec_.description =
      "Runs a shell command (/bin/sh -c) in an isolated sandbox: no network, read-only system files, and a working "
      "directory /scratch of your own whose files persist between your calls. Limits: " +
      std::to_string(limits_.wall_time.count()) + " ms wall time, " + mib + " of memory, the first " +
      std::to_string(limits_.max_output_bytes) + " bytes of stdout and of stderr. Returns {exit_code, stdout, stderr}.";
  spec_.parameters = {
      {"type", "object"},
      {"properties",
       {{"command", {{"type", "string"}, {"minLength", 1}, {"description", "the shell command line to run"}}},
        {"stdin", {{"type", "string"}, {"description", "text given to the command's standard input"}}}}},
      {"required", {"command"}},
      {"additionalProperties", false}};
}

SandboxTool::~SandboxTool() {
  MakeRemovable(scratch_);  // a command may have left a directory without write permission
  std::error_code ec;
  fs::remove_all(scratch_, ec);
}

Result<std::string> SandboxTool::Call(const json& arguments) {
  if (!arguments.is_object() || !arguments.contains("command") || !arguments["command"].is_string()) {
    return InvalidArgument("run_command: \"command\" must be a string");
  }
  const std::string command = arguments["command"].get<std::string>();
  std::string input;
  if (arguments.contains("stdin")) {
    if (!arguments["stdin"].is_string()) return InvalidArgument("run_command: \"stdin\" must be a string");
    input = arguments["stdin"].get<std::string>();
  }
  if (command.empty()) return InvalidArgument("run_command: \"command\" is empty");
  if (input.size() > limits_.max_stdin_bytes) {
    return InvalidArgument("run_command: \"stdin\" has " + std::to_string(input.size()) + " bytes, more than the " +
                           std::to_string(limits_.max_stdin_bytes) + " allowed");
  }
  TIDE_RETURN_IF_ERROR(SandboxAvailable());

  SubprocessOptions options;
  options.argv = BwrapArgv(scratch_, {"/bin/sh", "-c", command});
  if (limits_.memory_bytes > 0) options.rlimits.push_back({RLIMIT_AS, limits_.memory_bytes});
  Result<RunOutcome> run = RunBounded(options, input, limits_.wall_time, limits_.max_output_bytes);
  if (!run.ok()) return Unavailable("run_command: cannot start the sandbox: " + run.status().message());

  if (run->timed_out) {
    return DeadlineExceeded("run_command: the command did not finish within " +
                            std::to_string(limits_.wall_time.count()) + " ms and was killed; stdout so far: " +
                            Dump(Quote(run->out.kept, 2000)) + ", stderr so far: " + Dump(Quote(run->err.kept, 2000)));
  }
  json obs = json::object();
  const int ws = run->wait_status;
  // A shell reports a command killed by signal N as 128+N; so does bwrap for its child.
  obs["exit_code"] = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : -1;
  obs["stdout"] = run->out.kept;
  obs["stderr"] = run->err.kept;
  for (const auto& [key, c] : {std::pair{"stdout_truncated", &run->out}, std::pair{"stderr_truncated", &run->err}}) {
    if (c->total > c->kept.size()) {
      obs[key] = "output cut: kept the first " + std::to_string(c->kept.size()) + " of " + std::to_string(c->total) +
                 " bytes";
    }
  }
  return Dump(obs);
}

}  // namespace tide::workers
