#include "tide/workers/agent.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tide::workers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using nlohmann::json;

// A real tool: adds integers a and b.
class AdderTool : public Tool {
 public:
  AdderTool() {
    spec_.name = "add";
    spec_.description = "adds a and b";
    spec_.parameters = json::parse(R"({"type":"object",
      "properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"required":["a","b"]})");
  }
  const ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const json& args) override {
    ++calls;
    if (on_call) on_call();
    return std::to_string(args["a"].get<int64_t>() + args["b"].get<int64_t>());
  }
  int calls = 0;
  std::function<void()> on_call;

 private:
  ToolSpec spec_;
};

// Test policy: replays a fixed script of replies (the last one repeats when `repeat_last`),
// and records what each request looked like.
class ScriptedPolicy : public Policy {
 public:
  explicit ScriptedPolicy(std::vector<Result<PolicyResponse>> script, bool repeat_last = false)
      : script_(std::move(script)), repeat_last_(repeat_last) {}

  std::string name() const override { return "scripted"; }

  Result<PolicyResponse> Generate(const PolicyRequest& request) override {
    Seen seen;
    seen.messages = *request.messages;
    for (const auto& t : *request.tools) seen.tools.push_back(t.name);
    seen.agent = request.agent;
    seen.cancelled = request.cancelled;
    requests.push_back(std::move(seen));
    if (before_reply) before_reply();
    size_t i = next_++;
    if (i >= script_.size()) {
      if (!repeat_last_ || script_.empty()) return Internal("script exhausted");
      i = script_.size() - 1;
    }
    return script_[i];
  }

  struct Seen {
    std::vector<Message> messages;
    std::vector<std::string> tools;
    std::string agent;
    const std::atomic<bool>* cancelled = nullptr;
  };
  std::vector<Seen> requests;
  std::function<void()> before_reply;

 private:
  std::vector<Result<PolicyResponse>> script_;
  bool repeat_last_;
  size_t next_ = 0;
};

PolicyResponse Reply(Message m, int64_t prompt = 0, int64_t completion = 0) {
  return PolicyResponse{std::move(m), Usage{prompt, completion}};
}

ToolCall Add(std::string id, int a, int b) {
  return ToolCall{std::move(id), "add", json({{"a", a}, {"b", b}}).dump()};
}

// Records every observer callback as one ordered event log.
class RecordingObserver : public AgentObserver {
 public:
  void OnMessage(const Message& m) override {
    messages.push_back(m);
    events.push_back("msg:" + m.role + (m.tool_call_id.empty() ? "" : ":" + m.tool_call_id));
  }
  void OnToolResult(const ToolCall& call, const ToolObservation& obs, double elapsed_ms) override {
    results.push_back(obs);
    elapsed.push_back(elapsed_ms);
    events.push_back("tool:" + call.id + (obs.is_error ? ":error" : ""));
  }
  std::vector<Message> messages;
  std::vector<ToolObservation> results;
  std::vector<double> elapsed;
  std::vector<std::string> events;
};

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    adder_ = std::make_shared<AdderTool>();
    ASSERT_TRUE(tools_.Add(adder_).ok());
  }
  std::vector<Message> Initial() { return {Message::System("you add numbers"), Message::User("what is 1+2+3+4?")}; }

  ToolRegistry tools_;
  std::shared_ptr<AdderTool> adder_;
  RecordingObserver observer_;
};

TEST_F(AgentTest, RunsToolCallsAndFinishesOnPlainAnswer) {
  ScriptedPolicy policy({Reply(Message::Assistant("", {Add("call_1", 1, 2), Add("call_2", 3, 4)}), 10, 5),
                         Reply(Message::Assistant("", {Add("call_3", 3, 7)}), 20, 3),
                         Reply(Message::Assistant("the sum is 10"), 30, 4)});
  Agent agent({"solver", 10, nullptr}, &policy, &tools_, &observer_);
  AgentOutcome out = agent.Run(Initial());

  EXPECT_EQ(out.end, AgentEnd::kFinished);
  EXPECT_TRUE(out.error.ok()) << out.error.ToString();
  EXPECT_EQ(out.result, "the sum is 10");
  EXPECT_EQ(out.steps, 3);
  EXPECT_EQ(out.tool_calls, 3);
  EXPECT_EQ(adder_->calls, 3);
  // Usage is summed over every policy call.
  EXPECT_EQ(out.usage.prompt_tokens, 60);
  EXPECT_EQ(out.usage.completion_tokens, 12);

  const std::vector<Message>& ctx = agent.context();
  ASSERT_EQ(ctx.size(), 8u);
  EXPECT_EQ(ctx[0].role, "system");
  EXPECT_EQ(ctx[1].role, "user");
  EXPECT_EQ(ctx[2].role, "assistant");
  ASSERT_EQ(ctx[2].tool_calls.size(), 2u);
  EXPECT_EQ(ctx[3].role, "tool");
  EXPECT_EQ(ctx[3].tool_call_id, "call_1");
  EXPECT_EQ(ctx[3].content, "3");
  EXPECT_EQ(ctx[4].tool_call_id, "call_2");
  EXPECT_EQ(ctx[4].content, "7");
  EXPECT_EQ(ctx[5].role, "assistant");
  EXPECT_EQ(ctx[6].tool_call_id, "call_3");
  EXPECT_EQ(ctx[6].content, "10");
  EXPECT_EQ(ctx[7].role, "assistant");
  EXPECT_EQ(ctx[7].content, "the sum is 10");
  EXPECT_TRUE(ctx[7].tool_calls.empty());

  // Each request carried the whole context so far, the tool specs and the agent's name.
  ASSERT_EQ(policy.requests.size(), 3u);
  EXPECT_EQ(policy.requests[0].messages.size(), 2u);
  EXPECT_EQ(policy.requests[1].messages.size(), 5u);
  EXPECT_EQ(policy.requests[1].messages[4].content, "7");
  EXPECT_EQ(policy.requests[2].messages.size(), 7u);
  EXPECT_THAT(policy.requests[0].tools, ElementsAre("add"));
  EXPECT_EQ(policy.requests[0].agent, "solver");
}

TEST_F(AgentTest, ObserverSeesEveryMessageInOrder) {
  ScriptedPolicy policy({Reply(Message::Assistant("adding", {Add("call_1", 1, 2), Add("call_2", 5, 5)})),
                         Reply(Message::Assistant("done"))});
  Agent agent({"a", 10, nullptr}, &policy, &tools_, &observer_);
  AgentOutcome out = agent.Run(Initial());
  ASSERT_EQ(out.end, AgentEnd::kFinished);

  EXPECT_THAT(observer_.events,
              ElementsAre("msg:system", "msg:user", "msg:assistant", "tool:call_1", "msg:tool:call_1", "tool:call_2",
                          "msg:tool:call_2", "msg:assistant"));
  ASSERT_EQ(observer_.messages.size(), agent.context().size());
  for (size_t i = 0; i < observer_.messages.size(); ++i) {
    EXPECT_EQ(observer_.messages[i].role, agent.context()[i].role) << i;
    EXPECT_EQ(observer_.messages[i].content, agent.context()[i].content) << i;
    EXPECT_EQ(observer_.messages[i].tool_call_id, agent.context()[i].tool_call_id) << i;
  }
  ASSERT_EQ(observer_.results.size(), 2u);
  EXPECT_EQ(observer_.results[0].content, "3");
  EXPECT_FALSE(observer_.results[0].is_error);
  EXPECT_EQ(observer_.results[1].content, "10");
  for (double ms : observer_.elapsed) EXPECT_GE(ms, 0.0);
}

TEST_F(AgentTest, BadToolCallsBecomeErrorObservationsAndTheLoopGoesOn) {
  ScriptedPolicy policy({Reply(Message::Assistant("", {ToolCall{"call_1", "multiply", "{}"},
                                                       ToolCall{"call_2", "add", "{not json"},
                                                       ToolCall{"call_3", "add", R"({"a":"x","b":1})"}})),
                         Reply(Message::Assistant("gave up"))});
  Agent agent({"a", 10, nullptr}, &policy, &tools_, &observer_);
  AgentOutcome out = agent.Run(Initial());
  EXPECT_EQ(out.end, AgentEnd::kFinished);
  EXPECT_EQ(out.result, "gave up");
  EXPECT_EQ(adder_->calls, 0);
  const auto& ctx = agent.context();
  ASSERT_EQ(ctx.size(), 7u);
  EXPECT_EQ(ctx[3].tool_call_id, "call_1");
  EXPECT_THAT(ctx[3].content, HasSubstr("unknown tool"));
  EXPECT_EQ(ctx[4].tool_call_id, "call_2");
  EXPECT_THAT(ctx[4].content, HasSubstr("not valid JSON"));
  EXPECT_EQ(ctx[5].tool_call_id, "call_3");
  EXPECT_THAT(ctx[5].content, HasSubstr("$.a"));
  ASSERT_EQ(observer_.results.size(), 3u);
  for (const auto& r : observer_.results) EXPECT_TRUE(r.is_error);
}

TEST_F(AgentTest, StepLimitEndsTheRun) {
  ScriptedPolicy policy({Reply(Message::Assistant("", {Add("call_x", 1, 1)}), 1, 1)}, /*repeat_last=*/true);
  Agent agent({"looper", 3, nullptr}, &policy, &tools_, &observer_);
  AgentOutcome out = agent.Run(Initial());
  EXPECT_EQ(out.end, AgentEnd::kStepLimit);
  EXPECT_EQ(out.steps, 3);
  EXPECT_EQ(policy.requests.size(), 3u);
  EXPECT_EQ(out.tool_calls, 3);
  EXPECT_EQ(out.usage.total(), 6);
  EXPECT_EQ(out.result, "");
  EXPECT_EQ(out.error.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(out.error.message(), HasSubstr("looper"));
  EXPECT_THAT(out.error.message(), HasSubstr("3"));
  // Every tool call of the last step was still answered.
  EXPECT_EQ(agent.context().back().role, "tool");
  EXPECT_EQ(agent.context().size(), 2u + 3u * 2u);
}

TEST_F(AgentTest, CancelledBeforeStartNeverCallsThePolicy) {
  std::atomic<bool> cancelled{true};
  ScriptedPolicy policy({Reply(Message::Assistant("x"))});
  Agent agent({"a", 10, &cancelled}, &policy, &tools_, &observer_);
  AgentOutcome out = agent.Run(Initial());
  EXPECT_EQ(out.end, AgentEnd::kCancelled);
  EXPECT_EQ(out.error.code(), StatusCode::kCancelled);
  EXPECT_EQ(out.steps, 0);
  EXPECT_TRUE(policy.requests.empty());
  // The initial messages still entered the context and reached the observer.
  EXPECT_EQ(agent.context().size(), 2u);
  EXPECT_EQ(observer_.messages.size(), 2u);
}

TEST_F(AgentTest, CancelledDuringToolCallsSkipsTheRestAndStops) {
  std::atomic<bool> cancelled{false};
  adder_->on_call = [&] { cancelled = true; };
  ScriptedPolicy policy({Reply(Message::Assistant("", {Add("call_1", 1, 2), Add("call_2", 3, 4)})),
                         Reply(Message::Assistant("never reached"))});
  Agent agent({"a", 10, &cancelled}, &policy, &tools_, &observer_);
  AgentOutcome out = agent.Run(Initial());
  EXPECT_EQ(out.end, AgentEnd::kCancelled);
  EXPECT_EQ(out.error.code(), StatusCode::kCancelled);
  EXPECT_EQ(out.steps, 1);
  EXPECT_EQ(out.tool_calls, 1);
  EXPECT_EQ(adder_->calls, 1);
  EXPECT_EQ(policy.requests.size(), 1u);
  // The policy saw the cancellation flag.
  EXPECT_EQ(policy.requests[0].cancelled, &cancelled);
  // The skipped call is still answered, so the context stays well formed.
  const auto& ctx = agent.context();
  ASSERT_EQ(ctx.size(), 5u);
  EXPECT_EQ(ctx[3].content, "3");
  EXPECT_EQ(ctx[4].tool_call_id, "call_2");
  EXPECT_THAT(ctx[4].content, HasSubstr("cancelled"));
  ASSERT_EQ(observer_.results.size(), 2u);
  EXPECT_TRUE(observer_.results[1].is_error);
}

TEST_F(AgentTest, PolicyErrorFails) {
  ScriptedPolicy policy({Reply(Message::Assistant("", {Add("call_1", 1, 2)}), 7, 1),
                         Result<PolicyResponse>(Unavailable("backend down"))});
  Agent agent({"worker-2", 10, nullptr}, &policy, &tools_, &observer_);
  AgentOutcome out = agent.Run(Initial());
  EXPECT_EQ(out.end, AgentEnd::kFailed);
  EXPECT_EQ(out.steps, 2);
  EXPECT_EQ(out.tool_calls, 1);
  EXPECT_EQ(out.error.code(), StatusCode::kUnavailable);
  EXPECT_THAT(out.error.message(), HasSubstr("backend down"));
  EXPECT_THAT(out.error.message(), HasSubstr("scripted"));
  EXPECT_THAT(out.error.message(), HasSubstr("worker-2"));
  EXPECT_EQ(out.usage.prompt_tokens, 7);
  EXPECT_EQ(out.result, "");
}

TEST_F(AgentTest, PolicyErrorAfterCancellationIsCancelled) {
  std::atomic<bool> cancelled{false};
  ScriptedPolicy policy({Result<PolicyResponse>(Cancelled("generation aborted"))});
  policy.before_reply = [&] { cancelled = true; };
  Agent agent({"a", 10, &cancelled}, &policy, &tools_, &observer_);
  AgentOutcome out = agent.Run(Initial());
  EXPECT_EQ(out.end, AgentEnd::kCancelled);
  EXPECT_FALSE(out.error.ok());
}

TEST_F(AgentTest, ReplyRoleIsForcedToAssistant) {
  Message odd;
  odd.role = "user";
  odd.content = "final";
  ScriptedPolicy policy({Reply(odd)});
  Agent agent({"a", 10, nullptr}, &policy, &tools_, nullptr);  // no observer is fine
  AgentOutcome out = agent.Run(Initial());
  EXPECT_EQ(out.end, AgentEnd::kFinished);
  EXPECT_EQ(agent.context().back().role, "assistant");
  EXPECT_EQ(out.result, "final");
}

TEST_F(AgentTest, ZeroStepLimitStopsImmediately) {
  ScriptedPolicy policy({Reply(Message::Assistant("x"))});
  Agent agent({"a", 0, nullptr}, &policy, &tools_, &observer_);
  AgentOutcome out = agent.Run(Initial());
  EXPECT_EQ(out.end, AgentEnd::kStepLimit);
  EXPECT_EQ(out.steps, 0);
  EXPECT_TRUE(policy.requests.empty());
}

TEST(AgentEndNameTest, Names) {
  EXPECT_STREQ(AgentEndName(AgentEnd::kFinished), "finished");
  EXPECT_STREQ(AgentEndName(AgentEnd::kStepLimit), "step_limit");
  EXPECT_STREQ(AgentEndName(AgentEnd::kCancelled), "cancelled");
  EXPECT_STREQ(AgentEndName(AgentEnd::kFailed), "failed");
  EXPECT_STREQ(AgentEndName(AgentEnd::kBudgetExhausted), "budget_exhausted");
}

// A tool whose calls return at once (Start) and finish on threads of their own, each only
// once `width` calls have started (or after 5 s alone): it answers "<tag>:together" when the
// calls of a turn ran at the same time, "<tag>:alone" when they did not.
class RendezvousTool : public Tool {
 public:
  explicit RendezvousTool(int width) : width_(width) {
    spec_.name = "meet";
    spec_.parameters = json::parse(R"({"type":"object","properties":{"tag":{"type":"string"}},"required":["tag"]})");
  }
  const ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const json& args) override { return Start(args).get().result; }
  std::future<ToolOutput> Start(const json& args) override {
    auto promise = std::make_shared<std::promise<ToolOutput>>();
    std::future<ToolOutput> f = promise->get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++started_;
    }
    cv_.notify_all();
    threads_.emplace_back([this, promise, tag = args["tag"].get<std::string>()] {
      std::unique_lock<std::mutex> lock(mu_);
      const bool together = cv_.wait_for(lock, std::chrono::seconds(5), [&] { return started_ >= width_; });
      ToolOutput out;
      out.result = tag + (together ? ":together" : ":alone");
      promise->set_value(std::move(out));
    });
    return f;
  }
  ~RendezvousTool() override {
    for (auto& t : threads_) t.join();
  }

 private:
  ToolSpec spec_;
  int width_;
  std::mutex mu_;
  std::condition_variable cv_;
  int started_ = 0;
  std::vector<std::thread> threads_;  // touched by the agent's thread only
};

ToolCall Meet(std::string id, const std::string& tag) { return {std::move(id), "meet", json({{"tag", tag}}).dump()}; }

TEST(AgentParallelTest, StartedCallsOfATurnRunTogetherAndAnswerInCallOrder) {
  auto meet = std::make_shared<RendezvousTool>(3);
  ToolRegistry tools;
  ASSERT_TRUE(tools.Add(meet).ok());
  ScriptedPolicy policy({Reply(Message::Assistant("", {Meet("c1", "a"), Meet("c2", "b"), Meet("c3", "c")})),
                         Reply(Message::Assistant("met"))});
  RecordingObserver observer;
  Agent agent({"a", 10, nullptr}, &policy, &tools, &observer);
  AgentOutcome out = agent.Run({Message::User("meet")});
  ASSERT_EQ(out.end, AgentEnd::kFinished);
  EXPECT_EQ(out.tool_calls, 3);
  const auto& ctx = agent.context();
  ASSERT_EQ(ctx.size(), 6u);
  EXPECT_EQ(ctx[2].tool_call_id, "c1");
  EXPECT_EQ(ctx[2].content, "a:together");
  EXPECT_EQ(ctx[3].tool_call_id, "c2");
  EXPECT_EQ(ctx[3].content, "b:together");
  EXPECT_EQ(ctx[4].tool_call_id, "c3");
  EXPECT_EQ(ctx[4].content, "c:together");
  EXPECT_THAT(observer.events, ElementsAre("msg:user", "msg:assistant", "tool:c1", "msg:tool:c1", "tool:c2",
                                           "msg:tool:c2", "tool:c3", "msg:tool:c3", "msg:assistant"));
}

TEST_F(AgentTest, ShortAnswerIsSentBackOnceForTheFullResult) {
  ScriptedPolicy policy({Reply(Message::Assistant("10")), Reply(Message::Assistant("still 10"))});
  AgentOptions options{"sub", 10, nullptr};
  options.min_result_chars = 20;
  Agent agent(options, &policy, &tools_, &observer_);
  AgentOutcome out = agent.Run(Initial());
  ASSERT_EQ(out.end, AgentEnd::kFinished);
  EXPECT_EQ(out.result, "still 10");  // the second answer stands, however short
  EXPECT_EQ(out.steps, 2);
  EXPECT_TRUE(out.reprompted);
  const auto& ctx = agent.context();
  ASSERT_EQ(ctx.size(), 5u);
  EXPECT_EQ(ctx[3].role, "user");
  EXPECT_EQ(ctx[3].content, kContinuePrompt);
  ASSERT_EQ(policy.requests.size(), 2u);
  EXPECT_EQ(policy.requests[1].messages.back().content, kContinuePrompt);
}

TEST_F(AgentTest, LongAnswerOrLastStepIsNotSentBack) {
  {
    ScriptedPolicy policy({Reply(Message::Assistant("the sum of 1, 2, 3 and 4 is 10"))});
    AgentOptions options{"sub", 10, nullptr};
    options.min_result_chars = 20;
    Agent agent(options, &policy, &tools_, nullptr);
    AgentOutcome out = agent.Run(Initial());
    EXPECT_EQ(out.end, AgentEnd::kFinished);
    EXPECT_EQ(out.steps, 1);
    EXPECT_FALSE(out.reprompted);
  }
  {
    ScriptedPolicy policy({Reply(Message::Assistant("10"))});
    AgentOptions options{"sub", 1, nullptr};  // no step left for a second answer
    options.min_result_chars = 20;
    Agent agent(options, &policy, &tools_, nullptr);
    AgentOutcome out = agent.Run(Initial());
    EXPECT_EQ(out.end, AgentEnd::kFinished);
    EXPECT_EQ(out.result, "10");
    EXPECT_FALSE(out.reprompted);
  }
}

TEST_F(AgentTest, SpentTokenBudgetEndsTheAgent) {
  RunBudget budget(/*max_tokens=*/25, /*max_tool_calls=*/0);
  ScriptedPolicy policy({Reply(Message::Assistant("", {Add("c", 1, 1)}), 10, 5)}, /*repeat_last=*/true);
  Agent agent({"spender", 10, nullptr, &budget}, &policy, &tools_, &observer_);
  AgentOutcome out = agent.Run(Initial());
  EXPECT_EQ(out.end, AgentEnd::kBudgetExhausted);
  EXPECT_EQ(out.steps, 2);  // 15 tokens, then 30: the third step is refused
  EXPECT_EQ(budget.tokens(), 30);
  EXPECT_EQ(out.error.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(out.error.message(), HasSubstr("budget_exhausted"));
  EXPECT_THAT(out.error.message(), HasSubstr("token budget of 25"));
  EXPECT_THAT(out.error.message(), HasSubstr("spender"));
}

TEST_F(AgentTest, SpentToolCallBudgetRefusesTheCallAndEndsTheAgent) {
  RunBudget budget(0, /*max_tool_calls=*/3);
  ScriptedPolicy policy({Reply(Message::Assistant("", {Add("c1", 1, 1), Add("c2", 1, 2)})),
                         Reply(Message::Assistant("", {Add("c3", 1, 3), Add("c4", 1, 4)})),
                         Reply(Message::Assistant("never"))});
  Agent agent({"a", 10, nullptr, &budget}, &policy, &tools_, &observer_);
  AgentOutcome out = agent.Run(Initial());
  EXPECT_EQ(out.end, AgentEnd::kBudgetExhausted);
  EXPECT_EQ(out.steps, 2);
  EXPECT_EQ(adder_->calls, 3);
  EXPECT_EQ(out.tool_calls, 3);
  EXPECT_EQ(out.tool_errors, 1);
  ASSERT_EQ(observer_.results.size(), 4u);
  EXPECT_EQ(observer_.results[3].error, ToolError::kBudget);
  EXPECT_THAT(observer_.results[3].content, HasSubstr("tool-call budget of 3"));
  EXPECT_THAT(out.error.message(), HasSubstr("tool-call budget of 3"));
}

TEST_F(AgentTest, UsingExactlyTheToolCallBudgetStillFinishes) {
  RunBudget budget(0, 2);
  ScriptedPolicy policy({Reply(Message::Assistant("", {Add("c1", 1, 1), Add("c2", 1, 2)})),
                         Reply(Message::Assistant("done"))});
  Agent agent({"a", 10, nullptr, &budget}, &policy, &tools_, &observer_);
  AgentOutcome out = agent.Run(Initial());
  EXPECT_EQ(out.end, AgentEnd::kFinished) << out.error.ToString();
  EXPECT_EQ(budget.tool_calls(), 2);
}

// Fails with the status it is given.
class FailingTool : public Tool {
 public:
  explicit FailingTool(Status s) : status_(std::move(s)) { spec_.name = "flaky"; }
  const ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const json&) override { return status_; }

 private:
  Status status_;
  ToolSpec spec_;
};

TEST(AgentCountsTest, ErrorObservationsAreCountedByKind) {
  ToolRegistry tools;
  ASSERT_TRUE(tools.Add(std::make_shared<FailingTool>(DeadlineExceeded("too slow"))).ok());
  ScriptedPolicy policy({Reply(Message::Assistant("", {ToolCall{"c1", "flaky", "{}"}, ToolCall{"c2", "nope", "{}"}})),
                         Reply(Message::Assistant("ok"))});
  Agent agent({"a", 10, nullptr}, &policy, &tools, nullptr);
  AgentOutcome out = agent.Run({Message::User("go")});
  ASSERT_EQ(out.end, AgentEnd::kFinished);
  EXPECT_EQ(out.tool_errors, 2);
  EXPECT_EQ(out.tool_timeouts, 1);
}

}  // namespace
}  // namespace tide::workers
