#include "tide/env/compute_tools.h"

#include <algorithm>
#include <cctype>

namespace tide::env {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  return s;
}

Result<std::string> StringParam(const nlohmann::json& args, const char* tool, const char* name, bool required,
                                const std::string& fallback = "") {
  auto it = args.find(name);
  if (it == args.end() || it->is_null()) {
    if (required) return InvalidArgument(std::string(tool) + ": " + name + " is required");
    return fallback;
  }
  if (!it->is_string()) return InvalidArgument(std::string(tool) + ": " + name + " must be a string");
  return it->get<std::string>();
}

nlohmann::json StringProp(const std::string& description) {
  return {{"type", "string"}, {"description", description}};
}

class ListSeries : public workers::Tool {
 public:
  explicit ListSeries(std::shared_ptr<const CompanyData> data) : data_(std::move(data)) {
    spec_ = {kListSeriesToolName, "List the data series available: [{name, unit}], optionally only names containing a text.",
             {{"type", "object"},
              {"properties", {{"contains", StringProp("a part of the name, case ignored")}}},
              {"additionalProperties", false}}};
  }
  const workers::ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const nlohmann::json& args) override {
    TIDE_ASSIGN_OR_RETURN(std::string contains, StringParam(args, kListSeriesToolName, "contains", false));
    const std::string want = Lower(contains);
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const SeriesData& s : data_->series) {
      if (Lower(s.name).find(want) != std::string::npos) out.push_back({{"name", s.name}, {"unit", s.unit}});
    }
    return out.dump();
  }

 private:
  std::shared_ptr<const CompanyData> data_;
  workers::ToolSpec spec_;
};

class GetSeries : public workers::Tool {
 public:
  explicit GetSeries(std::shared_ptr<const CompanyData> data) : data_(std::move(data)) {
    spec_ = {kGetSeriesToolName,
             "Get a monthly data series by its exact name: {series, unit, rows: [{period, value}]}, optionally only "
             "the months from..to.",
             {{"type", "object"},
              {"properties",
               {{"name", StringProp("the series' exact name")},
                {"from", StringProp("first month, YYYY-MM (default: the first available)")},
                {"to", StringProp("last month, YYYY-MM (default: the last available)")}}},
              {"required", {"name"}},
              {"additionalProperties", false}}};
  }
  const workers::ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const nlohmann::json& args) override {
    TIDE_ASSIGN_OR_RETURN(std::string name, StringParam(args, kGetSeriesToolName, "name", true));
    TIDE_ASSIGN_OR_RETURN(std::string from, StringParam(args, kGetSeriesToolName, "from", false, ComputePeriod(0)));
    TIDE_ASSIGN_OR_RETURN(std::string to,
                          StringParam(args, kGetSeriesToolName, "to", false, ComputePeriod(kComputeMonths - 1)));
    TIDE_ASSIGN_OR_RETURN(std::vector<double> values, data_->Range(name, from, to));
    const SeriesData* s = data_->FindSeries(name);
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    const int first = ComputePeriodIndex(from);
    for (size_t i = 0; i < values.size(); ++i) {
      rows.push_back({{"period", ComputePeriod(first + static_cast<int>(i))}, {"value", values[i]}});
    }
    return nlohmann::ordered_json{{"series", s->name}, {"unit", s->unit}, {"rows", rows}}.dump();
  }

 private:
  std::shared_ptr<const CompanyData> data_;
  workers::ToolSpec spec_;
};

class GetRate : public workers::Tool {
 public:
  explicit GetRate(std::shared_ptr<const CompanyData> data) : data_(std::move(data)) {
    spec_ = {kGetRateToolName,
             "Get the exchange rate in a month: units of `to` per unit of `from`, e.g. from USD to EUR.",
             {{"type", "object"},
              {"properties",
               {{"from", StringProp("currency code, e.g. USD")},
                {"to", StringProp("currency code, e.g. EUR")},
                {"period", StringProp("the month, YYYY-MM (a date YYYY-MM-DD means its month)")}}},
              {"required", {"from", "to", "period"}},
              {"additionalProperties", false}}};
  }
  const workers::ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const nlohmann::json& args) override {
    TIDE_ASSIGN_OR_RETURN(std::string from, StringParam(args, kGetRateToolName, "from", true));
    TIDE_ASSIGN_OR_RETURN(std::string to, StringParam(args, kGetRateToolName, "to", true));
    TIDE_ASSIGN_OR_RETURN(std::string period, StringParam(args, kGetRateToolName, "period", true));
    if (period.size() == 10 && period[7] == '-') period.resize(7);
    TIDE_ASSIGN_OR_RETURN(double rate, data_->Rate(from, to, period));
    return nlohmann::ordered_json{{"from", from}, {"to", to}, {"period", period}, {"rate", rate}}.dump();
  }

 private:
  std::shared_ptr<const CompanyData> data_;
  workers::ToolSpec spec_;
};

}  // namespace

std::vector<std::shared_ptr<workers::Tool>> MakeComputeTools(std::shared_ptr<const CompanyData> data) {
  return {std::make_shared<ListSeries>(data), std::make_shared<GetSeries>(data), std::make_shared<GetRate>(data)};
}

}  // namespace tide::env
