#include "tide/core/log.h"

#include <cstdlib>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tide {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = GetLogLevel(); }
  void TearDown() override { SetLogLevel(saved_); }

 private:
  LogLevel saved_ = LogLevel::kWarn;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST_F(LogTest, ParseLogLevelAcceptsKnownNames) {
  LogLevel level = LogLevel::kError;
  ASSERT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  ASSERT_TRUE(ParseLogLevel("info", &level));
  EXPECT_EQ(level, LogLevel::kInfo);
  ASSERT_TRUE(ParseLogLevel("warn", &level));
  EXPECT_EQ(level, LogLevel::kWarn);
  ASSERT_TRUE(ParseLogLevel("warning", &level));
  EXPECT_EQ(level, LogLevel::kWarn);
  ASSERT_TRUE(ParseLogLevel("error", &level));
  EXPECT_EQ(level, LogLevel::kError);
}

TEST_F(LogTest, ParseLogLevelRejectsUnknownNamesAndLeavesOutputAlone) {
  LogLevel level = LogLevel::kInfo;
  EXPECT_FALSE(ParseLogLevel("verbose", &level));
  EXPECT_FALSE(ParseLogLevel("", &level));
  EXPECT_FALSE(ParseLogLevel("debugx", &level));
  EXPECT_EQ(level, LogLevel::kInfo);
}

TEST_F(LogTest, SetAndGetLevel) {
  SetLogLevel(LogLevel::kDebug);
  EXPECT_EQ(GetLogLevel(), LogLevel::kDebug);
  SetLogLevel(LogLevel::kError);
  EXPECT_EQ(GetLogLevel(), LogLevel::kError);
}

TEST_F(LogTest, LinesReachStderrWithLevelFileAndLine) {
  SetLogLevel(LogLevel::kInfo);
  testing::internal::CaptureStderr();
  const int line = __LINE__ + 1;
  TIDE_LOG(Warn) << "disk at " << 93 << "%";
  const std::string err = testing::internal::GetCapturedStderr();
  const std::vector<std::string> lines = Lines(err);
  ASSERT_EQ(lines.size(), 1u) << err;
  EXPECT_EQ(err.back(), '\n');
  EXPECT_EQ(lines[0].substr(0, 2), "W ");
  // Only the file's base name is printed, followed by the line.
  EXPECT_THAT(lines[0], HasSubstr(" log_test.cc:" + std::to_string(line) + "] disk at 93%"));
  EXPECT_THAT(lines[0], Not(HasSubstr("tests/core/")));
  // "W HH:MM:SS.mmm file:line] message"
  EXPECT_TRUE(std::regex_match(lines[0], std::regex(R"(W \d\d:\d\d:\d\d\.\d\d\d log_test\.cc:\d+\] disk at 93%)")))
      << lines[0];
}

TEST_F(LogTest, EachLevelHasItsTag) {
  SetLogLevel(LogLevel::kDebug);
  testing::internal::CaptureStderr();
  TIDE_LOG(Debug) << "d";
  TIDE_LOG(Info) << "i";
  TIDE_LOG(Warn) << "w";
  TIDE_LOG(Error) << "e";
  const std::vector<std::string> lines = Lines(testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].substr(0, 2), "D ");
  EXPECT_EQ(lines[1].substr(0, 2), "I ");
  EXPECT_EQ(lines[2].substr(0, 2), "W ");
  EXPECT_EQ(lines[3].substr(0, 2), "E ");
  EXPECT_EQ(lines[0].back(), 'd');
  EXPECT_EQ(lines[3].back(), 'e');
}

TEST_F(LogTest, LinesBelowTheLevelAreDroppedWithoutEvaluatingTheStream) {
  SetLogLevel(LogLevel::kWarn);
  int evaluated = 0;
  auto side_effect = [&] {
    ++evaluated;
    return "x";
  };
  testing::internal::CaptureStderr();
  TIDE_LOG(Debug) << side_effect();
  TIDE_LOG(Info) << side_effect();
  const std::string dropped = testing::internal::GetCapturedStderr();
  EXPECT_EQ(dropped, "");
  EXPECT_EQ(evaluated, 0);

  testing::internal::CaptureStderr();
  TIDE_LOG(Error) << side_effect();
  EXPECT_THAT(testing::internal::GetCapturedStderr(), HasSubstr("] x\n"));
  EXPECT_EQ(evaluated, 1);
}

TEST_F(LogTest, MacroIsSafeInUnbracedIfElse) {
  SetLogLevel(LogLevel::kError);
  bool else_ran = false;
  testing::internal::CaptureStderr();
  if (false)
    TIDE_LOG(Error) << "never";
  else
    else_ran = true;
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_TRUE(else_ran);
}

TEST_F(LogTest, LogLineWritesDirectly) {
  testing::internal::CaptureStderr();
  LogLine(LogLevel::kError, "/some/dir/file.cc", 12, "boom");
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("file.cc:12] boom\n"));
  EXPECT_THAT(err, Not(HasSubstr("/some/dir")));
  EXPECT_EQ(err.substr(0, 2), "E ");
}

TEST_F(LogTest, ConcurrentLinesNeverInterleave) {
  SetLogLevel(LogLevel::kInfo);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  testing::internal::CaptureStderr();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kPerThread; ++i) TIDE_LOG(Info) << "thread " << t << " line " << i << " end";
    });
  }
  for (auto& th : threads) th.join();
  const std::vector<std::string> lines = Lines(testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kPerThread));
  const std::regex shape(R"(I \d\d:\d\d:\d\d\.\d\d\d log_test\.cc:\d+\] thread \d line \d+ end)");
  for (const auto& line : lines) ASSERT_TRUE(std::regex_match(line, shape)) << line;
}

TEST_F(LogTest, InitialLevelComesFromEnvironment) {
  // The level is read once per process, so check it in a freshly started child.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ASSERT_EQ(setenv("TIDE_LOG_LEVEL", "debug", 1), 0);
  EXPECT_EXIT(
      {
        const bool debug = GetLogLevel() == LogLevel::kDebug;
        TIDE_LOG(Debug) << "env-level-debug";
        std::exit(debug ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "env-level-debug");
  ASSERT_EQ(setenv("TIDE_LOG_LEVEL", "error", 1), 0);
  EXPECT_EXIT(
      {
        const bool error = GetLogLevel() == LogLevel::kError;
        TIDE_LOG(Warn) << "should-not-appear";
        std::exit(error ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "^$");
  unsetenv("TIDE_LOG_LEVEL");
  EXPECT_EXIT(std::exit(GetLogLevel() == LogLevel::kWarn ? 0 : 1), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace tide
