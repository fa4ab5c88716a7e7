#include "tide/env/compute_world.h"

#include <cmath>
#include <cstdio>
#include <set>

#include "tide/env/compute_tools.h"
#include "tide/env/name_generator.h"
#include "tide/env/seeded_random.h"

namespace tide::env {
namespace {

constexpr int kMaxItems = 200;
constexpr int kMaxDistractors = 1000;

struct Currency {
  const char* code;
  double per_usd;  // starting rate
  double scale;    // rounding: 1e4 (4 decimals) or 1e2
};
constexpr Currency kCurrencies[] = {{"USD", 1.0, 1e4},   {"EUR", 0.92, 1e4}, {"GBP", 0.79, 1e4},
                                    {"JPY", 145.0, 1e2}, {"CHF", 0.88, 1e4}, {"CAD", 1.35, 1e4}};

// Money in whole cents, as a double: base ± 20%.
std::vector<double> MoneySeries(SeededRandom& rng, int64_t base_dollars) {
  std::vector<double> v;
  for (int m = 0; m < kComputeMonths; ++m) {
    v.push_back(static_cast<double>(rng.Range(base_dollars * 80, base_dollars * 120)) / 100.0);
  }
  return v;
}

std::vector<double> UnitSeries(SeededRandom& rng) {
  std::vector<double> v;
  const int64_t base = rng.Range(100, 5000);
  for (int m = 0; m < kComputeMonths; ++m) v.push_back(static_cast<double>(rng.Range(base / 2, base * 3 / 2)));
  return v;
}

const char* Rubric() {
  return "One number: the value of the answer variable after the steps, right within a relative 1e-4 or an "
         "absolute 0.01 (so rounding to 2 decimals is fine). Each step must use the series and months it names; "
         "rates are units of the second currency per unit of the first.";
}

}  // namespace

std::string ComputePeriod(int index) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04d-%02d", kComputeFirstYear + index / 12, index % 12 + 1);
  return buf;
}

int ComputePeriodIndex(const std::string& period) {
  if (period.size() != 7 || period[4] != '-') return -1;
  for (size_t i : {0u, 1u, 2u, 3u, 5u, 6u}) {
    if (period[i] < '0' || period[i] > '9') return -1;
  }
  const int year = std::stoi(period.substr(0, 4)), month = std::stoi(period.substr(5, 2));
  if (month < 1 || month > 12) return -1;
  const int index = (year - kComputeFirstYear) * 12 + month - 1;
  return index >= 0 && index < kComputeMonths ? index : -1;
}

const SeriesData* CompanyData::FindSeries(const std::string& name) const {
  for (const SeriesData& s : series) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

Result<std::vector<double>> CompanyData::Range(const std::string& name, const std::string& from,
                                               const std::string& to) const {
  const SeriesData* s = FindSeries(name);
  if (s == nullptr) return NotFound("no series named \"" + name + "\"; list_series shows the exact names");
  const int a = ComputePeriodIndex(from), b = ComputePeriodIndex(to);
  const std::string span = ComputePeriod(0) + ".." + ComputePeriod(kComputeMonths - 1);
  if (a < 0) return InvalidArgument("from must be a month YYYY-MM in " + span + ", got \"" + from + "\"");
  if (b < 0) return InvalidArgument("to must be a month YYYY-MM in " + span + ", got \"" + to + "\"");
  if (a > b) return InvalidArgument("from (" + from + ") is after to (" + to + ")");
  return std::vector<double>(s->values.begin() + a, s->values.begin() + b + 1);
}

Result<double> CompanyData::Rate(const std::string& from, const std::string& to, const std::string& period) const {
  std::string known;
  for (const auto& [code, rates] : per_usd) known += (known.empty() ? "" : ", ") + code;
  auto f = per_usd.find(from), t = per_usd.find(to);
  if (f == per_usd.end()) return NotFound("unknown currency \"" + from + "\" (known: " + known + ")");
  if (t == per_usd.end()) return NotFound("unknown currency \"" + to + "\" (known: " + known + ")");
  const int m = ComputePeriodIndex(period);
  if (m < 0) {
    return InvalidArgument("period must be a month YYYY-MM in " + ComputePeriod(0) + ".." +
                           ComputePeriod(kComputeMonths - 1) + ", got \"" + period + "\"");
  }
  return t->second[static_cast<size_t>(m)] / f->second[static_cast<size_t>(m)];
}

ComputeEpisode::ComputeEpisode(std::shared_ptr<const CompanyData> data, ComputeSpec spec, ScalarGold gold, int items,
                               int hops)
    : data_(std::move(data)), spec_(std::move(spec)), gold_(std::move(gold)), items_(items), hops_(hops) {
  tools_ = MakeComputeTools(data_);
}

std::string ComputeEpisode::prompt() const {
  return "You analyse a fictional company's monthly data through tools (list_series, get_series, get_rate). "
         "Compute the value below by following the steps exactly, with the data the tools return.\n\n" +
         FormatComputeSteps(spec_) +
         "\nAnswer with a ```json block holding {\"answer\": number} (2 decimals or more).";
}

nlohmann::json ComputeEpisode::public_task() const {
  nlohmann::json steps = nlohmann::json::array();
  for (const ComputeStep& s : spec_.steps) {
    nlohmann::json j = {{"var", s.var}, {"op", s.op}};
    if (!s.series.empty()) j.update({{"series", s.series}, {"from", s.from}, {"to", s.to}});
    if (!s.args.empty()) j["args"] = s.args;
    if (s.op == "convert") j.update({{"currency_from", s.currency_from}, {"currency_to", s.currency_to},
                                     {"rate_period", s.rate_period}});
    steps.push_back(std::move(j));
  }
  return {{"world", kComputeWorldName},
          {"family", kChainFamily},
          {"items", items_},
          {"hops", hops_},
          {"steps", steps},
          {"answer_var", spec_.answer},
          {"answer_type", "number"},
          {"rubric",
           {{"criteria", Rubric()},
            {"expected_tool_pattern",
             {"get_series for every series step (parallel calls), get_rate for a conversion",
              "evaluate the steps in order", "answer with {\"answer\": value}"}},
            {"tools", {kListSeriesToolName, kGetSeriesToolName, kGetRateToolName}}}}};
}

std::string ComputeWorld::description() const {
  return "A fictional company's monthly sales, costs and exchange rates behind tools list_series, get_series and "
         "get_rate; family \"chain\": follow a chain of aggregations and calculations to one number.";
}

Result<std::unique_ptr<ComputeEpisode>> ComputeWorld::ResetCompute(const TaskParams& params) const {
  if (!params.family.empty() && params.family != kChainFamily) {
    return InvalidArgument("family: unknown task family \"" + params.family + "\" for world \"" + kComputeWorldName +
                           "\" (known: " + kChainFamily + ")");
  }
  if (params.items < 1 || params.items > kMaxItems) {
    return InvalidArgument("items must be in 1.." + std::to_string(kMaxItems) + ", got " + std::to_string(params.items));
  }
  if (params.columns != 0) {
    return InvalidArgument("columns: the compute world has no columns (must be 0), got " + std::to_string(params.columns));
  }
  const int hops = params.hops == 0 ? kComputeDefaultHops : params.hops;
  if (hops < 1 || hops > kComputeMaxHops) {
    return InvalidArgument("hops must be 0 (default " + std::to_string(kComputeDefaultHops) + ") or 1.." +
                           std::to_string(kComputeMaxHops) + ", got " + std::to_string(params.hops));
  }
  if (params.distractors < -1 || params.distractors > kMaxDistractors) {
    return InvalidArgument("distractors must be -1 (default) or 0.." + std::to_string(kMaxDistractors) + ", got " +
                           std::to_string(params.distractors));
  }
  SeededRandom rng(params.seed);
  auto data = std::make_shared<CompanyData>();
  for (const Currency& c : kCurrencies) {
    std::vector<double>& rates = data->per_usd[c.code];
    double r = c.per_usd;
    for (int m = 0; m < kComputeMonths; ++m) {
      if (std::string(c.code) != "USD") r *= 1.0 + static_cast<double>(rng.Range(-200, 200)) / 10000.0;
      rates.push_back(std::round(r * c.scale) / c.scale);
    }
  }
  const std::string company = OrganisationName(rng);
  std::set<std::string> taken;
  std::vector<std::string> regions;
  while (static_cast<int>(regions.size()) < params.items) {
    std::string city = CityName(rng);
    if (taken.insert(city).second) regions.push_back(city);
  }
  for (const std::string& r : regions) {
    data->series.push_back({company + " / sales / " + r, "USD", MoneySeries(rng, rng.Range(1000, 50000))});
  }
  const int64_t avg_base = 25000 * params.items;
  data->series.push_back({company + " / costs", "USD", MoneySeries(rng, avg_base / 2)});
  const int distractors = params.distractors < 0 ? params.items : params.distractors;
  const std::string near = NearName(rng, company);
  for (int k = 0; k < distractors; ++k) {
    SeriesData d;
    switch (rng.Below(3)) {
      case 0: d = {near + " / sales / " + rng.Pick(regions), "USD", {}}; break;
      case 1: d = {company + " / units / " + rng.Pick(regions), "units", {}}; break;
      default: d = {near + " / costs", "USD", {}}; break;
    }
    if (data->FindSeries(d.name) != nullptr) continue;
    d.values = d.unit == "units" ? UnitSeries(rng) : MoneySeries(rng, rng.Range(1000, 50000));
    data->series.push_back(std::move(d));
  }
  rng.Shuffle(data->series);

  const int length = static_cast<int>(rng.Range(3, 6));
  const int start = static_cast<int>(rng.Range(0, kComputeMonths - length));
  const std::string from = ComputePeriod(start), to = ComputePeriod(start + length - 1);
  static const std::vector<std::string> kOps = {"sum", "average", "max", "min"};
  const std::string op = rng.Pick(kOps);
  ComputeSpec spec;
  std::vector<std::string> parts;
  for (size_t i = 0; i < regions.size(); ++i) {
    ComputeStep s;
    s.var = "a" + std::to_string(i + 1);
    s.op = op;
    s.series = company + " / sales / " + regions[i];
    s.from = from;
    s.to = to;
    parts.push_back(s.var);
    spec.steps.push_back(std::move(s));
  }
  std::string last = parts.front();
  if (parts.size() > 1) {
    ComputeStep total;
    total.var = "total";
    total.op = "add";
    total.args = parts;
    spec.steps.push_back(std::move(total));
    last = "total";
  }
  // `hops` of the three further steps, in their fixed order.
  std::vector<size_t> chosen = rng.Sample(3, static_cast<size_t>(hops));
  std::sort(chosen.begin(), chosen.end());
  for (size_t which : chosen) {
    if (which == 0) {
      spec.steps.push_back({"costs", op, company + " / costs", from, to, {}, "", "", ""});
      spec.steps.push_back({"net", "sub", "", "", "", {last, "costs"}, "", "", ""});
      last = "net";
    } else if (which == 1) {
      spec.steps.push_back({"per_region", "div", "", "", "", {last, std::to_string(regions.size())}, "", "", ""});
      last = "per_region";
    } else {
      const Currency& c = kCurrencies[1 + rng.Below(std::size(kCurrencies) - 1)];
      spec.steps.push_back({"converted", "convert", "", "", "", {last}, "USD", c.code, to});
      last = "converted";
    }
  }
  spec.answer = last;
  ComputeData source;
  source.series = [&](const std::string& n, const std::string& f, const std::string& t) { return data->Range(n, f, t); };
  source.rate = [&](const std::string& f, const std::string& t, const std::string& p) { return data->Rate(f, t, p); };
  TIDE_ASSIGN_OR_RETURN(double value, EvaluateCompute(spec, source));
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6f", value);
  ScalarGold gold{CellType::kNumber, buf, kComputeRelativeTolerance, kComputeAbsoluteTolerance};
  return std::make_unique<ComputeEpisode>(std::move(data), std::move(spec), std::move(gold), params.items, hops);
}

Result<std::unique_ptr<Episode>> ComputeWorld::Reset(const TaskParams& params) const {
  TIDE_ASSIGN_OR_RETURN(std::unique_ptr<ComputeEpisode> episode, ResetCompute(params));
  return std::unique_ptr<Episode>(std::move(episode));
}

}  // namespace tide::env
