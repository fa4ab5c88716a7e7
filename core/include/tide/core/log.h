// Minimal leveled logging to stderr, safe to call from any thread (one line per call,
// written with a single write so lines never interleave). The level comes from
// TIDE_LOG_LEVEL (debug|info|warn|error, default warn) or SetLogLevel.
#pragma once

#include <sstream>
#include <string>

namespace tide {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
bool ParseLogLevel(const std::string& name, LogLevel* out);
void LogLine(LogLevel level, const char* file, int line, const std::string& message);

namespace internal {
class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line) : level_(level), file_(file), line_(line) {}
  ~LogMessage() { LogLine(level_, file_, line_, stream_.str()); }
  std::ostringstream& stream() { return stream_; }

 private:
  LogLevel level_;
  const char* file_;
  int line_;
  std::ostringstream stream_;
};
// Gives the stream expression type void, to match the other branch of TIDE_LOG's `?:`.
struct LogVoidify {
  void operator&(std::ostream&) {}
};
}  // namespace internal

}  // namespace tide

// A conditional expression rather than an if/else, so `if (x) TIDE_LOG(Info) << ...;` is
// one statement without a dangling else.
#define TIDE_LOG(level)                                                          \
  (::tide::LogLevel::k##level < ::tide::GetLogLevel())                           \
      ? (void)0                                                                  \
      : ::tide::internal::LogVoidify() &                                         \
            ::tide::internal::LogMessage(::tide::LogLevel::k##level, __FILE__, __LINE__).stream()
