// The compute world's tools over one CompanyData (compute_world.h):
//   list_series(contains?: string)  -> [{"name", "unit"}] of the series whose name holds
//                                      `contains` (case ignored; all when absent);
//   get_series(name, from?, to?)    -> {"series", "unit", "rows": [{"period", "value"}]}
//                                      for the months from..to ("YYYY-MM", default: all);
//   get_rate(from, to, period)      -> {"from", "to", "period", "rate"}: units of `to` per
//                                      unit of `from` in that month ("YYYY-MM" or a date).
// An unknown series or currency is NOT_FOUND naming it (and how to find the right one);
// a malformed or out-of-range period is INVALID_ARGUMENT naming the argument.
//
// Thread safety: the tools only read immutable data; one tool serves any number of agents.
#pragma once

#include <memory>

#include "tide/env/compute_world.h"
#include "tide/workers/tool.h"

namespace tide::env {

inline constexpr char kListSeriesToolName[] = "list_series";
inline constexpr char kGetSeriesToolName[] = "get_series";
inline constexpr char kGetRateToolName[] = "get_rate";

std::vector<std::shared_ptr<workers::Tool>> MakeComputeTools(std::shared_ptr<const CompanyData> data);

}  // namespace tide::env
