// Runs a shell command for the end-to-end tests and returns its standard output;
// *status gets pclose's wait status. Also what the CLI tests share: the `tide` binary's
// exit code and its last JSON line.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace tide::e2e {

inline std::string Shell(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *status = -1;
    return out;
  }
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  *status = pclose(p);
  return out;
}

// `tide ARGS` (the binary under test; ARGS may redirect, e.g. "2>&1").
inline std::string RunTide(const std::string& args, int* status) {
  return Shell(std::string(TIDE_BIN) + " " + args, status);
}

// The exit code in a wait status; -1 when the process did not exit normally.
inline int ExitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

// The JSON object that starts at the output's last '{' (the CLI's final --json line);
// discarded (or null) when there is none.
inline nlohmann::json LastJson(const std::string& out) {
  const size_t at = out.rfind('{');
  return at == std::string::npos ? nlohmann::json() : nlohmann::json::parse(out.substr(at), nullptr, false);
}

}  // namespace tide::e2e
