// `tide runs trace RUN_ID --html FILE`: writes one run's trace page (orchestrator/
// trace_html.h: timeline of every agent, critical path, every message) from its stored
// events, read through the CLI's backend (a local database or a `tide serve`).
//
// Order of checks: the run must exist (NOT_FOUND naming it, before any file is touched),
// then FILE must open for writing (INVALID_ARGUMENT naming it and the OS's reason), then the
// events are read — a run still running is followed to its end, as `tide runs show` does.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "backend.h"
#include "tide/core/status.h"

namespace tide::cli {

// On success, `summary` gets {run_id, state, html, bytes, events, agents, critical_steps}.
Status WriteRunTrace(Backend* backend, const std::string& run_id, const std::string& html_path,
                     nlohmann::json* summary);

}  // namespace tide::cli
