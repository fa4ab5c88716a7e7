// The trace page: its structure for a known event log (both charts with a lane per agent,
// the critical agents marked, every event as an expandable message, the critical-path
// sum), self-containment (one script, allowed by its hash; nothing fetched), and escaping
// of hostile message text and agent names. Rendering in a browser is tests/e2e.
#include "tide/orchestrator/trace_html.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "trace_test_util.h"

namespace tide::orchestrator {
namespace {

using testing::EventLog;

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + needle.size())) ++n;
  return n;
}

tide::v1::Run SucceededRun(int critical_steps) {
  tide::v1::Run run;
  run.set_run_id("run-test");
  run.set_state(tide::v1::RUN_STATE_SUCCEEDED);
  run.mutable_request()->set_world("research");
  run.mutable_request()->set_items(8);
  run.mutable_result()->set_critical_steps(critical_steps);
  run.mutable_result()->set_subagents(4);
  run.mutable_result()->set_finished_subagents(4);
  return run;
}

std::string Render(const tide::v1::Run& run, const EventLog& log) {
  Result<std::string> html = RenderTraceHtml(run, log.events());
  EXPECT_TRUE(html.ok()) << html.status().ToString();
  return html.ok() ? *html : std::string();
}

TEST(TraceHtmlTest, HtmlEscapeCoversMarkupAndQuotes) {
  EXPECT_EQ(HtmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(HtmlEscape("plain text é"), "plain text é");
  EXPECT_EQ(HtmlEscape(""), "");
}

TEST(TraceHtmlTest, StructureOfAKnownRun) {
  const EventLog log = EventLog::TwoStages();
  const std::string html = Render(SucceededRun(8), log);
  ASSERT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<title>Tide run run-test</title>"), std::string::npos);
  // Two charts, each with a lane per agent; the coordinator, b and d are critical.
  EXPECT_EQ(Count(html, "<svg class=\"chart\""), 2u);
  EXPECT_NE(html.find("id=\"time-chart\""), std::string::npos);
  EXPECT_NE(html.find("id=\"steps-chart\""), std::string::npos);
  EXPECT_EQ(Count(html, "<g class=\"lane"), 10u);
  EXPECT_EQ(Count(html, "<g class=\"lane crit\""), 6u);
  EXPECT_EQ(Count(html, "★ b<title>b</title>"), 2u);
  EXPECT_EQ(Count(html, "★ a<title>"), 0u);
  // The critical path: stage table and the sum, checked against the run's result.
  EXPECT_NE(html.find("<span class=\"badge crit\">critical</span> b</td><td>4</td>"), std::string::npos);
  EXPECT_NE(html.find("<span class=\"badge crit\">critical</span> d</td><td>1</td>"), std::string::npos);
  EXPECT_NE(html.find("Critical steps: <b>8</b> = 3 coordinator steps + 4 + 1"), std::string::npos);
  EXPECT_NE(html.find("the run's result agrees"), std::string::npos);
  // Critical model steps are drawn as such in both charts: 3 + 4 + 1, twice.
  EXPECT_EQ(Count(html, "class=\"seg k-step crit\""), 16u);
  EXPECT_EQ(Count(html, "class=\"seg k-wait\""), 4u);
  EXPECT_GE(Count(html, "class=\"seg k-tool err\""), 2u);  // b's failed search, on both charts
  // Every event is a message that expands, once; a chart segment opens its message.
  for (const auto& ev : log.events()) {
    EXPECT_EQ(Count(html, "id=\"ev-" + std::to_string(ev.seq()) + "\""), 1u) << ev.seq();
  }
  EXPECT_EQ(Count(html, "<details class=\"ev\""), log.events().size());
  EXPECT_EQ(Count(html, "<details class=\"agent"), 6u);  // five agents and the run itself
  EXPECT_NE(html.find("data-seq=\"4\""), std::string::npos);  // the coordinator's first step
  EXPECT_NE(html.find("error: search backend down"), std::string::npos);
}

TEST(TraceHtmlTest, AMismatchWithTheRunResultIsShown) {
  const std::string html = Render(SucceededRun(9), EventLog::TwoStages());
  EXPECT_NE(html.find("the run's result says 9"), std::string::npos);
}

TEST(TraceHtmlTest, SelfContainedWithOneScriptAllowedByItsHash) {
  const std::string html = Render(SucceededRun(8), EventLog::TwoStages());
  ASSERT_EQ(Count(html, "<script>"), 1u);
  ASSERT_EQ(Count(html, "</script>"), 1u);
  const size_t open = html.find("<script>") + 8;
  const std::string script = html.substr(open, html.find("</script>") - open);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(script.data()), script.size(), digest);
  unsigned char b64[64];
  EVP_EncodeBlock(b64, digest, SHA256_DIGEST_LENGTH);
  EXPECT_NE(html.find("script-src 'sha256-" + std::string(reinterpret_cast<char*>(b64)) + "'"), std::string::npos);
  EXPECT_NE(html.find("default-src 'none'"), std::string::npos);
  // Nothing to fetch: no src/href attributes, no URL besides the SVG namespace.
  EXPECT_EQ(Count(html, " src="), 0u);
  EXPECT_EQ(Count(html, " href="), 0u);
  EXPECT_EQ(Count(html, "http://") + Count(html, "https://"), Count(html, "xmlns=\"http://www.w3.org/2000/svg\""));
}

TEST(TraceHtmlTest, HostileTextIsEscapedEverywhere) {
  const std::string evil = "</script><script>alert(1)</script><img src=x onerror=alert(2)>";
  EventLog log;
  log.Started("coordinator", "", 0, evil);
  log.Message("coordinator", "", 0, "user", evil);
  log.Calls("coordinator", "", 1, {{"c1", "spawn<b>"}}, "{\"q\": \"" + std::string("</script><img src=y onerror=alert(3)>") + "\"}");
  const std::string name = "<img src=z onerror=alert(4)>";
  log.Started(name, "coordinator", 2, evil);
  log.Message(name, "coordinator", 3, "assistant", evil);
  log.Finished(name, "coordinator", 3, 1, 0, evil);
  log.Result("coordinator", "", 4, "c1", "spawn<b>", 2, false, evil);
  log.Message("coordinator", "", 5, "assistant", evil);
  log.Finished("coordinator", "", 5, 2, 1, evil);
  tide::v1::Run run = SucceededRun(3);
  run.mutable_result()->set_error(evil);
  const std::string html = Render(run, log);
  ASSERT_FALSE(html.empty());
  EXPECT_EQ(Count(html, "<script"), 1u);
  EXPECT_EQ(Count(html, "</script"), 1u);
  EXPECT_EQ(Count(html, "<img"), 0u);
  EXPECT_EQ(Count(html, "<b>x"), 0u);
  EXPECT_EQ(Count(html, "spawn<b>"), 0u);
  EXPECT_EQ(Count(html, "onerror=alert(2)>"), 0u);  // only ever escaped
  EXPECT_NE(html.find("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"),
            std::string::npos);
  EXPECT_NE(html.find("&lt;img src=z onerror=alert(4)&gt;"), std::string::npos);  // the agent's name
  EXPECT_NE(html.find("&lt;/script&gt;&lt;img src=y onerror=alert(3)&gt;"), std::string::npos);  // tool arguments
  // Attributes hold only numbers and fixed words.
  const std::regex attr("data-(seq|lane)=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), attr); it != std::sregex_iterator(); ++it) {
    EXPECT_TRUE(std::regex_match((*it)[2].str(), std::regex("[0-9]+"))) << (*it)[0];
  }
}

TEST(TraceHtmlTest, EventsOfAnotherRunAreRefused) {
  tide::v1::Run run = SucceededRun(8);
  run.set_run_id("some-other-run");
  Result<std::string> html = RenderTraceHtml(run, EventLog::TwoStages().events());
  ASSERT_FALSE(html.ok());
  EXPECT_EQ(html.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(html.status().message().find("some-other-run"), std::string::npos);
}

TEST(TraceHtmlTest, ARunWithoutEventsStillRenders) {
  tide::v1::Run run;
  run.set_run_id("empty");
  run.set_state(tide::v1::RUN_STATE_FAILED);
  run.mutable_result()->set_error("interrupted");
  const Result<std::string> html = RenderTraceHtml(run, {});
  ASSERT_TRUE(html.ok());
  EXPECT_NE(html->find("No sub-agents were started."), std::string::npos);
  EXPECT_NE(html->find("interrupted"), std::string::npos);
}

}  // namespace
}  // namespace tide::orchestrator
