#include "tide/workers/tool_registry.h"

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tide::workers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using nlohmann::json;

// Adds two numbers; counts its calls so tests can tell whether it ran.
class AdderTool : public Tool {
 public:
  explicit AdderTool(std::string name = "add") {
    spec_.name = std::move(name);
    spec_.description = "adds a and b";
    spec_.parameters = json::parse(R"({"type":"object",
      "properties":{"a":{"type":"number"},"b":{"type":"number"}},
      "required":["a","b"],"additionalProperties":false})");
  }
  const ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const json& arguments) override {
    ++calls;
    const double sum = arguments["a"].get<double>() + arguments["b"].get<double>();
    if (sum == static_cast<double>(static_cast<int64_t>(sum))) return std::to_string(static_cast<int64_t>(sum));
    return std::to_string(sum);
  }
  std::atomic<int> calls{0};

 private:
  ToolSpec spec_;
};

// A tool with a free-form body: behaviour chosen by the test.
class LambdaTool : public Tool {
 public:
  LambdaTool(std::string name, std::function<Result<std::string>(const json&)> fn) : fn_(std::move(fn)) {
    spec_.name = std::move(name);
    spec_.parameters = {{"type", "object"}};
  }
  const ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const json& arguments) override { return fn_(arguments); }

 private:
  ToolSpec spec_;
  std::function<Result<std::string>(const json&)> fn_;
};

class ToolRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    adder_ = std::make_shared<AdderTool>();
    ASSERT_TRUE(registry_.Add(adder_).ok());
  }
  ToolObservation Call(const std::string& name, const std::string& args) {
    return registry_.Invoke(ToolCall{"call_1", name, args});
  }
  ToolRegistry registry_;
  std::shared_ptr<AdderTool> adder_;
};

TEST_F(ToolRegistryTest, RunsValidCall) {
  ToolObservation obs = Call("add", R"({"a": 2, "b": 3})");
  EXPECT_FALSE(obs.is_error) << obs.content;
  EXPECT_EQ(obs.content, "5");
  EXPECT_EQ(adder_->calls, 1);
}

TEST_F(ToolRegistryTest, LookupAndSpecsInOrder) {
  ASSERT_TRUE(registry_.Add(std::make_shared<AdderTool>("sum")).ok());
  ASSERT_TRUE(registry_.Add(std::make_shared<AdderTool>("aaa")).ok());
  EXPECT_TRUE(registry_.Has("add"));
  EXPECT_TRUE(registry_.Has("sum"));
  EXPECT_FALSE(registry_.Has("mul"));
  EXPECT_EQ(registry_.Find("add"), adder_);
  EXPECT_EQ(registry_.Find("mul"), nullptr);
  EXPECT_THAT(registry_.Names(), ElementsAre("add", "sum", "aaa"));  // order added, not sorted
  std::vector<ToolSpec> specs = registry_.Specs();
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[0].name, "add");
  EXPECT_EQ(specs[0].description, "adds a and b");
  EXPECT_EQ(specs[2].name, "aaa");
  EXPECT_EQ(specs[0].parameters["required"], json({"a", "b"}));
}

TEST_F(ToolRegistryTest, DuplicateNameIsAlreadyExists) {
  Status s = registry_.Add(std::make_shared<AdderTool>("add"));
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(s.message(), HasSubstr("\"add\""));
  EXPECT_THAT(registry_.Names(), ElementsAre("add"));
  // The original tool is still the one that runs.
  EXPECT_EQ(registry_.Find("add"), adder_);
}

TEST_F(ToolRegistryTest, NullAndUnnamedToolsAreRejected) {
  EXPECT_EQ(registry_.Add(nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_.Add(std::make_shared<AdderTool>("")).code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(registry_.Names(), ElementsAre("add"));
}

TEST_F(ToolRegistryTest, UnknownToolIsAnErrorObservationListingTools) {
  ToolObservation obs = Call("multiply", R"({"a":1,"b":2})");
  EXPECT_TRUE(obs.is_error);
  EXPECT_THAT(obs.content, StartsWith("error: "));
  EXPECT_THAT(obs.content, HasSubstr("unknown tool \"multiply\""));
  EXPECT_THAT(obs.content, HasSubstr("add"));
  EXPECT_EQ(adder_->calls, 0);
}

TEST_F(ToolRegistryTest, MalformedJsonArgumentsAreAnErrorObservation) {
  ToolObservation obs = Call("add", R"({"a": 1, "b": )");
  EXPECT_TRUE(obs.is_error);
  EXPECT_THAT(obs.content, StartsWith("error: "));
  EXPECT_THAT(obs.content, HasSubstr("not valid JSON"));
  EXPECT_EQ(adder_->calls, 0);
}

TEST_F(ToolRegistryTest, SchemaMismatchIsAnErrorObservationNamingThePath) {
  ToolObservation wrong_type = Call("add", R"({"a": "one", "b": 2})");
  EXPECT_TRUE(wrong_type.is_error);
  EXPECT_THAT(wrong_type.content, HasSubstr("invalid arguments for add"));
  EXPECT_THAT(wrong_type.content, HasSubstr("$.a: expected number"));

  ToolObservation missing = Call("add", R"({"a": 1})");
  EXPECT_TRUE(missing.is_error);
  EXPECT_THAT(missing.content, HasSubstr("missing required property \"b\""));

  ToolObservation extra = Call("add", R"({"a": 1, "b": 2, "c": 3})");
  EXPECT_TRUE(extra.is_error);
  EXPECT_THAT(extra.content, HasSubstr("unexpected property \"c\""));

  ToolObservation not_object = Call("add", "[1, 2]");
  EXPECT_TRUE(not_object.is_error);

  EXPECT_EQ(adder_->calls, 0);
}

TEST_F(ToolRegistryTest, EmptyArgumentsMeanEmptyObject) {
  ASSERT_TRUE(registry_.Add(std::make_shared<LambdaTool>("now", [](const json& args) -> Result<std::string> {
                  return "args=" + args.dump();
                })).ok());
  ToolObservation obs = Call("now", "");
  EXPECT_FALSE(obs.is_error) << obs.content;
  EXPECT_EQ(obs.content, "args={}");
  // And an empty-arguments call to a tool that needs arguments fails validation.
  ToolObservation add = Call("add", "");
  EXPECT_TRUE(add.is_error);
  EXPECT_THAT(add.content, HasSubstr("missing required property"));
}

TEST_F(ToolRegistryTest, ToolErrorStatusIsAnErrorObservation) {
  ASSERT_TRUE(registry_.Add(std::make_shared<LambdaTool>("fetch", [](const json&) -> Result<std::string> {
                  return NotFound("page /wiki/X does not exist");
                })).ok());
  ToolObservation obs = Call("fetch", "{}");
  EXPECT_TRUE(obs.is_error);
  EXPECT_EQ(obs.content, "error: page /wiki/X does not exist");
}

TEST_F(ToolRegistryTest, ThrowingToolIsAnErrorObservationNotACrash) {
  ASSERT_TRUE(registry_.Add(std::make_shared<LambdaTool>("boom", [](const json&) -> Result<std::string> {
                  throw std::runtime_error("disk on fire");
                })).ok());
  ASSERT_TRUE(registry_.Add(std::make_shared<LambdaTool>("weird", [](const json&) -> Result<std::string> {
                  throw 42;
                })).ok());
  ASSERT_TRUE(registry_.Add(std::make_shared<LambdaTool>("jsonerr", [](const json& args) -> Result<std::string> {
                  return args.at("missing").get<std::string>();  // throws nlohmann::json::out_of_range
                })).ok());
  ToolObservation boom = Call("boom", "{}");
  EXPECT_TRUE(boom.is_error);
  EXPECT_THAT(boom.content, StartsWith("error: "));
  EXPECT_THAT(boom.content, HasSubstr("boom"));
  EXPECT_THAT(boom.content, HasSubstr("disk on fire"));
  ToolObservation weird = Call("weird", "{}");
  EXPECT_TRUE(weird.is_error);
  EXPECT_THAT(weird.content, HasSubstr("weird"));
  ToolObservation jsonerr = Call("jsonerr", "{}");
  EXPECT_TRUE(jsonerr.is_error);
  // The registry keeps working afterwards.
  EXPECT_EQ(Call("add", R"({"a":1,"b":1})").content, "2");
}

TEST_F(ToolRegistryTest, ToolSeesParsedArguments) {
  json seen;
  ASSERT_TRUE(registry_.Add(std::make_shared<LambdaTool>("echo", [&seen](const json& args) -> Result<std::string> {
                  seen = args;
                  return std::string("ok");
                })).ok());
  ToolObservation obs = Call("echo", R"({"x": [1, {"y": null}]})");
  EXPECT_FALSE(obs.is_error);
  EXPECT_EQ(seen, json::parse(R"({"x": [1, {"y": null}]})"));
}

TEST_F(ToolRegistryTest, ConcurrentInvokesAreSafe) {
  constexpr int kThreads = 8;
  constexpr int kCalls = 200;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        ToolObservation obs = registry_.Invoke(
            ToolCall{"c", "add", json({{"a", t}, {"b", i}}).dump()});
        if (obs.is_error || obs.content != std::to_string(t + i)) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(adder_->calls, kThreads * kCalls);
}

TEST_F(ToolRegistryTest, ErrorObservationsSayWhichKind) {
  EXPECT_EQ(Call("nope", "{}").error, ToolError::kUnknownTool);
  EXPECT_EQ(Call("add", "{bad").error, ToolError::kBadArguments);
  EXPECT_EQ(Call("add", R"({"a":1})").error, ToolError::kBadArguments);
  EXPECT_EQ(Call("add", R"({"a":1,"b":2})").error, ToolError::kNone);
  for (auto [status, kind] : std::vector<std::pair<Status, ToolError>>{
           {Internal("boom"), ToolError::kFailed},
           {DeadlineExceeded("slow"), ToolError::kTimedOut},
           {Cancelled("stop"), ToolError::kCancelled}}) {
    ToolRegistry r;
    ASSERT_TRUE(r.Add(std::make_shared<LambdaTool>("t", [status = status](const json&) -> Result<std::string> {
                   return status;
                 })).ok());
    ToolObservation obs = r.Invoke({"c", "t", "{}"});
    EXPECT_TRUE(obs.is_error);
    EXPECT_EQ(obs.error, kind) << status.ToString();
    EXPECT_EQ(obs.content, "error: " + status.message());
  }
  EXPECT_STREQ(ToolErrorName(ToolError::kTimedOut), "timed_out");
  EXPECT_STREQ(ToolErrorName(ToolError::kBudget), "budget_exhausted");
}

// A tool whose work finishes later, on a thread the test controls.
class DeferredTool : public Tool {
 public:
  DeferredTool() {
    spec_.name = "later";
    spec_.parameters = {{"type", "object"}};
  }
  const ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const json&) override { return Internal("only Start is used"); }
  std::future<ToolOutput> Start(const json&) override { return promise.get_future(); }
  std::promise<ToolOutput> promise;

 private:
  ToolSpec spec_;
};

TEST(ToolRegistryBeginTest, BeginReturnsAtOnceAndWaitYieldsTheLaterResult) {
  auto tool = std::make_shared<DeferredTool>();
  ToolRegistry r;
  ASSERT_TRUE(r.Add(tool).ok());
  PendingToolCall pending = r.Begin({"c", "later", "{}"});
  EXPECT_FALSE(pending.ready());
  std::thread finisher([&] {
    ToolOutput out;
    out.result = std::string("late answer");
    tool->promise.set_value(std::move(out));
  });
  ToolObservation obs = pending.Wait();
  finisher.join();
  EXPECT_FALSE(obs.is_error);
  EXPECT_EQ(obs.content, "late answer");
  EXPECT_GE(pending.elapsed_ms(), 0.0);
}

TEST(ToolRegistryBeginTest, AnExceptionInTheFutureIsAnErrorObservation) {
  auto tool = std::make_shared<DeferredTool>();
  ToolRegistry r;
  ASSERT_TRUE(r.Add(tool).ok());
  PendingToolCall pending = r.Begin({"c", "later", "{}"});
  tool->promise.set_exception(std::make_exception_ptr(std::runtime_error("worker died")));
  ToolObservation obs = pending.Wait();
  EXPECT_TRUE(obs.is_error);
  EXPECT_EQ(obs.error, ToolError::kFailed);
  EXPECT_THAT(obs.content, HasSubstr("worker died"));
}

TEST(ToolRegistryBeginTest, BadCallsAreReadyErrorsWithoutRunningTheTool) {
  auto tool = std::make_shared<DeferredTool>();
  ToolRegistry r;
  ASSERT_TRUE(r.Add(tool).ok());
  PendingToolCall pending = r.Begin({"c", "later", "[1,2]"});  // not an object
  EXPECT_TRUE(pending.ready());
  ToolObservation obs = pending.Wait();
  EXPECT_EQ(obs.error, ToolError::kBadArguments);
}

}  // namespace
}  // namespace tide::workers
