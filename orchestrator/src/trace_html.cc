#include "tide/orchestrator/trace_html.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tide/orchestrator/trace.h"

namespace tide::orchestrator {
namespace {

using nlohmann::json;
using tide::v1::EventKind;

constexpr double kLabelW = 210, kPlotW = 1000, kLaneH = 16, kGap = 6, kTop = 26;

// The page's one script. It only reads attributes the renderer wrote (numbers) and never
// turns text into markup, so run content cannot reach it as code.
constexpr const char kScript[] = R"JS(
(function () {
  'use strict';
  function openEvent(seq) {
    var el = document.getElementById('ev-' + seq);
    if (!el) return;
    for (var p = el; p; p = p.parentElement) {
      if (p.tagName === 'DETAILS') p.open = true;
    }
    el.scrollIntoView({block: 'center'});
    el.classList.add('flash');
    setTimeout(function () { el.classList.remove('flash'); }, 1600);
  }
  document.querySelectorAll('[data-seq]').forEach(function (n) {
    n.addEventListener('click', function () { openEvent(n.getAttribute('data-seq')); });
  });
  document.querySelectorAll('[data-lane]').forEach(function (n) {
    n.addEventListener('click', function (e) {
      if (e.target.closest('[data-seq]')) return;
      var d = document.getElementById('lane-' + n.getAttribute('data-lane'));
      if (!d) return;
      d.open = true;
      d.scrollIntoView({block: 'start'});
    });
  });
  function setAll(open) {
    document.querySelectorAll('#messages details').forEach(function (d) { d.open = open; });
  }
  document.getElementById('expand-all').addEventListener('click', function () { setAll(true); });
  document.getElementById('collapse-all').addEventListener('click', function () { setAll(false); });
  document.body.setAttribute('data-trace-ready', 'true');
})();
)JS";

constexpr const char kCss[] = R"CSS(
body { font: 13px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 20px 28px; color: #1d232b; background: #fff; }
h1 { font-size: 20px; margin: 0 0 6px; } h2 { font-size: 16px; margin: 26px 0 8px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #e6e9ee; }
.badge.succeeded { background: #d5f2dc; } .badge.failed { background: #fadada; } .badge.cancelled { background: #fdeccd; }
.badge.crit { background: #d6336c; color: #fff; }
table.kv { border-collapse: collapse; } table.kv td { padding: 2px 14px 2px 0; vertical-align: top; }
table.kv td:first-child { color: #5c6672; }
table.grid { border-collapse: collapse; } table.grid th, table.grid td { border: 1px solid #dde1e6; padding: 3px 8px; text-align: left; }
.note { color: #5c6672; } .warn { color: #b3261e; font-weight: 600; }
.chart { display: block; max-width: 100%; height: auto; border: 1px solid #e3e6ea; border-radius: 4px; background: #fcfcfd; }
.chart text { font-size: 11px; fill: #3a4350; } .chart .lname { cursor: pointer; } .chart .crit .lname { fill: #d6336c; font-weight: 700; }
.chart .tick { stroke: #e3e6ea; } .chart .life { fill: #eef1f4; }
.seg { cursor: pointer; } .seg:hover { stroke: #000; stroke-width: 1; }
.k-step { fill: #4c7ee8; } .k-tool { fill: #2fa67a; } .k-wait { fill: #c9b8f0; } .k-queued { fill: none; stroke: #9aa3ad; stroke-dasharray: 3 2; }
.k-idle { fill: #f1f2f4; stroke: #d4d8dd; stroke-dasharray: 2 2; }
.k-step.crit { fill: #d6336c; } .err { fill: #e5484d !important; } .band { fill: #f4f0fb; } .band.odd { fill: #eef5fb; }
.legend span { display: inline-block; margin-right: 14px; } .legend i { display: inline-block; width: 12px; height: 10px; margin-right: 4px; vertical-align: -1px; }
details.agent { border: 1px solid #dde1e6; border-radius: 4px; margin: 6px 0; padding: 4px 8px; }
details.agent.crit { border-left: 4px solid #d6336c; }
details.agent > summary { font-weight: 600; cursor: pointer; }
details.ev { margin: 3px 0 3px 14px; border-left: 2px solid #dde1e6; padding-left: 8px; }
details.ev > summary { cursor: pointer; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
details.ev.flash { background: #fff4c2; }
.seqno { color: #8a939e; font-family: ui-monospace, monospace; } .role { font-weight: 600; } .tag-err { color: #b3261e; font-weight: 600; }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f8fa; border-radius: 4px; padding: 6px 8px; margin: 4px 0; max-height: 480px; overflow: auto; }
button { font: inherit; margin-right: 6px; }
)CSS";

std::string Fixed(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, x);
  return buf;
}

// At most `n` bytes of `s` without cutting a UTF-8 sequence, on one line.
std::string Clip(const std::string& s, size_t n) {
  std::string out = s.size() > n ? s.substr(0, n) : s;
  if (s.size() > n) {
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && (static_cast<unsigned char>(out.back()) & 0x80)) out.pop_back();  // a lead byte
    out += "…";
  }
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return out;
}

std::string Duration(int64_t ms) {
  return ms < 10000 ? std::to_string(ms) + " ms" : Fixed(static_cast<double>(ms) / 1000.0, 1) + " s";
}

std::string Sha256Base64(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  unsigned char b64[4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1];
  EVP_EncodeBlock(b64, digest, SHA256_DIGEST_LENGTH);
  return reinterpret_cast<const char*>(b64);
}

std::string Pretty(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace); }

std::string Text(const json& p, const char* key) {
  if (!p.is_object() || !p.contains(key)) return "";
  const json& v = p[key];
  return v.is_string() ? v.get<std::string>() : (v.is_null() ? "" : Pretty(v));
}

std::string LaneLabel(const TraceLane& lane) { return (lane.critical ? "★ " : "") + Clip(lane.agent, 28); }

std::string Seg(const char* shape_open, const TraceSegment& s, const std::string& geometry, const std::string& title) {
  std::string cls = std::string("seg k-") + TraceSegmentKindName(s.kind);
  if (s.critical) cls += " crit";
  if (s.is_error) cls += " err";
  std::string out = std::string("<") + shape_open + " class=\"" + cls + "\" " + geometry;
  if (s.seq >= 0) out += " data-seq=\"" + std::to_string(s.seq) + "\"";
  return out + "><title>" + HtmlEscape(title) + "</title></" + shape_open + ">";
}

// Tick spacing of 1, 2 or 5 × 10^k ms giving about 8 ticks.
double TickStep(double span) {
  const double raw = span / 8;
  const double mag = std::pow(10.0, std::floor(std::log10(std::max(raw, 1.0))));
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * mag >= raw) return m * mag;
  }
  return 10 * mag;
}

void TimeChart(std::ostringstream& o, const Trace& t) {
  const double span = static_cast<double>(std::max<int64_t>(t.duration_ms, 1));
  const double scale = kPlotW / span;
  const double h = kTop + t.lanes.size() * (kLaneH + kGap) + 8;
  o << "<svg class=\"chart\" id=\"time-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " << kLabelW + kPlotW + 20
    << ' ' << h << "\" width=\"" << kLabelW + kPlotW + 20 << "\" height=\"" << h << "\">";
  const double step = TickStep(span);
  for (double ms = 0; ms <= span + 1e-9; ms += step) {
    const double x = kLabelW + ms * scale;
    o << "<line class=\"tick\" x1=\"" << Fixed(x, 1) << "\" y1=\"" << kTop - 6 << "\" x2=\"" << Fixed(x, 1) << "\" y2=\"" << h
      << "\"/><text x=\"" << Fixed(x, 1) << "\" y=\"" << kTop - 10 << "\" text-anchor=\"middle\">"
      << Duration(static_cast<int64_t>(ms)) << "</text>";
  }
  for (size_t i = 0; i < t.lanes.size(); ++i) {
    const TraceLane& lane = t.lanes[i];
    const double y = kTop + i * (kLaneH + kGap);
    o << "<g class=\"lane" << (lane.critical ? " crit" : "") << "\" data-lane=\"" << i << "\">";
    o << "<text class=\"lname\" x=\"" << kLabelW - 8 << "\" y=\"" << Fixed(y + 12, 1) << "\" text-anchor=\"end\">"
      << HtmlEscape(LaneLabel(lane)) << "<title>" << HtmlEscape(lane.agent) << "</title></text>";
    o << "<rect class=\"life\" x=\"" << Fixed(kLabelW + lane.start_ms * scale, 1) << "\" y=\"" << Fixed(y, 1)
      << "\" width=\"" << Fixed(std::max(1.0, (lane.end_ms - lane.start_ms) * scale), 1) << "\" height=\"" << kLaneH
      << "\"/>";
    for (const TraceSegment& s : lane.segments) {
      if (s.kind == TraceSegmentKind::kIdle) continue;
      const double x = kLabelW + s.start_ms * scale;
      const double w = std::max(1.5, (s.end_ms - s.start_ms) * scale);
      const bool thin = s.kind == TraceSegmentKind::kTool;
      const std::string geo = "x=\"" + Fixed(x, 1) + "\" y=\"" + Fixed(y + (thin ? 3 : 0), 1) + "\" width=\"" +
                              Fixed(w, 1) + "\" height=\"" + Fixed(thin ? kLaneH - 6 : kLaneH, 1) + "\"";
      o << Seg("rect", s, geo,
               lane.agent + " · " + s.label + (s.is_error ? " (error)" : "") + " · " + Duration(s.start_ms) + " → " +
                   Duration(s.end_ms) + " (" + Duration(s.end_ms - s.start_ms) + ")");
    }
    o << "</g>";
  }
  o << "</svg>";
}

void StepsChart(std::ostringstream& o, const Trace& t) {
  const double steps = std::max(1, t.critical_steps);
  const double unit = std::min(40.0, kPlotW / steps);
  const double w = kLabelW + unit * steps + 20;
  const double h = kTop + t.lanes.size() * (kLaneH + kGap) + 8;
  o << "<svg class=\"chart\" id=\"steps-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " << Fixed(w, 1) << ' '
    << h << "\" width=\"" << Fixed(w, 1) << "\" height=\"" << h << "\">";
  for (size_t s = 0; s < t.stages.size(); ++s) {
    const TraceStage& st = t.stages[s];
    const double x = kLabelW + st.step_begin * unit;
    o << "<rect class=\"band" << (s % 2 ? " odd" : "") << "\" x=\"" << Fixed(x, 1) << "\" y=\"" << kTop - 4
      << "\" width=\"" << Fixed(st.slowest_steps * unit, 1) << "\" height=\"" << h - kTop + 2 << "\"><title>stage "
      << s + 1 << ": " << st.lanes.size() << " sub-agents, slowest "
      << (st.critical_lane >= 0 ? HtmlEscape(t.lanes[st.critical_lane].agent) : std::string("-")) << " ("
      << st.slowest_steps << " steps)</title></rect><text x=\"" << Fixed(x + 2, 1) << "\" y=\"" << kTop - 10
      << "\">stage " << s + 1 << "</text>";
  }
  for (size_t i = 0; i < t.lanes.size(); ++i) {
    const TraceLane& lane = t.lanes[i];
    const double y = kTop + i * (kLaneH + kGap);
    o << "<g class=\"lane" << (lane.critical ? " crit" : "") << "\" data-lane=\"" << i << "\">";
    o << "<text class=\"lname\" x=\"" << kLabelW - 8 << "\" y=\"" << Fixed(y + 12, 1) << "\" text-anchor=\"end\">"
      << HtmlEscape(LaneLabel(lane)) << "<title>" << HtmlEscape(lane.agent) << "</title></text>";
    for (const TraceSegment& s : lane.segments) {
      const std::string title = lane.agent + " · " + s.label + (s.is_error ? " (error)" : "");
      if (s.kind == TraceSegmentKind::kTool) {
        o << Seg("circle", s,
                 "cx=\"" + Fixed(kLabelW + s.step_begin * unit, 1) + "\" cy=\"" + Fixed(y + kLaneH / 2, 1) + "\" r=\"3\"",
                 title);
      } else if (s.kind != TraceSegmentKind::kQueued && s.step_end > s.step_begin) {
        const bool step = s.kind == TraceSegmentKind::kStep;
        const std::string geo = "x=\"" + Fixed(kLabelW + s.step_begin * unit + (step ? 1 : 0), 1) + "\" y=\"" +
                                Fixed(y + (step ? 0 : 3), 1) + "\" width=\"" +
                                Fixed(std::max(1.0, (s.step_end - s.step_begin) * unit - (step ? 2 : 0)), 1) +
                                "\" height=\"" + Fixed(step ? kLaneH : kLaneH - 6, 1) + "\"";
        o << Seg("rect", s, geo, title);
      }
    }
    o << "</g>";
  }
  o << "</svg>";
}

std::string EventPreview(const tide::v1::SwarmEvent& ev, const json& p) {
  switch (ev.kind()) {
    case EventKind::EVENT_KIND_AGENT_STARTED:
      return "started · " + Clip(p.is_object() && p.contains("instructions") ? Text(p, "instructions") : Text(p, "task"), 110);
    case EventKind::EVENT_KIND_MESSAGE: {
      std::string s = Clip(Text(p, "content"), 110);
      if (p.is_object() && p.contains("tool_calls") && p["tool_calls"].is_array()) {
        std::string calls;
        for (const auto& c : p["tool_calls"]) {
          if (c.is_object() && c.contains("function")) calls += (calls.empty() ? "" : ", ") + Text(c["function"], "name");
        }
        s = "calls " + Clip(calls, 110) + (s.empty() ? "" : " · " + s);
      }
      return s;
    }
    case EventKind::EVENT_KIND_TOOL_RESULT:
      return Text(p, "name") + " returned after " + Fixed(p.is_object() ? p.value("ms", 0.0) : 0.0, 1) + " ms" +
             (p.is_object() && p.value("is_error", false) ? " — error" : "");
    case EventKind::EVENT_KIND_AGENT_FINISHED:
      return Text(p, "status") + " after " + Text(p, "steps") + " steps · " + Clip(Text(p, "result"), 90);
    case EventKind::EVENT_KIND_RUN_FAILED: return "run failed: " + Clip(Text(p, "error"), 110);
    case EventKind::EVENT_KIND_RUN_CANCELLED: return "run cancelled: " + Clip(Text(p, "reason"), 110);
    default: return Clip(ev.payload_json(), 110);
  }
}

std::string Pre(const std::string& text) { return "<pre>" + HtmlEscape(text) + "</pre>"; }

std::string EventBody(const tide::v1::SwarmEvent& ev, const json& p) {
  if (!p.is_object()) return Pre(ev.payload_json());
  std::string out;
  if (ev.kind() == EventKind::EVENT_KIND_MESSAGE) {
    if (p.contains("tool_call_id")) out += "<div class=\"note\">answers tool call " + HtmlEscape(Text(p, "tool_call_id")) + "</div>";
    const std::string content = Text(p, "content");
    if (!content.empty()) out += Pre(content);
    if (p.contains("tool_calls") && p["tool_calls"].is_array()) {
      for (const auto& c : p["tool_calls"]) {
        const json f = c.is_object() && c.contains("function") ? c["function"] : json::object();
        const json args = json::parse(Text(f, "arguments"), nullptr, false);
        out += "<div>→ <b>" + HtmlEscape(Text(f, "name")) + "</b> <span class=\"seqno\">" + HtmlEscape(Text(c, "id")) +
               "</span></div>" + Pre(args.is_discarded() ? Text(f, "arguments") : Pretty(args));
      }
    }
    return out.empty() ? "<div class=\"note\">(empty)</div>" : out;
  }
  if (ev.kind() == EventKind::EVENT_KIND_AGENT_STARTED) {
    for (const char* key : {"task", "instructions"}) {
      if (p.contains(key)) out += "<div class=\"note\">" + std::string(key) + "</div>" + Pre(Text(p, key));
    }
    std::string tools;
    if (p.contains("tools") && p["tools"].is_array()) {
      for (const auto& tool : p["tools"]) {
        if (tool.is_object() && tool.contains("function")) tools += (tools.empty() ? "" : ", ") + Text(tool["function"], "name");
      }
    }
    return out + "<div class=\"note\">tools: " + HtmlEscape(tools.empty() ? "-" : tools) + "</div>";
  }
  if (ev.kind() == EventKind::EVENT_KIND_AGENT_FINISHED) {
    out += "<div>" + HtmlEscape(Text(p, "status")) + ", " + HtmlEscape(Text(p, "steps")) + " steps, " +
           HtmlEscape(Text(p, "tool_calls")) + " tool calls, usage " + HtmlEscape(Text(p, "usage")) + "</div>";
    if (p.contains("error")) out += "<div class=\"tag-err\">" + HtmlEscape(Text(p, "error")) + "</div>";
    return out + Pre(Text(p, "result"));
  }
  return Pre(Pretty(p));
}

std::string EventKindLabel(const tide::v1::SwarmEvent& ev, const json& p) {
  if (ev.kind() == EventKind::EVENT_KIND_MESSAGE) return Text(p, "role");
  std::string name = tide::v1::EventKind_Name(ev.kind());
  if (name.rfind("EVENT_KIND_", 0) == 0) name = name.substr(11);
  std::transform(name.begin(), name.end(), name.begin(), [](char c) { return c == '_' ? ' ' : std::tolower(c); });
  return name;
}

void EventDetails(std::ostringstream& o, const Trace& t, const tide::v1::SwarmEvent& ev) {
  const json p = json::parse(ev.payload_json(), nullptr, false);
  const bool err = (ev.kind() == EventKind::EVENT_KIND_TOOL_RESULT && p.is_object() && p.value("is_error", false)) ||
                   ev.kind() == EventKind::EVENT_KIND_RUN_FAILED;
  o << "<details class=\"ev\" id=\"ev-" << ev.seq() << "\"><summary><span class=\"seqno\">#" << ev.seq() << " +"
    << Duration(ev.time_unix_ms() - t.start_unix_ms) << "</span> <span class=\"role\">"
    << HtmlEscape(EventKindLabel(ev, p)) << "</span>" << (err ? " <span class=\"tag-err\">error</span>" : "") << " "
    << HtmlEscape(EventPreview(ev, p)) << "</summary>" << EventBody(ev, p) << "</details>";
}

void Summary(std::ostringstream& o, const tide::v1::Run& run, const Trace& t, size_t num_events) {
  const auto& r = run.result();
  auto row = [&](const std::string& k, const std::string& v) {
    o << "<tr><td>" << HtmlEscape(k) << "</td><td>" << HtmlEscape(v) << "</td></tr>";
  };
  o << "<table class=\"kv\">";
  row("task", run.request().world() + " / " + (run.request().task_family().empty() ? "default" : run.request().task_family()) +
                  ", seed " + std::to_string(run.request().seed()) + ", " + std::to_string(run.request().items()) +
                  " items, up to " + std::to_string(run.request().max_subagents()) + " sub-agents");
  row("policy", run.request().policy().empty() ? "oracle" : run.request().policy());
  if (run.state() == tide::v1::RUN_STATE_SUCCEEDED) {
    row("verified", "item_f1 " + Fixed(r.item_f1(), 3) + ", success " + (r.success() ? "yes" : "no") + ", reward " +
                        Fixed(r.reward(), 3));
    const double rate = r.subagents() > 0 ? static_cast<double>(r.finished_subagents()) / r.subagents() : 0.0;
    row("sub-agents", std::to_string(r.subagents()) + " (" + std::to_string(r.finished_subagents()) + " finished, rate " +
                          Fixed(rate, 3) + ")");
    row("totals", std::to_string(r.total_steps()) + " steps, " + std::to_string(r.tool_calls()) + " tool calls, " +
                      std::to_string(r.usage().total_tokens()) + " tokens, wall " + Fixed(r.wall_s(), 3) + " s");
  }
  if (!r.error().empty()) row("error", r.error());
  row("events", std::to_string(num_events) + " stored; " + std::to_string(t.lanes.size()) +
                    " agents, " + std::to_string(t.stages.size()) +
                    (t.stages.size() == 1 ? " stage, " : " stages, ") + std::to_string(t.tool_calls) +
                    " tool calls (" + std::to_string(t.tool_errors) + " errors), " + Duration(t.duration_ms));
  o << "</table>";
  std::string sum = std::to_string(t.coordinator_steps) + " coordinator steps";
  for (const TraceStage& st : t.stages) sum += " + " + std::to_string(st.slowest_steps);
  o << "<p id=\"critical-summary\">Critical steps: <b>" << t.critical_steps << "</b> = " << HtmlEscape(sum)
    << " (the slowest sub-agent of each stage)";
  if (run.state() == tide::v1::RUN_STATE_SUCCEEDED) {
    if (r.critical_steps() == t.critical_steps) {
      o << "; the run's result agrees.";
    } else {
      o << "; <span class=\"warn\">the run's result says " << r.critical_steps() << "</span>.";
    }
  }
  o << "</p>";
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

Result<std::string> RenderTraceHtml(const tide::v1::Run& run, const std::vector<tide::v1::SwarmEvent>& events) {
  TIDE_ASSIGN_OR_RETURN(Trace t, BuildTrace(events));
  if (!t.run_id.empty() && t.run_id != run.run_id()) {
    return InvalidArgument("the events are of run \"" + t.run_id + "\", not of run \"" + run.run_id() + "\"");
  }
  std::string state = tide::v1::RunState_Name(run.state());
  if (state.rfind("RUN_STATE_", 0) == 0) state = state.substr(10);
  std::transform(state.begin(), state.end(), state.begin(), [](char c) { return std::tolower(c); });

  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
    << "script-src 'sha256-" << Sha256Base64(kScript) << "'\">"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    << "<title>Tide run " << HtmlEscape(run.run_id()) << "</title><style>" << kCss << "</style></head><body>\n";
  o << "<h1>Run " << HtmlEscape(run.run_id()) << " <span class=\"badge " << state << "\">" << state << "</span></h1>";
  Summary(o, run, t, events.size());

  o << "<h2>Timeline</h2><div class=\"legend note\"><span><i style=\"background:#4c7ee8\"></i>model "
       "step</span><span><i style=\"background:#d6336c\"></i>critical step</span><span><i style=\"background:#2fa67a\"></i>"
       "tool call</span><span><i style=\"background:#c9b8f0\"></i>"
       "waiting for sub-agents</span><span><i style=\"border:1px dashed #9aa3ad\"></i>queued</span><span><i "
       "style=\"background:#e5484d\"></i>error</span><span>★ critical agent · click a bar to open its message</span></div>";
  TimeChart(o, t);
  o << "<h2>Critical path</h2><p class=\"note\">One column per step. The coordinator's steps follow each other; each "
       "stage is as wide as its slowest sub-agent, whose steps are <b style=\"color:#d6336c\">highlighted</b>, so the "
       "width is the critical path.</p>";
  StepsChart(o, t);

  o << "<h2>Stages</h2>";
  if (t.stages.empty()) {
    o << "<p class=\"note\">No sub-agents were started.</p>";
  } else {
    o << "<table class=\"grid\" id=\"stages\"><tr><th>stage</th><th>coordinator step</th><th>sub-agents</th>"
         "<th>critical sub-agent</th><th>its steps</th></tr>";
    for (size_t s = 0; s < t.stages.size(); ++s) {
      const TraceStage& st = t.stages[s];
      o << "<tr><td>" << s + 1 << "</td><td>" << st.coordinator_step << "</td><td>" << st.lanes.size() << "</td><td>"
        << (st.critical_lane >= 0 ? "<span class=\"badge crit\">critical</span> " + HtmlEscape(t.lanes[st.critical_lane].agent)
                                  : std::string("-"))
        << "</td><td>" << st.slowest_steps << "</td></tr>";
    }
    o << "</table>";
  }

  o << "<h2>Messages</h2><p><button type=\"button\" id=\"expand-all\">expand all</button><button type=\"button\" "
       "id=\"collapse-all\">collapse all</button></p><div id=\"messages\">";
  std::vector<bool> shown(events.size(), false);
  for (size_t i = 0; i < t.lanes.size(); ++i) {
    const TraceLane& lane = t.lanes[i];
    o << "<details class=\"agent" << (lane.critical ? " crit" : "") << "\" id=\"lane-" << i << "\"" << (i == 0 ? " open" : "")
      << "><summary>" << HtmlEscape(lane.agent) << (lane.critical ? " <span class=\"badge crit\">critical</span>" : "")
      << " <span class=\"note\">" << HtmlEscape(lane.status) << ", " << lane.steps << " steps, " << lane.tool_calls
      << " tool calls" << (lane.stage >= 0 ? ", stage " + std::to_string(lane.stage + 1) : std::string()) << "</span></summary>";
    for (size_t e : lane.events) {
      EventDetails(o, t, events[e]);
      shown[e] = true;
    }
    o << "</details>";
  }
  o << "<details class=\"agent\" id=\"run-events\"><summary>run</summary>";
  for (size_t e = 0; e < events.size(); ++e) {
    if (!shown[e]) EventDetails(o, t, events[e]);
  }
  o << "</details></div>\n<script>" << kScript << "</script></body></html>\n";
  return o.str();
}

}  // namespace tide::orchestrator
