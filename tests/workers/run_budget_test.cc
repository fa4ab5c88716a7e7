#include "tide/workers/run_budget.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tide::workers {
namespace {

using ::testing::HasSubstr;

TEST(RunBudgetTest, ZeroMeansUnlimited) {
  RunBudget b(0, 0);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(b.TryToolCall());
  b.AddTokens(int64_t{1} << 40);
  EXPECT_TRUE(b.Check().ok());
  EXPECT_EQ(b.tool_calls(), 1000);
}

TEST(RunBudgetTest, TokenBudgetIsSpentOnceReached) {
  RunBudget b(100, 0);
  b.AddTokens(99);
  EXPECT_TRUE(b.Check().ok());
  b.AddTokens(1);
  Status s = b.Check();
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("budget_exhausted"));
  EXPECT_THAT(s.message(), HasSubstr("token budget of 100"));
  EXPECT_THAT(s.message(), HasSubstr("100 tokens used"));
}

TEST(RunBudgetTest, ToolCallBudgetIsSpentOnlyWhenACallIsRefused) {
  RunBudget b(0, 2);
  EXPECT_TRUE(b.TryToolCall());
  EXPECT_TRUE(b.TryToolCall());
  EXPECT_TRUE(b.Check().ok());  // exactly used up: an agent may still answer
  EXPECT_FALSE(b.TryToolCall());
  Status s = b.Check();
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("tool-call budget of 2"));
  EXPECT_EQ(b.tool_calls(), 2);
}

TEST(RunBudgetTest, ConcurrentReservationsNeverOvershoot) {
  RunBudget b(0, 500);
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) granted += b.TryToolCall() ? 1 : 0;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(granted.load(), 500);
  EXPECT_EQ(b.tool_calls(), 500);
  EXPECT_FALSE(b.Check().ok());
}

}  // namespace
}  // namespace tide::workers
