// Subprocess: a child process started with posix_spawn whose stdin, stdout and stderr are
// pipes owned by this object. It is the transport under the MCP client (mcp_client.h) and
// any other worker that talks to a helper process over its standard streams.
//
// Guarantees:
//  - argv is passed as a list (no shell); argv[0] without a '/' is looked up in PATH. The
//    child gets this process's environment plus `env` (which overrides), and runs in its
//    own process group, so signals reach the helpers it starts too.
//  - `rlimits` are set (soft and hard) in the child before exec, so they bind the program
//    from its first instruction and everything it starts. posix_spawn cannot do that, so a
//    child with limits is started with fork + execve (only async-signal-safe calls between).
//  - Every descriptor is close-on-exec here, so children started by other threads never
//    inherit these pipes.
//  - WriteStdin never raises SIGPIPE: a child that closed its stdin gives UNAVAILABLE, and
//    a child that stops reading gives DEADLINE_EXCEEDED at the deadline.
//  - Terminate (and the destructor) always returns: close stdin, wait `grace`, SIGTERM the
//    group, wait `grace`, SIGKILL the group; the child is reaped, never left a zombie.
//
// Thread safety: WaitFor, Kill, exited and pid may be called from any thread; Terminate
// closes stdin, so like CloseStdin it must not overlap WriteStdin.
// WriteStdin and CloseStdin must be serialized by the caller (one writer at a time).
// Reading stdout_fd / stderr_fd is the caller's job (poll them; they are non-blocking).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tide/core/status.h"

namespace tide::workers {

struct SubprocessOptions {
  std::vector<std::string> argv;           // argv[0] is the program
  std::map<std::string, std::string> env;  // added to this process's environment
  std::string working_dir;                 // empty: this process's working directory
  // {resource, limit}: setrlimit(resource, {limit, limit}) in the child, e.g.
  // {RLIMIT_AS, 64 << 20}. A limit the child cannot set fails Start (INVALID_ARGUMENT).
  std::vector<std::pair<int, uint64_t>> rlimits;
};

class Subprocess {
 public:
  // NOT_FOUND when the program does not exist or cannot be executed, INVALID_ARGUMENT for
  // an empty argv, INTERNAL when pipes or the spawn fail for another reason.
  static Result<std::unique_ptr<Subprocess>> Start(const SubprocessOptions& options);
  ~Subprocess();  // Terminate(std::chrono::milliseconds(2000)) if still running

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  int stdout_fd() const { return stdout_fd_; }  // non-blocking; -1 never
  int stderr_fd() const { return stderr_fd_; }  // non-blocking

  // Writes all of `data` before `deadline`. UNAVAILABLE if stdin is closed or the child
  // stopped reading it (EPIPE), DEADLINE_EXCEEDED if the pipe stayed full. A failed write
  // may have written part of `data`.
  Status WriteStdin(std::string_view data, std::chrono::steady_clock::time_point deadline);
  void CloseStdin();

  // Reaps the child if it exits within `timeout` and returns its wait status (as from
  // waitpid); nullopt if it is still running. Returns the saved status once reaped.
  std::optional<int> WaitFor(std::chrono::milliseconds timeout);
  bool exited() const { return reaped_.load(); }

  // Stops the child as described above and returns its wait status.
  int Terminate(std::chrono::milliseconds grace);
  // SIGKILL to the child's process group now; touches no descriptor, so it may run while
  // another thread is inside WriteStdin (which then fails with UNAVAILABLE).
  void Kill();

  // "exited with code 3", "was killed by signal 9 (Killed)".
  static std::string DescribeExit(int wait_status);

 private:
  Subprocess() = default;
  std::optional<int> TryReap();
  void SignalGroup(int sig);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::mutex reap_mu_;  // guards waitpid and wait_status_
  std::atomic<bool> reaped_{false};
  int wait_status_ = 0;
};

}  // namespace tide::workers
