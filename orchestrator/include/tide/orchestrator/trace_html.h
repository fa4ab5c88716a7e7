// The trace page of one run (`tide runs trace ID --html FILE`): a single self-contained
// HTML file — inline CSS, SVG and one inline script, nothing fetched — showing the run's
// summary, a wall-clock timeline of the coordinator and every sub-agent (model steps, tool
// calls, waits, queueing), the critical path on a steps axis (each stage's critical
// sub-agent marked), and every stored event as a message that expands on click (clicking a
// segment of either chart opens its message).
//
// Guarantees: every piece of text from the run (messages, agent names, tool arguments,
// errors) is HTML-escaped, so a message holding `</script>` or `<img onerror=…>` is shown as
// text and never becomes markup; on top of that the page's Content-Security-Policy allows
// only its own script (by SHA-256 hash) and no network at all. The page's script sets
// `data-trace-ready="true"` on <body> once it has wired the page up (tests check it).
// Failure: the errors of BuildTrace (trace.h). Pure function; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tide/core/status.h"
#include "tide/v1/orchestrator.pb.h"

namespace tide::orchestrator {

// `events` is the run's stored log in seq order (a prefix of it for a run still running).
Result<std::string> RenderTraceHtml(const tide::v1::Run& run, const std::vector<tide::v1::SwarmEvent>& events);

// & < > " ' as character references: safe in element content and in quoted attributes.
std::string HtmlEscape(std::string_view text);

}  // namespace tide::orchestrator
