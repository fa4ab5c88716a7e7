#include "tide/env/scalar_answer.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

TEST(ScalarAnswerTest, NumberToleranceHandComputed) {
  // relative 1e-4 of 1000 is 0.1; the absolute 0.01 matters only near zero.
  EXPECT_TRUE(NumberWithin(1000.1, 1000.0, 1e-4, 0.01));
  EXPECT_FALSE(NumberWithin(1000.2, 1000.0, 1e-4, 0.01));
  EXPECT_TRUE(NumberWithin(0.009, 0.0, 1e-4, 0.01));
  EXPECT_FALSE(NumberWithin(0.02, 0.0, 1e-4, 0.01));
  EXPECT_TRUE(NumberWithin(12.345, 12.34, 1e-4, 0.01));  // a 2-decimal rounding is within 0.01
  EXPECT_FALSE(NumberWithin(12.36, 12.34, 1e-4, 0.01));
  EXPECT_TRUE(NumberWithin(-5.0, -5.0, 0, 0));
  EXPECT_FALSE(NumberWithin(5.0, -5.0, 1e-3, 0));
}

TEST(ScalarAnswerTest, ExtractsTheAnswerFieldOrShortText) {
  EXPECT_EQ(*ExtractAnswerValue("Done.\n```json\n{\"answer\": 42}\n```"), nlohmann::json(42));
  EXPECT_EQ(*ExtractAnswerValue("I found {\"answer\": \"Tessaport\"} in the profile"), nlohmann::json("Tessaport"));
  EXPECT_EQ(*ExtractAnswerValue("  1,200 \n"), nlohmann::json("1,200"));
  EXPECT_FALSE(ExtractAnswerValue("").ok());
  EXPECT_FALSE(ExtractAnswerValue(std::string(300, 'x')).ok());
  EXPECT_FALSE(ExtractAnswerValue("{\"value\": 3}").ok());
}

TEST(ScalarAnswerTest, TypedChecks) {
  ScalarGold date{CellType::kDate, "2011-03-04"};
  EXPECT_TRUE(VerifyScalar(date, FormatScalarAnswer("March 4, 2011")).success);
  EXPECT_TRUE(VerifyScalar(date, "4 March 2011").success);
  EXPECT_FALSE(VerifyScalar(date, FormatScalarAnswer("2011-04-03")).success);
  EXPECT_FALSE(VerifyScalar(date, FormatScalarAnswer("2011-02-30")).success);  // no such day

  ScalarGold integer{CellType::kInteger, "1200"};
  EXPECT_DOUBLE_EQ(VerifyScalar(integer, FormatScalarAnswer(1200)).reward, 1.0);
  EXPECT_TRUE(VerifyScalar(integer, "1,200").success);
  EXPECT_DOUBLE_EQ(VerifyScalar(integer, FormatScalarAnswer(1201)).reward, 0.0);

  ScalarGold name{CellType::kString, "Mara Kellen"};
  EXPECT_TRUE(VerifyScalar(name, FormatScalarAnswer("  mara   KELLEN ")).success);
  EXPECT_FALSE(VerifyScalar(name, FormatScalarAnswer("Mara Kellen Group")).success);

  ScalarGold number{CellType::kNumber, "2468.333333", 1e-4, 0.01};
  EXPECT_TRUE(VerifyScalar(number, FormatScalarAnswer(2468.33)).success);
  EXPECT_TRUE(VerifyScalar(number, FormatScalarAnswer("2,468.4")).success);  // off by 0.067 <= 0.247
  EXPECT_FALSE(VerifyScalar(number, FormatScalarAnswer(2469.0)).success);    // off by 0.667
}

TEST(ScalarAnswerTest, MalformedAnswersScoreZeroWithAReason) {
  ScalarGold g{CellType::kNumber, "3.5"};
  for (const std::string& bad : {std::string("```json\n{\"answer\": null}\n```"), std::string("{\"answer\": [1, 2]}"),
                                 std::string("no number here"), std::string("")}) {
    Verdict v = VerifyScalar(g, bad);
    EXPECT_EQ(v.reward, 0.0) << bad;
    EXPECT_FALSE(v.success);
    EXPECT_TRUE(v.details.contains("reason")) << bad;
  }
  Verdict ok = VerifyScalar(g, FormatScalarAnswer(3.5));
  EXPECT_EQ(ok.details["gold"], "3.5");
  EXPECT_FALSE(ok.details.contains("reason"));
}

}  // namespace
}  // namespace tide::env
