// A `tide serve` child process on free loopback ports, for the end-to-end tests: started
// with --port 0 (and any extra arguments), its ports read from what it prints once bound;
// SIGTERM and wait on Stop or destruction (Stop(SIGKILL) crashes it).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

namespace tide::e2e {

class ServeProcess {
 public:
  explicit ServeProcess(const std::string& db, std::vector<std::string> extra = {}) {
    int fds[2];
    if (pipe(fds) != 0) return;
    std::vector<std::string> args = {TIDE_BIN, "serve", "--port", "0", "--db", db};
    args.insert(args.end(), extra.begin(), extra.end());
    const bool model = std::find(args.begin(), args.end(), "--model") != args.end();
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(TIDE_BIN, argv.data());
      _exit(127);
    }
    close(fds[1]);
    // "tide serve: listening on 127.0.0.1:PORT (db ...)", then with a model
    // "tide serve: model NAME, OpenAI API on http://127.0.0.1:PORT/v1".
    for (int lines = model ? 2 : 1; lines > 0; --lines) {
      std::string line;
      char c;
      while (read(fds[0], &c, 1) == 1 && c != '\n') line += c;
      if (line.find("listening on") != std::string::npos) {
        const auto colon = line.rfind(':', line.find(" (db"));
        if (colon != std::string::npos) port_ = std::stoi(line.substr(colon + 1));
      } else if (const auto at = line.find("OpenAI API on http://"); at != std::string::npos) {
        const auto colon = line.rfind(':');
        http_port_ = std::stoi(line.substr(colon + 1));
      }
    }
    close(fds[0]);
  }
  ~ServeProcess() { Stop(); }
  int port() const { return port_; }
  int http_port() const { return http_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // SIGTERM (or `sig`, e.g. SIGKILL for a crash), then wait; returns the wait status.
  int Stop(int sig = SIGTERM) {
    if (pid_ <= 0) return -1;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  int http_port_ = 0;
};

}  // namespace tide::e2e
