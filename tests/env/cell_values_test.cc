#include "tide/env/cell_values.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

TEST(CellValuesTest, NormalizeText) {
  EXPECT_EQ(NormalizeText("  Financial   Services. "), "financial services");
  EXPECT_EQ(NormalizeText("\"Tessaport\""), "tessaport");
  EXPECT_EQ(NormalizeText(""), "");
}

TEST(CellValuesTest, ParseIntegers) {
  EXPECT_EQ(ParseIntegerText("1,200"), 1200);
  EXPECT_EQ(ParseIntegerText("1200 people"), 1200);
  EXPECT_EQ(ParseIntegerText("1200.0"), 1200);
  EXPECT_EQ(ParseIntegerText("-5"), -5);
  EXPECT_FALSE(ParseIntegerText("12.5"));
  EXPECT_FALSE(ParseIntegerText("about 3 or 4"));
  EXPECT_FALSE(ParseIntegerText("none"));
}

TEST(CellValuesTest, ParseNumbers) {
  EXPECT_DOUBLE_EQ(*ParseNumberText("US$ 1,234.5 million"), 1234.5);
  EXPECT_DOUBLE_EQ(*ParseNumberText("$345.6M"), 345.6);
  EXPECT_FALSE(ParseNumberText("2021-03-04"));
  EXPECT_FALSE(ParseNumberText(""));
}

TEST(CellValuesTest, NormalizeDates) {
  EXPECT_EQ(NormalizeDate("2021-03-04"), "2021-03-04");
  EXPECT_EQ(NormalizeDate("2021/3/4"), "2021-03-04");
  EXPECT_EQ(NormalizeDate("2021-03-04T10:00:00Z"), "2021-03-04");
  EXPECT_EQ(NormalizeDate("March 4, 2021"), "2021-03-04");
  EXPECT_EQ(NormalizeDate("Mar 4th 2021"), "2021-03-04");
  EXPECT_EQ(NormalizeDate("4 March 2021"), "2021-03-04");
  EXPECT_EQ(NormalizeDate("February 29, 2020"), "2020-02-29");
  EXPECT_FALSE(NormalizeDate("February 29, 2021"));
  EXPECT_FALSE(NormalizeDate("03/04/2021"));
  EXPECT_FALSE(NormalizeDate("2021-13-01"));
  EXPECT_FALSE(NormalizeDate("sometime in March"));
}

TEST(CellValuesTest, CellEqualsByType) {
  EXPECT_TRUE(CellEquals(CellType::kString, "financial services", "Financial  Services"));
  EXPECT_FALSE(CellEquals(CellType::kString, "Tessaport", "Tessaford"));
  EXPECT_TRUE(CellEquals(CellType::kInteger, "1200", "1,200"));
  EXPECT_TRUE(CellEquals(CellType::kInteger, "1200", 1200));
  EXPECT_FALSE(CellEquals(CellType::kInteger, "1200", 1201));
  EXPECT_TRUE(CellEquals(CellType::kNumber, "345.6", 345.65));    // within 1e-3 relative
  EXPECT_FALSE(CellEquals(CellType::kNumber, "345.6", 346.0));     // outside
  EXPECT_TRUE(CellEquals(CellType::kNumber, "0.0", 0));
  EXPECT_TRUE(CellEquals(CellType::kDate, "2021-03-04", "March 4, 2021"));
  EXPECT_FALSE(CellEquals(CellType::kDate, "2021-03-04", "2021-03-05"));
  EXPECT_FALSE(CellEquals(CellType::kString, "x", nlohmann::json()));
  EXPECT_FALSE(CellEquals(CellType::kString, "x", nlohmann::json::array({"x"})));
}

TEST(CellValuesTest, CellFromText) {
  EXPECT_EQ(CellFromText(CellType::kInteger, "12,500"), nlohmann::json(12500));
  EXPECT_EQ(CellFromText(CellType::kDate, "4 March 2011"), nlohmann::json("2011-03-04"));
  EXPECT_EQ(CellFromText(CellType::kString, " Tessaport "), nlohmann::json("Tessaport"));
  EXPECT_TRUE(CellFromText(CellType::kNumber, "n/a").is_null());
}

}  // namespace
}  // namespace tide::env
