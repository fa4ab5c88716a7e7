#include "tide/workers/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

extern char** environ;

namespace tide::workers {
namespace {

using Clock = std::chrono::steady_clock;

std::string Errno(int err) { return std::string(strerror(err)); }

Status MakePipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0) return Internal("pipe2 failed: " + Errno(errno));
  return Status::Ok();
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// The environment of this process with `extra` added or overriding.
std::vector<std::string> BuildEnv(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    const size_t eq = entry.find('=');
    const std::string key(entry.substr(0, eq));
    if (!extra.count(key)) env.emplace_back(entry);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// argv[0] as posix_spawnp finds it: as is when it has a '/', else the first executable
// regular file of that name on this process's PATH. Empty when there is none.
std::string ResolveProgram(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path_env = getenv("PATH");
  std::string_view path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const size_t colon = path.find(':');
    std::string dir(path.substr(0, colon));
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + program;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string_view::npos) return "";
    path.remove_prefix(colon + 1);
  }
}

// What the forked child failed at, sent back over a close-on-exec pipe (nothing arrives
// when execve succeeds).
struct ChildError {
  int stage;  // 0 chdir, 1 setrlimit, 2 execve
  int err;
};

// fork + execve with `limits` set in the child. Returns 0 and the pid, or an errno with
// `stage` saying which step failed. Between fork and execve the child calls only
// async-signal-safe functions: this process has other threads (and their locks).
int ForkExec(const std::string& path, char* const argv[], char* const envp[], const int in[2], const int out[2],
             const int err[2], const std::string& working_dir, const std::vector<std::pair<int, uint64_t>>& limits,
             pid_t* pid_out, int* stage) {
  std::vector<rlimit> values;
  for (const auto& [resource, limit] : limits) values.push_back({static_cast<rlim_t>(limit), static_cast<rlim_t>(limit)});
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    *stage = -1;
    return errno;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    close(report[0]);
    close(report[1]);
    *stage = -1;
    return e;
  }
  if (pid == 0) {
    auto fail = [&](int what) {
      ChildError ce{what, errno};
      (void)!write(report[1], &ce, sizeof(ce));
      _exit(127);
    };
    setpgid(0, 0);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    if (!working_dir.empty() && chdir(working_dir.c_str()) != 0) fail(0);
    for (size_t i = 0; i < values.size(); ++i) {
      if (setrlimit(static_cast<__rlimit_resource_t>(limits[i].first), &values[i]) != 0) fail(1);
    }
    execve(path.c_str(), argv, envp);
    fail(2);
  }
  setpgid(pid, pid);  // also here, so a signal to the group cannot race the child's own call
  close(report[1]);
  ChildError ce{};
  ssize_t n;
  do {
    n = read(report[0], &ce, sizeof(ce));
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof(ce))) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    *stage = ce.stage;
    return ce.err;
  }
  *pid_out = pid;
  return 0;
}

}  // namespace

Result<std::unique_ptr<Subprocess>> Subprocess::Start(const SubprocessOptions& options) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return InvalidArgument("subprocess: argv is empty");
  }
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  auto close_all = [&] {
    for (int* fd : {&in[0], &in[1], &out[0], &out[1], &err[0], &err[1]}) CloseFd(fd);
  };
  for (int* p : {in, out, err}) {
    if (Status s = MakePipe(p); !s.ok()) {
      close_all();
      return s;
    }
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 clears close-on-exec on the target, so only the three ends reach the child.
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  if (!options.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, options.working_dir.c_str());
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group (so the whole tree can be signalled); default signal dispositions
  // and an empty mask, whatever this process has set (e.g. SIGPIPE ignored).
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<std::string> argv_strings = options.argv;
  std::vector<std::string> env_strings = BuildEnv(options.env);
  std::vector<char*> argv = CStrings(argv_strings);
  std::vector<char*> envp = CStrings(env_strings);
  pid_t pid = -1;
  int rc = 0;
  int stage = 2;
  if (options.rlimits.empty()) {
    rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  } else {
    const std::string path = ResolveProgram(options.argv[0]);
    rc = path.empty() ? ENOENT
                      : ForkExec(path, argv.data(), envp.data(), in, out, err, options.working_dir, options.rlimits,
                                 &pid, &stage);
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    close_all();
    if (stage == 1) return InvalidArgument("cannot set the resource limits of \"" + options.argv[0] + "\": " + Errno(rc));
    const std::string what = "cannot start \"" + options.argv[0] + "\": " + Errno(rc);
    if (rc == ENOENT || rc == EACCES || rc == ENOEXEC || rc == ENOTDIR) return NotFound(what);
    return Internal(what);
  }
  CloseFd(&in[0]);
  CloseFd(&out[1]);
  CloseFd(&err[1]);
  std::unique_ptr<Subprocess> p(new Subprocess());
  p->pid_ = pid;
  p->stdin_fd_ = in[1];
  p->stdout_fd_ = out[0];
  p->stderr_fd_ = err[0];
  SetNonBlocking(p->stdin_fd_);
  SetNonBlocking(p->stdout_fd_);
  SetNonBlocking(p->stderr_fd_);
  return p;
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !reaped_.load()) Terminate(std::chrono::milliseconds(2000));
  CloseFd(&stdin_fd_);
  CloseFd(&stdout_fd_);
  CloseFd(&stderr_fd_);
}

Status Subprocess::WriteStdin(std::string_view data, Clock::time_point deadline) {
  if (stdin_fd_ < 0) return Unavailable("the process's stdin is closed");
  // Block SIGPIPE in this thread while writing; swallow the one an EPIPE raises, so a dead
  // reader is an error here instead of killing the whole process.
  sigset_t pipe_set, old_mask, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE);
  Status status = Status::Ok();
  bool broken_pipe = false;
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(stdin_fd_, data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) {
      broken_pipe = true;
      status = Unavailable("the process closed its stdin (broken pipe)");
      break;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      status = Internal("write to the process's stdin failed: " + Errno(errno));
      break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      status = DeadlineExceeded("the process did not read its stdin in time");
      break;
    }
    pollfd pfd{stdin_fd_, POLLOUT, 0};
    poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 1000)));
  }
  if (broken_pipe && !was_pending) {
    timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return status;
}

void Subprocess::CloseStdin() { CloseFd(&stdin_fd_); }

std::optional<int> Subprocess::TryReap() {
  std::lock_guard<std::mutex> lock(reap_mu_);
  if (reaped_.load()) return wait_status_;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    wait_status_ = r == pid_ ? status : 0;
    reaped_.store(true);
    return wait_status_;
  }
  return std::nullopt;
}

std::optional<int> Subprocess::WaitFor(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    if (auto s = TryReap()) return s;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - Clock::now()));
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

void Subprocess::SignalGroup(int sig) {
  // The group outlives its leader while helpers it started are alive; ESRCH is fine.
  if (pid_ > 0) kill(-pid_, sig);
}

void Subprocess::Kill() {
  if (!reaped_.load()) SignalGroup(SIGKILL);
}

int Subprocess::Terminate(std::chrono::milliseconds grace) {
  CloseStdin();
  std::optional<int> status = WaitFor(grace);
  if (!status) {
    SignalGroup(SIGTERM);
    status = WaitFor(grace);
  }
  if (!status) {
    SignalGroup(SIGKILL);
    status = WaitFor(std::chrono::milliseconds(10000));
  }
  // Helpers the server started and left behind would keep our pipes open.
  SignalGroup(SIGKILL);
  return status.value_or(0);
}

std::string Subprocess::DescribeExit(int wait_status) {
  if (WIFEXITED(wait_status)) return "exited with code " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    const char* name = strsignal(sig);
    return "was killed by signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : "");
  }
  return "stopped (wait status " + std::to_string(wait_status) + ")";
}

}  // namespace tide::workers
