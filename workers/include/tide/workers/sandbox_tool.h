// The `run_command` tool: runs `{"command": string, "stdin"?: string}` with /bin/sh -c inside
// a bubblewrap (bwrap) sandbox, so a model can run programs without reaching the host.
//
// The sandbox: every namespace unshared (no network but its own loopback, its own pids),
// a new session (no host terminal), the child killed with its parent; /usr read-only (with
// the /bin, /lib, /lib64 symlinks and /etc/alternatives, which Debian's awk, editor, ...
// resolve through), nothing else of the host (no /etc/passwd, no /home); a fresh /proc and
// /dev, a tmpfs /tmp; an empty environment but PATH, HOME and TMPDIR. The working directory
// /scratch is one host directory per tool instance, bound read-write: files persist across
// that instance's calls (one agent's) and are deleted with the tool.
//
// Limits (SandboxLimits): wall time (the process group is killed; the call is
// DEADLINE_EXCEEDED, a timeout error observation quoting the output so far), address space
// (RLIMIT_AS set before bwrap starts; it binds everything inside), and output bytes kept
// per stream (the rest is read and dropped, and the observation says it was truncated).
//
// Observation: a JSON object {"exit_code", "stdout", "stderr"} plus "stdout_truncated" /
// "stderr_truncated" notes when output was cut; a non-zero exit code is a normal result.
// When bwrap cannot run here (not installed, no user namespaces) every call is UNAVAILABLE
// naming why; SandboxAvailable() tells up front.
//
// Thread safety: Call may run concurrently (each call is its own process; they share the
// scratch directory).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "tide/core/status.h"
#include "tide/workers/tool.h"

namespace tide::workers {

inline constexpr char kRunCommandTool[] = "run_command";

struct SandboxLimits {
  std::chrono::milliseconds wall_time{30000};
  uint64_t memory_bytes = uint64_t{1} << 30;  // RLIMIT_AS of the whole sandbox; 0 = none
  size_t max_output_bytes = 64 * 1024;        // kept per stream (stdout, stderr)
  size_t max_stdin_bytes = 1 << 20;           // a longer "stdin" is INVALID_ARGUMENT
};

// OK when `bwrap` runs a command in the sandbox above on this machine, else UNAVAILABLE
// with bwrap's own words. Checked once per process.
Status SandboxAvailable();

class SandboxTool : public Tool {
 public:
  // Creates the scratch directory under `scratch_parent` (empty: $TMPDIR or /tmp).
  // INTERNAL when it cannot be made.
  static Result<std::shared_ptr<SandboxTool>> Create(SandboxLimits limits = {}, const std::string& scratch_parent = "");
  ~SandboxTool() override;  // removes the scratch directory

  const ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const nlohmann::json& arguments) override;

  const std::string& scratch_dir() const { return scratch_; }  // the host path of /scratch
  const SandboxLimits& limits() const { return limits_; }

 private:
  SandboxTool(SandboxLimits limits, std::string scratch);

  SandboxLimits limits_;
  std::string scratch_;
  ToolSpec spec_;
};

}  // namespace tide::workers
