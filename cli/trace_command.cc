#include "trace_command.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "printer.h"
#include "tide/orchestrator/trace.h"
#include "tide/orchestrator/trace_html.h"

namespace tide::cli {

Status WriteRunTrace(Backend* backend, const std::string& run_id, const std::string& html_path,
                     nlohmann::json* summary) {
  if (html_path.empty()) return InvalidArgument("--html: a file name is required");
  TIDE_ASSIGN_OR_RETURN(tide::v1::Run run, backend->GetRun(run_id));
  std::ofstream out(html_path, std::ios::binary | std::ios::trunc);
  if (!out) {
    return InvalidArgument("--html " + html_path + ": cannot be opened for writing (" + std::strerror(errno) + ")");
  }
  std::vector<tide::v1::SwarmEvent> events;
  TIDE_RETURN_IF_ERROR(backend->Events(run_id, 0, [&](const tide::v1::SwarmEvent& ev) { events.push_back(ev); }));
  // The run record as of its last event (it may have ended while we read).
  TIDE_ASSIGN_OR_RETURN(run, backend->GetRun(run_id));
  TIDE_ASSIGN_OR_RETURN(const orchestrator::Trace trace, orchestrator::BuildTrace(events));
  TIDE_ASSIGN_OR_RETURN(const std::string html, orchestrator::RenderTraceHtml(run, events));
  out << html;
  out.flush();
  if (!out) return Internal("writing " + html_path + " failed (" + std::strerror(errno) + ")");
  *summary = {{"run_id", run_id},
              {"state", RunStateName(run.state())},
              {"html", html_path},
              {"bytes", html.size()},
              {"events", events.size()},
              {"agents", trace.lanes.size()},
              {"critical_steps", trace.critical_steps}};
  return Status::Ok();
}

}  // namespace tide::cli
