// The "compute" world: a fictional company's monthly business data (sales per region,
// costs, and decoy series of look-alike companies and other metrics) for 2023-01..2024-12,
// and exchange rates per month, reachable only through tools (compute_tools.h). Family
// "chain" (the only one): a chain of steps (compute_task.h) — aggregate `items` regional
// sales series over a period (sum, average, max or min), add them up, then `hops` further
// steps (subtract the costs over the period, divide by the number of regions, convert to
// another currency at the period's last rate, in that order). The answer is one number,
// right within a relative 1e-4 or an absolute 0.01.
//
// TaskParams: items 1..200 (regional series, default 20); hops 0 (= 2) or 1..3; columns
// must be 0; distractors -1 (= items) or 0..1000: decoy series.
//
// Thread safety: ComputeWorld is stateless; a ComputeEpisode is immutable once built and
// its tools and Verify may be used from any thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tide/env/compute_task.h"
#include "tide/env/scalar_answer.h"
#include "tide/env/world.h"

namespace tide::env {

inline constexpr char kComputeWorldName[] = "compute";
inline constexpr char kChainFamily[] = "chain";
inline constexpr int kComputeDefaultHops = 2;
inline constexpr int kComputeMaxHops = 3;
inline constexpr int kComputeFirstYear = 2023;
inline constexpr int kComputeMonths = 24;
inline constexpr double kComputeRelativeTolerance = 1e-4;
inline constexpr double kComputeAbsoluteTolerance = 0.01;

struct SeriesData {
  std::string name;  // "Orvana Dynamics / sales / Tessaport"
  std::string unit;  // "USD" or "units"
  std::vector<double> values;  // one per month from 2023-01
};

// The world's data, immutable once generated; shared by the tools and the verifier.
struct CompanyData {
  std::vector<SeriesData> series;
  std::map<std::string, std::vector<double>> per_usd;  // currency -> units per USD, per month

  const SeriesData* FindSeries(const std::string& name) const;
  // The values of `name` from `from` to `to` ("YYYY-MM", inclusive), in order;
  // NOT_FOUND for an unknown series, INVALID_ARGUMENT naming a bad period.
  Result<std::vector<double>> Range(const std::string& name, const std::string& from, const std::string& to) const;
  // Units of `to` per unit of `from` in the month `period`; NOT_FOUND naming an unknown
  // currency, INVALID_ARGUMENT for a bad period.
  Result<double> Rate(const std::string& from, const std::string& to, const std::string& period) const;
};

// "YYYY-MM" of month index 0..kComputeMonths-1, and back (-1 when outside or malformed).
std::string ComputePeriod(int index);
int ComputePeriodIndex(const std::string& period);

class ComputeEpisode : public Episode {
 public:
  ComputeEpisode(std::shared_ptr<const CompanyData> data, ComputeSpec spec, ScalarGold gold, int items, int hops);

  std::string world() const override { return kComputeWorldName; }
  std::string family() const override { return kChainFamily; }
  std::string prompt() const override;
  nlohmann::json public_task() const override;
  std::vector<std::shared_ptr<workers::Tool>> tools() const override { return tools_; }
  Verdict Verify(const std::string& answer_text) const override { return VerifyScalar(gold_, answer_text); }

  const CompanyData& data() const { return *data_; }
  const ComputeSpec& spec() const { return spec_; }
  const ScalarGold& gold() const { return gold_; }
  std::string GoldAnswer() const { return FormatScalarAnswer(ScalarJson(gold_)); }

 private:
  std::shared_ptr<const CompanyData> data_;
  ComputeSpec spec_;
  ScalarGold gold_;
  int items_, hops_;
  std::vector<std::shared_ptr<workers::Tool>> tools_;
};

class ComputeWorld : public World {
 public:
  std::string name() const override { return kComputeWorldName; }
  std::string description() const override;
  std::vector<std::string> task_families() const override { return {kChainFamily}; }
  Result<std::unique_ptr<Episode>> Reset(const TaskParams& params) const override;
  Result<std::unique_ptr<ComputeEpisode>> ResetCompute(const TaskParams& params) const;
};

}  // namespace tide::env
