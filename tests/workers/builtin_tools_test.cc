#include "tide/workers/builtin_tools.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/workers/tool_registry.h"

namespace tide::workers {
namespace {

using nlohmann::json;

ToolCall Call(const std::string& name, const json& args) {
  static int n = 0;
  return ToolCall{"call_" + std::to_string(++n), name, args.dump()};
}

TEST(CalculatorTest, EvaluatesWithPrecedenceAssociativityAndFunctions) {
  const struct {
    const char* expr;
    double want;
  } cases[] = {{"1 + 2 * 3", 7},        {"(1 + 2) * 3", 9},       {"2 ^ 3 ^ 2", 512},  {"-2 ^ 2", -4},
               {"10 / 4", 2.5},         {"10 % 4", 2},            {"7 - 3 - 2", 2},    {"1e3 + .5", 1000.5},
               {"sqrt(16) + abs(-3)", 7}, {"max(1, 9, 4) - min(3, -2)", 11}, {"floor(2.7) + ceil(2.1)", 5},
               {"round(2.5)", 3},       {"ln(e)", 1},             {"log10(1000)", 3},  {"2 * pi", 2 * M_PI},
               {"exp(0)", 1},           {"--3", 3},               {"+4", 4},           {"2 ^ -1", 0.5},
               {"(-2) ^ 2", 4}};
  for (const auto& c : cases) {
    Result<double> v = EvaluateArithmetic(c.expr);
    ASSERT_TRUE(v.ok()) << c.expr << ": " << v.status().ToString();
    EXPECT_NEAR(*v, c.want, 1e-12 * std::max(1.0, std::fabs(c.want))) << c.expr;
  }
}

TEST(CalculatorTest, ErrorsNameWhatIsWrongAndWhere) {
  const struct {
    const char* expr;
    const char* says;
  } cases[] = {{"1 / 0", "division by zero"},   {"5 % 0", "modulo by zero"},  {"2 +", "expected a number"},
               {"(1 + 2", "expected ')'"},      {"3 $ 4", "unexpected '$'"},  {"foo(1)", "unknown function \"foo\""},
               {"x + 1", "unknown name \"x\""}, {"sqrt(-1)", "negative"},     {"ln(0)", "not positive"},
               {"10 ^ 400", "not a finite"},    {"abs(1, 2)", "one argument"}, {"", "expected a number"}};
  for (const auto& c : cases) {
    Result<double> v = EvaluateArithmetic(c.expr);
    ASSERT_FALSE(v.ok()) << c.expr;
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument) << c.expr;
    EXPECT_NE(v.status().message().find(c.says), std::string::npos) << c.expr << ": " << v.status().message();
  }
  EXPECT_NE(EvaluateArithmetic("1 + (2 * )").status().message().find("position 10"), std::string::npos);
  EXPECT_FALSE(EvaluateArithmetic(std::string(5000, '(') + "1" + std::string(5000, ')')).ok());  // no stack overflow
}

TEST(CalculatorTest, AsAToolItAnswersExactlyAndErrorsAreObservations) {
  ToolRegistry registry;
  ASSERT_TRUE(registry.Add(MakeCalculatorTool()).ok());
  ToolObservation ok = registry.Invoke(Call("calculator", {{"expression", "0.1 + 0.2"}}));
  EXPECT_FALSE(ok.is_error);
  EXPECT_EQ(ok.content, "0.30000000000000004");
  EXPECT_EQ(registry.Invoke(Call("calculator", {{"expression", "6 * 7"}})).content, "42");
  ToolObservation bad = registry.Invoke(Call("calculator", {{"expression", "1 / 0"}}));
  EXPECT_TRUE(bad.is_error);
  EXPECT_NE(bad.content.find("division by zero"), std::string::npos) << bad.content;
  EXPECT_TRUE(registry.Invoke(Call("calculator", {{"expr", "1"}})).is_error);  // schema: unknown field
}

TEST(NotesTest, AgentsSharingAStoreSeeEachOthersNotes) {
  auto store = std::make_shared<NotesStore>();
  ToolRegistry coordinator, researcher;
  ASSERT_TRUE(coordinator.Add(MakeNotesTool(store)).ok());
  ASSERT_TRUE(researcher.Add(MakeNotesTool(store)).ok());
  EXPECT_EQ(coordinator.Invoke(Call("notes", {{"action", "list"}})).content, "(no notes)");
  EXPECT_FALSE(researcher.Invoke(Call("notes", {{"action", "write"}, {"key", "plan"}, {"text", "A-M"}})).is_error);
  EXPECT_FALSE(researcher.Invoke(Call("notes", {{"action", "append"}, {"key", "plan"}, {"text", ", N-Z"}})).is_error);
  EXPECT_EQ(coordinator.Invoke(Call("notes", {{"action", "read"}, {"key", "plan"}})).content, "A-M, N-Z");
  EXPECT_FALSE(coordinator.Invoke(Call("notes", {{"action", "write"}, {"key", "done"}, {"text", "yes"}})).is_error);
  EXPECT_EQ(researcher.Invoke(Call("notes", {{"action", "list"}})).content, "done\nplan");
  EXPECT_FALSE(coordinator.Invoke(Call("notes", {{"action", "delete"}, {"key", "done"}})).is_error);
  ToolObservation gone = researcher.Invoke(Call("notes", {{"action", "read"}, {"key", "done"}}));
  EXPECT_TRUE(gone.is_error);
  EXPECT_NE(gone.content.find("no note \"done\""), std::string::npos) << gone.content;
  EXPECT_TRUE(researcher.Invoke(Call("notes", {{"action", "write"}, {"key", "k"}})).is_error);  // no text
  EXPECT_TRUE(researcher.Invoke(Call("notes", {{"action", "erase"}, {"key", "k"}})).is_error);  // not in the enum
}

TEST(NotesTest, LimitsAndConcurrentWriters) {
  NotesStore store;
  EXPECT_EQ(store.Write("", "x", false).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Write("big", std::string(NotesStore::kMaxNoteBytes + 1, 'x'), false).code(),
            StatusCode::kResourceExhausted);
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) ASSERT_TRUE(store.Write("log", std::to_string(t), true).ok());
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(store.Read("log")->size(), 800u);
  for (size_t i = 1; i < NotesStore::kMaxNotes; ++i) ASSERT_TRUE(store.Write("n" + std::to_string(i), "", false).ok());
  EXPECT_EQ(store.Write("one-too-many", "", false).code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(store.Write("log", "overwrite", false).ok());  // existing keys still take writes
}

}  // namespace
}  // namespace tide::workers
