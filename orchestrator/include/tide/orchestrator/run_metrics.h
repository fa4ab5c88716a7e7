// Run metrics: the orchestrator's Prometheus figures, computed from the run records in the
// Store (its read API only), so they count every run the database holds — also those of
// earlier processes — and need no hook in the code that runs swarms.
//
//   tide_runs{state="running|succeeded|failed|cancelled"}   gauge: runs in the store by state
//   tide_runs_active                                        gauge: runs still running
//   tide_runs_total                                         counter: runs ever started
//   tide_run_subagents_total, tide_run_finished_subagents_total   counters (succeeded runs)
//   tide_run_{critical_steps, total_steps, tool_calls, tokens, wall_seconds,
//            subagent_finish_rate, item_f1}                 histograms over succeeded runs
//
// Failed and cancelled runs carry no result, so the per-run aggregates cover succeeded runs
// (the only ones scored); finish rate counts runs that started at least one sub-agent.
// Runs are never deleted, so every counter and histogram only grows between scrapes.
// Cost: one read of every run record per scrape (records are small; fine to ~10^5 runs).
// Failure: the store's error (e.g. DATA_LOSS naming a run whose record does not parse).
// Thread-safe (the Store is).
#pragma once

#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/v1/orchestrator.pb.h"

namespace tide::orchestrator {

class Store;

// Prometheus text exposition (version 0.0.4) of `runs`.
std::string FormatRunMetrics(const std::vector<tide::v1::Run>& runs);

// Reads every run record of `store` and formats it.
Result<std::string> RunMetricsText(Store* store);

}  // namespace tide::orchestrator
