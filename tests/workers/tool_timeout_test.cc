#include "tide/workers/tool_timeout.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tide/workers/tool_registry.h"

namespace tide::workers {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

// A tool that blocks each call until Release (or answers at once when told to), and can
// throw. Counts calls that are inside Call.
class GateTool : public Tool {
 public:
  GateTool() {
    spec_.name = "gate";
    spec_.parameters = {{"type", "object"}};
  }
  const ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const json& args) override {
    if (args.value("throw", false)) throw std::runtime_error("gate exploded");
    std::unique_lock<std::mutex> lock(mu_);
    ++inside_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_ || args.value("fast", false); });
    --inside_;
    cv_.notify_all();
    return std::string("passed ") + args.value("tag", "");
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void WaitInside(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return inside_ >= n; });
  }

 private:
  ToolSpec spec_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int inside_ = 0;
};

// Polls until the process-wide count of abandoned calls is back to `n` (or 10 s pass).
bool AbandonedBecomes(int n) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (AbandonedToolCalls() != n) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

TEST(TimeoutToolTest, AnswersInTimePassThrough) {
  auto gate = std::make_shared<GateTool>();
  TimeoutTool tool(gate, std::chrono::milliseconds(60000));
  EXPECT_EQ(tool.spec().name, "gate");
  Result<std::string> r = tool.Call({{"fast", true}, {"tag", "x"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "passed x");
}

TEST(TimeoutToolTest, AHungCallIsAbandonedWithATimeoutAndItsThreadEndsWhenTheToolReturns) {
  const int before = AbandonedToolCalls();
  auto gate = std::make_shared<GateTool>();
  {
    auto tool = std::make_shared<TimeoutTool>(gate, std::chrono::milliseconds(30));
    ToolRegistry registry;
    ASSERT_TRUE(registry.Add(tool).ok());
    ToolObservation obs = registry.Invoke({"c1", "gate", R"({"tag":"hung"})"});
    EXPECT_TRUE(obs.is_error);
    EXPECT_EQ(obs.error, ToolError::kTimedOut);
    EXPECT_THAT(obs.content, HasSubstr("gate did not answer within 30 ms"));
    // The tool itself is still inside its call, on the abandoned thread.
    gate->WaitInside(1);
    EXPECT_EQ(AbandonedToolCalls(), before + 1);
    // Later calls are not held up by the hung one.
    Result<std::string> r = tool->Call({{"fast", true}, {"tag", "next"}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, "passed next");
  }
  // The decorator is gone; the thread kept its own reference to the tool. Once the tool
  // returns, the thread drops the result and ends.
  gate->Release();
  EXPECT_TRUE(AbandonedBecomes(before));
}

TEST(TimeoutToolTest, CancellationEndsTheWaitForAHungTool) {
  const int before = AbandonedToolCalls();
  auto gate = std::make_shared<GateTool>();
  std::atomic<bool> cancelled{false};
  TimeoutTool tool(gate, std::chrono::milliseconds(600000), &cancelled);
  std::thread canceller([&] {
    gate->WaitInside(1);
    cancelled = true;
  });
  Result<std::string> r = tool.Call({{"tag", "stuck"}});
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
  EXPECT_THAT(r.status().message(), HasSubstr("cancelled"));
  gate->Release();
  EXPECT_TRUE(AbandonedBecomes(before));
}

TEST(TimeoutToolTest, AThrowingToolIsAnErrorNotACrash) {
  auto gate = std::make_shared<GateTool>();
  TimeoutTool tool(gate, std::chrono::milliseconds(60000));
  Result<std::string> r = tool.Call({{"throw", true}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_THAT(r.status().message(), HasSubstr("gate exploded"));
}

TEST(TimeoutToolTest, ManyConcurrentCallsEachGetTheirOwnAnswer) {
  auto gate = std::make_shared<GateTool>();
  auto tool = std::make_shared<TimeoutTool>(gate, std::chrono::milliseconds(60000));
  std::vector<std::thread> threads;
  std::atomic<int> right{0};
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      Result<std::string> r = tool->Call({{"fast", true}, {"tag", std::to_string(i)}});
      if (r.ok() && *r == "passed " + std::to_string(i)) ++right;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(right.load(), 16);
}

}  // namespace
}  // namespace tide::workers
