#include "tide/env/table_verifier.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

GoldTable Gold() {
  GoldTable g;
  g.columns = {{"headquarters", CellType::kString}, {"employees", CellType::kInteger},
               {"revenue", CellType::kNumber}, {"founded", CellType::kDate}};
  g.keys = {"Orvana Dynamics", "Belmi Labs"};
  g.cells = {{"Tessaport", "1200", "345.6", "2011-03-04"}, {"Kelmora", "87", "12.0", "1999-12-31"}};
  return g;
}

std::string Answer(const nlohmann::json& rows) { return "Result:\n```json\n" + rows.dump(1) + "\n```"; }

nlohmann::json Perfect() {
  return nlohmann::json::parse(R"([
    {"entity": "Orvana Dynamics", "headquarters": "Tessaport", "employees": 1200, "revenue": 345.6, "founded": "2011-03-04"},
    {"entity": "Belmi Labs", "headquarters": "Kelmora", "employees": 87, "revenue": 12.0, "founded": "1999-12-31"}])");
}

TEST(TableVerifierTest, PerfectAnswer) {
  Verdict v = VerifyTable(Gold(), Answer(Perfect()));
  EXPECT_DOUBLE_EQ(v.item_f1, 1.0);
  EXPECT_DOUBLE_EQ(v.reward, 1.0);
  EXPECT_TRUE(v.success);
  EXPECT_EQ(v.details["correct_cells"], 8);
  EXPECT_EQ(v.details["cells"].size(), 8u);
}

TEST(TableVerifierTest, KeysAlignIgnoringCaseAndSpacingAndValuesInOtherForms) {
  nlohmann::json rows = Perfect();
  rows[0]["entity"] = "  orvana   DYNAMICS ";
  rows[0]["employees"] = "1,200";
  rows[0]["revenue"] = "345.62";  // within 1e-3
  rows[0]["founded"] = "March 4, 2011";
  rows[1]["headquarters"] = "kelmora";
  std::swap(rows[0], rows[1]);
  Verdict v = VerifyTable(Gold(), Answer(rows));
  EXPECT_TRUE(v.success) << v.details.dump(1);
}

TEST(TableVerifierTest, OneWrongCell) {
  nlohmann::json rows = Perfect();
  rows[1]["employees"] = 88;
  Verdict v = VerifyTable(Gold(), Answer(rows));
  EXPECT_FALSE(v.success);
  EXPECT_LT(v.item_f1, 1.0);
  EXPECT_DOUBLE_EQ(v.precision, 7.0 / 8.0);
  EXPECT_DOUBLE_EQ(v.recall, 7.0 / 8.0);
}

TEST(TableVerifierTest, NumberToleranceIsRelative1e3) {
  nlohmann::json rows = Perfect();
  rows[0]["revenue"] = 345.9;  // off by ~8.7e-4 relative: accepted
  EXPECT_TRUE(VerifyTable(Gold(), Answer(rows)).success);
  rows[0]["revenue"] = 346.1;  // ~1.4e-3: rejected
  EXPECT_FALSE(VerifyTable(Gold(), Answer(rows)).success);
}

TEST(TableVerifierTest, DateFormats) {
  nlohmann::json rows = Perfect();
  rows[1]["founded"] = "31 December 1999";
  EXPECT_TRUE(VerifyTable(Gold(), Answer(rows)).success);
  rows[1]["founded"] = "1999-12-30";
  EXPECT_FALSE(VerifyTable(Gold(), Answer(rows)).success);
}

TEST(TableVerifierTest, MissingRowLowersRecallOnly) {
  nlohmann::json rows = nlohmann::json::array({Perfect()[0]});
  Verdict v = VerifyTable(Gold(), Answer(rows));
  EXPECT_DOUBLE_EQ(v.precision, 1.0);
  EXPECT_DOUBLE_EQ(v.recall, 0.5);
  EXPECT_NEAR(v.item_f1, 2.0 / 3.0, 1e-12);
  EXPECT_FALSE(v.success);
  EXPECT_EQ(v.details["missing_rows"], nlohmann::json::array({"Belmi Labs"}));
}

TEST(TableVerifierTest, ExtraRowLowersPrecisionAndFailsSuccess) {
  nlohmann::json rows = Perfect();
  rows.push_back({{"entity", "Orvana Dynamics Group"}, {"headquarters", "Belport"}, {"employees", 5}});
  Verdict v = VerifyTable(Gold(), Answer(rows));
  EXPECT_DOUBLE_EQ(v.recall, 1.0);
  EXPECT_DOUBLE_EQ(v.precision, 8.0 / 10.0);
  EXPECT_FALSE(v.success);
  EXPECT_EQ(v.details["extra_rows"], nlohmann::json::array({"Orvana Dynamics Group"}));
}

TEST(TableVerifierTest, DuplicateRowsCountTheFirst) {
  nlohmann::json rows = Perfect();
  nlohmann::json dup = rows[0];
  dup["employees"] = 1;
  rows.push_back(dup);
  Verdict v = VerifyTable(Gold(), Answer(rows));
  EXPECT_DOUBLE_EQ(v.item_f1, 1.0);
  EXPECT_EQ(v.details["duplicate_rows"].size(), 1u);

  rows = Perfect();
  rows.insert(rows.begin(), dup);  // the wrong row first: it counts
  EXPECT_LT(VerifyTable(Gold(), Answer(rows)).item_f1, 1.0);
}

TEST(TableVerifierTest, NullCellsAreNotPredictions) {
  nlohmann::json rows = Perfect();
  rows[0]["revenue"] = nullptr;
  rows[1].erase("founded");
  Verdict v = VerifyTable(Gold(), Answer(rows));
  EXPECT_DOUBLE_EQ(v.precision, 1.0);
  EXPECT_DOUBLE_EQ(v.recall, 6.0 / 8.0);
}

TEST(TableVerifierTest, MalformedAnswersScoreZeroWithAReason) {
  for (const std::string& text : {std::string(""), std::string("I don't know."), std::string("```json\n[{oops\n```"),
                                 std::string("[1,2]"), std::string("[]"), std::string(1000, '{'),
                                 std::string("[{\"entity\": {\"nested\": true}, \"employees\": [1]}]")}) {
    Verdict v = VerifyTable(Gold(), text);
    EXPECT_EQ(v.reward, 0.0) << text;
    EXPECT_FALSE(v.success);
    if (text != "[{\"entity\": {\"nested\": true}, \"employees\": [1]}]") {
      EXPECT_TRUE(v.details.contains("reason")) << text;
    }
  }
}

}  // namespace
}  // namespace tide::env
