// Run metrics: the Prometheus text for known run records (states, active runs, histogram
// buckets, sums and counts, valid exposition format), read from a real Store filled by
// real runs, and scraped over loopback from the HTTP server that `tide serve` uses.
#include "tide/orchestrator/run_metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "orchestrator_test_util.h"
#include "tide/orchestrator/openai_server.h"
#include "tide/orchestrator/run_manager.h"
#include "tide/orchestrator/store.h"

namespace tide::orchestrator {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;

// Every sample line as "name{labels}" → value; checks the exposition format on the way:
// each sample's family has # HELP and # TYPE before it.
std::map<std::string, double> Parse(const std::string& text) {
  std::map<std::string, double> out;
  std::set<std::string> typed;
  std::istringstream in(text);
  std::string line;
  const std::regex sample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (\S+))");
  const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  std::smatch m;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (std::regex_match(line, m, type)) {
      EXPECT_TRUE(typed.insert(m[1].str()).second) << "family typed twice: " << line;
      continue;
    }
    if (!std::regex_match(line, m, sample)) {
      ADD_FAILURE() << "not a Prometheus sample line: \"" << line << "\"";
      continue;
    }
    std::string family = m[1].str();
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (!typed.count(family) && family.size() > s.size() && family.compare(family.size() - s.size(), s.size(), s) == 0) {
        family = family.substr(0, family.size() - s.size());
      }
    }
    EXPECT_TRUE(typed.count(family)) << "no # TYPE before " << line;
    out[m[1].str() + m[2].str()] = std::stod(m[4].str());
  }
  return out;
}

tide::v1::Run MakeRun(tide::v1::RunState state, int critical = 0, int subagents = 0, int finished = 0) {
  tide::v1::Run run;
  run.set_state(state);
  auto* r = run.mutable_result();
  r->set_critical_steps(critical);
  r->set_total_steps(critical * 3);
  r->set_tool_calls(critical * 2);
  r->mutable_usage()->set_total_tokens(critical * 1000);
  r->set_wall_s(critical / 10.0);
  r->set_subagents(subagents);
  r->set_finished_subagents(finished);
  r->set_item_f1(1.0);
  return run;
}

TEST(RunMetricsTest, KnownRecords) {
  const std::vector<tide::v1::Run> runs = {
      MakeRun(tide::v1::RUN_STATE_SUCCEEDED, 3, 4, 4),  MakeRun(tide::v1::RUN_STATE_SUCCEEDED, 10, 3, 2),
      MakeRun(tide::v1::RUN_STATE_SUCCEEDED, 1, 0, 0),  MakeRun(tide::v1::RUN_STATE_FAILED),
      MakeRun(tide::v1::RUN_STATE_CANCELLED),           MakeRun(tide::v1::RUN_STATE_RUNNING),
      MakeRun(tide::v1::RUN_STATE_RUNNING)};
  std::map<std::string, double> m = Parse(FormatRunMetrics(runs));
  EXPECT_EQ(m["tide_runs{state=\"running\"}"], 2);
  EXPECT_EQ(m["tide_runs{state=\"succeeded\"}"], 3);
  EXPECT_EQ(m["tide_runs{state=\"failed\"}"], 1);
  EXPECT_EQ(m["tide_runs{state=\"cancelled\"}"], 1);
  EXPECT_EQ(m["tide_runs_active"], 2);
  EXPECT_EQ(m["tide_runs_total"], 7);
  EXPECT_EQ(m["tide_run_subagents_total"], 7);
  EXPECT_EQ(m["tide_run_finished_subagents_total"], 6);
  // Histograms over the three succeeded runs: critical steps 3, 10, 1.
  EXPECT_EQ(m["tide_run_critical_steps_bucket{le=\"1\"}"], 1);
  EXPECT_EQ(m["tide_run_critical_steps_bucket{le=\"2\"}"], 1);
  EXPECT_EQ(m["tide_run_critical_steps_bucket{le=\"4\"}"], 2);
  EXPECT_EQ(m["tide_run_critical_steps_bucket{le=\"8\"}"], 2);
  EXPECT_EQ(m["tide_run_critical_steps_bucket{le=\"16\"}"], 3);
  EXPECT_EQ(m["tide_run_critical_steps_bucket{le=\"+Inf\"}"], 3);
  EXPECT_EQ(m["tide_run_critical_steps_sum"], 14);
  EXPECT_EQ(m["tide_run_critical_steps_count"], 3);
  EXPECT_EQ(m["tide_run_total_steps_sum"], 42);
  EXPECT_EQ(m["tide_run_tool_calls_sum"], 28);
  EXPECT_EQ(m["tide_run_tokens_sum"], 14000);
  EXPECT_DOUBLE_EQ(m["tide_run_wall_seconds_sum"], 1.4);
  EXPECT_EQ(m["tide_run_wall_seconds_bucket{le=\"0.5\"}"], 2);
  EXPECT_EQ(m["tide_run_item_f1_count"], 3);
  // Finish rate only for runs that started sub-agents: 4/4 and 2/3.
  EXPECT_EQ(m["tide_run_subagent_finish_rate_count"], 2);
  EXPECT_EQ(m["tide_run_subagent_finish_rate_bucket{le=\"0.5\"}"], 0);
  EXPECT_EQ(m["tide_run_subagent_finish_rate_bucket{le=\"0.8\"}"], 1);
  EXPECT_EQ(m["tide_run_subagent_finish_rate_bucket{le=\"0.99\"}"], 1);
  EXPECT_EQ(m["tide_run_subagent_finish_rate_bucket{le=\"1\"}"], 2);
  EXPECT_NEAR(m["tide_run_subagent_finish_rate_sum"], 1 + 2.0 / 3, 1e-12);
}

TEST(RunMetricsTest, NoRunsIsAllZeros) {
  std::map<std::string, double> m = Parse(FormatRunMetrics({}));
  EXPECT_EQ(m["tide_runs_total"], 0);
  EXPECT_EQ(m["tide_run_critical_steps_count"], 0);
  EXPECT_EQ(m["tide_run_critical_steps_bucket{le=\"+Inf\"}"], 0);
}

std::pair<int, std::string> Get(int port, const std::string& target, http::verb verb = http::verb::get) {
  net::io_context io;
  net::ip::tcp::socket socket(io);
  socket.connect({net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.body() = verb == http::verb::post ? "{}" : "";
  req.prepare_payload();
  http::write(socket, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  return {static_cast<int>(res.result_int()), res.body()};
}

// Real runs in a real store, scraped over loopback: succeeded runs with their results,
// a failed run, and the store's corruption reported as a failed scrape.
TEST(RunMetricsTest, ScrapedOverLoopbackFromAStoreOfRealRuns) {
  testing::TempDir dir;
  Store::Options opts;
  opts.sync_writes = false;
  auto store = Store::Open(dir.path() + "/db", opts).value();
  std::vector<tide::v1::Run> done;
  {
    auto manager = RunManager::Create(store.get()).value();
    for (int items : {6, 12}) done.push_back(manager->Wait(manager->Start(testing::ResearchSpec(items, 3)).value()).value());
  }
  {
    RunManager::Options failing;
    failing.policy = std::make_shared<testing::ScriptedPolicy>(
        [](const workers::PolicyRequest&) -> Result<workers::PolicyResponse> { return Unavailable("model offline"); });
    auto manager = RunManager::Create(store.get(), failing).value();
    const auto run = manager->Wait(manager->Start(testing::ResearchSpec(6, 3)).value()).value();
    ASSERT_EQ(run.state(), tide::v1::RUN_STATE_FAILED);
  }
  OpenAiServerOptions http_options;
  http_options.port = 0;
  Store* s = store.get();
  http_options.extra_metrics = [s] { return RunMetricsText(s); };
  auto server = OpenAiServer::Start(nullptr, http_options).value();

  auto [status, body] = Get(server->port(), "/metrics");
  ASSERT_EQ(status, 200) << body;
  std::map<std::string, double> m = Parse(body);
  EXPECT_EQ(m["tide_runs{state=\"succeeded\"}"], 2);
  EXPECT_EQ(m["tide_runs{state=\"failed\"}"], 1);
  EXPECT_EQ(m["tide_runs_active"], 0);
  EXPECT_EQ(m["tide_runs_total"], 3);
  double critical = 0, total = 0, calls = 0, tokens = 0;
  int subagents = 0, finished = 0;
  for (const auto& run : done) {
    ASSERT_EQ(run.state(), tide::v1::RUN_STATE_SUCCEEDED) << run.result().error();
    critical += run.result().critical_steps();
    total += run.result().total_steps();
    calls += run.result().tool_calls();
    tokens += static_cast<double>(run.result().usage().total_tokens());
    subagents += run.result().subagents();
    finished += run.result().finished_subagents();
  }
  EXPECT_GT(critical, 0);
  EXPECT_EQ(m["tide_run_critical_steps_sum"], critical);
  EXPECT_EQ(m["tide_run_critical_steps_count"], 2);
  EXPECT_EQ(m["tide_run_total_steps_sum"], total);
  EXPECT_EQ(m["tide_run_tool_calls_sum"], calls);
  EXPECT_EQ(m["tide_run_tokens_sum"], tokens);
  EXPECT_EQ(m["tide_run_subagents_total"], subagents);
  EXPECT_EQ(m["tide_run_finished_subagents_total"], finished);
  EXPECT_EQ(m["tide_run_subagent_finish_rate_count"], 2);
  EXPECT_EQ(m["tide_http_chat_requests_total"], 0);  // the server's own counters come first
  EXPECT_EQ(m.count("tide_engine_running"), 0u);    // no engine, no engine metrics

  // A run record that does not parse fails the scrape with a message naming it.
  ASSERT_TRUE(store->PutRun("broken-run", std::string("\xff\xff\xff\xff", 4)).ok());
  Result<std::string> text = RunMetricsText(store.get());
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), StatusCode::kDataLoss);
  std::tie(status, body) = Get(server->port(), "/metrics");
  EXPECT_EQ(status, 500);
  EXPECT_NE(body.find("broken-run"), std::string::npos) << body;
  server->Shutdown();
}

}  // namespace
}  // namespace tide::orchestrator
