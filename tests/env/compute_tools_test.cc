#include "tide/env/compute_tools.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

std::shared_ptr<const CompanyData> Data() {
  auto d = std::make_shared<CompanyData>();
  std::vector<double> v;
  for (int m = 0; m < kComputeMonths; ++m) v.push_back(100.0 + m + 0.25);
  d->series = {{"Acme / sales / North", "USD", v}, {"Acme / units / North", "units", v}};
  d->per_usd["USD"] = std::vector<double>(kComputeMonths, 1.0);
  d->per_usd["EUR"] = std::vector<double>(kComputeMonths, 0.8);
  return d;
}

workers::Tool& Tool(std::vector<std::shared_ptr<workers::Tool>>& tools, const std::string& name) {
  for (auto& t : tools) {
    if (t->spec().name == name) return *t;
  }
  throw std::runtime_error("no tool " + name);
}

TEST(ComputeToolsTest, ListGetAndRate) {
  auto tools = MakeComputeTools(Data());
  ASSERT_EQ(tools.size(), 3u);
  nlohmann::json all = nlohmann::json::parse(*Tool(tools, "list_series").Call(nlohmann::json::object()));
  EXPECT_EQ(all.size(), 2u);
  nlohmann::json units = nlohmann::json::parse(*Tool(tools, "list_series").Call({{"contains", "UNITS"}}));
  ASSERT_EQ(units.size(), 1u);
  EXPECT_EQ(units[0]["unit"], "units");

  nlohmann::json s = nlohmann::json::parse(
      *Tool(tools, "get_series").Call({{"name", "Acme / sales / North"}, {"from", "2023-03"}, {"to", "2023-05"}}));
  EXPECT_EQ(s["unit"], "USD");
  ASSERT_EQ(s["rows"].size(), 3u);
  EXPECT_EQ(s["rows"][0]["period"], "2023-03");
  EXPECT_DOUBLE_EQ(s["rows"][2]["value"].get<double>(), 104.25);
  EXPECT_EQ(nlohmann::json::parse(*Tool(tools, "get_series").Call({{"name", "Acme / sales / North"}}))["rows"].size(),
            24u);

  nlohmann::json r = nlohmann::json::parse(
      *Tool(tools, "get_rate").Call({{"from", "EUR"}, {"to", "USD"}, {"period", "2024-02-29"}}));
  EXPECT_DOUBLE_EQ(r["rate"].get<double>(), 1.25);
  EXPECT_EQ(r["period"], "2024-02");
}

TEST(ComputeToolsTest, BadArgumentsAreErrorsNamingThem) {
  auto tools = MakeComputeTools(Data());
  Result<std::string> unknown = Tool(tools, "get_series").Call({{"name", "Acme / sales / South"}});
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("list_series"), std::string::npos);
  Result<std::string> period = Tool(tools, "get_series").Call({{"name", "Acme / sales / North"}, {"from", "March"}});
  EXPECT_EQ(period.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(period.status().message().find("from"), std::string::npos);
  EXPECT_NE(Tool(tools, "get_series").Call({{"name", 3}}).status().message().find("name"), std::string::npos);
  Result<std::string> cur = Tool(tools, "get_rate").Call({{"from", "USD"}, {"to", "XAU"}, {"period", "2023-01"}});
  EXPECT_EQ(cur.status().code(), StatusCode::kNotFound);
  EXPECT_NE(cur.status().message().find("known: EUR, USD"), std::string::npos);
  EXPECT_NE(Tool(tools, "get_rate").Call({{"from", "USD"}, {"to", "EUR"}}).status().message().find("period"),
            std::string::npos);
}

}  // namespace
}  // namespace tide::env
