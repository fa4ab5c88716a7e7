#include "tide/env/answer_table.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

TEST(AnswerTableTest, PrefersTheJsonBlock) {
  std::string text = "Here [not json] it is:\n```json\n[{\"entity\": \"A\", \"x\": 1}]\n```\nDone.";
  Result<nlohmann::json> t = ExtractJsonTable(text);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->size(), 1u);
  EXPECT_EQ((*t)[0]["x"], 1);
}

TEST(AnswerTableTest, FallsBackToAnyBlockThenBareJson) {
  Result<nlohmann::json> fenced = ExtractJsonTable("```\n[{\"entity\": \"A\"}]\n```");
  ASSERT_TRUE(fenced.ok());
  Result<nlohmann::json> bare = ExtractJsonTable("The table (see [1]) is [{\"entity\": \"A\", \"n\": \"[x]\"}] ok");
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  EXPECT_EQ((*bare)[0]["n"], "[x]");
}

TEST(AnswerTableTest, AcceptsRowsObjectAndSingleRow) {
  Result<nlohmann::json> rows = ExtractJsonTable(R"({"rows": [{"entity": "A"}, {"entity": "B"}]})");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 2u);
  Result<nlohmann::json> one = ExtractJsonTable(R"({"Entity": "A", "founder": "X"})");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
}

TEST(AnswerTableTest, MalformedAnswersAreErrorsWithReasons) {
  for (const char* text : {"", "no json at all", "```json\n[{\"entity\": \"A\",]\n```", "[1, 2, 3]",
                           "{\"name\": \"A\"}", "[{\"entity\": \"A\"", "[[[[[[[[[[", "\"just a string\""}) {
    Result<nlohmann::json> t = ExtractJsonTable(text);
    EXPECT_FALSE(t.ok()) << text;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(t.status().message().empty());
  }
}

TEST(AnswerTableTest, FindFieldForgivesCaseAndSpacing) {
  nlohmann::json row = {{"Entity", "A"}, {" Founder ", "X"}};
  ASSERT_NE(FindField(row, "entity"), nullptr);
  EXPECT_EQ(*FindField(row, "founder"), "X");
  EXPECT_EQ(FindField(row, "sector"), nullptr);
  EXPECT_EQ(FindField(nlohmann::json::array(), "entity"), nullptr);
}

}  // namespace
}  // namespace tide::env
