#include "tide/orchestrator/run_metrics.h"

#include <charconv>
#include <sstream>

#include "tide/orchestrator/store.h"

namespace tide::orchestrator {
namespace {

// A Prometheus value: the shortest text that reads back as `v` (0.8, not 0.80000000000000004).
std::string Num(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

class Histogram {
 public:
  Histogram(std::string name, std::string help, std::vector<double> bounds)
      : name_(std::move(name)), help_(std::move(help)), bounds_(std::move(bounds)), counts_(bounds_.size(), 0) {}

  void Observe(double v) {
    for (size_t i = 0; i < bounds_.size(); ++i) {
      if (v <= bounds_[i]) ++counts_[i];
    }
    ++count_;
    sum_ += v;
  }

  void Write(std::ostringstream& out) const {
    out << "# HELP " << name_ << ' ' << help_ << "\n# TYPE " << name_ << " histogram\n";
    for (size_t i = 0; i < bounds_.size(); ++i) {
      out << name_ << "_bucket{le=\"" << Num(bounds_[i]) << "\"} " << counts_[i] << '\n';
    }
    out << name_ << "_bucket{le=\"+Inf\"} " << count_ << '\n'
        << name_ << "_sum " << Num(sum_) << '\n'
        << name_ << "_count " << count_ << '\n';
  }

 private:
  std::string name_, help_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // cumulative: observations <= bounds_[i]
  uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace

std::string FormatRunMetrics(const std::vector<tide::v1::Run>& runs) {
  uint64_t running = 0, succeeded = 0, failed = 0, cancelled = 0, subagents = 0, finished = 0;
  const std::vector<double> steps = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
  Histogram critical("tide_run_critical_steps",
                     "critical steps of succeeded runs (sum over stages of coordinator steps + the slowest sub-agent's)",
                     steps);
  Histogram total("tide_run_total_steps", "model steps of all agents of succeeded runs", steps);
  Histogram calls("tide_run_tool_calls", "tool calls of succeeded runs", steps);
  Histogram tokens("tide_run_tokens", "tokens (prompt + completion) of succeeded runs",
                   {1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8});
  Histogram wall("tide_run_wall_seconds", "wall time of succeeded runs",
                 {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800});
  Histogram rate("tide_run_subagent_finish_rate",
                 "finished / started sub-agents of succeeded runs that started any",
                 {0.5, 0.8, 0.9, 0.95, 0.99, 1});
  Histogram f1("tide_run_item_f1", "verified item-F1 of succeeded runs", {0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1});
  for (const auto& run : runs) {
    switch (run.state()) {
      case tide::v1::RUN_STATE_RUNNING: ++running; break;
      case tide::v1::RUN_STATE_FAILED: ++failed; break;
      case tide::v1::RUN_STATE_CANCELLED: ++cancelled; break;
      case tide::v1::RUN_STATE_SUCCEEDED: {
        ++succeeded;
        const tide::v1::RunResult& r = run.result();
        critical.Observe(r.critical_steps());
        total.Observe(r.total_steps());
        calls.Observe(r.tool_calls());
        tokens.Observe(static_cast<double>(r.usage().total_tokens()));
        wall.Observe(r.wall_s());
        f1.Observe(r.item_f1());
        subagents += static_cast<uint64_t>(r.subagents());
        finished += static_cast<uint64_t>(r.finished_subagents());
        if (r.subagents() > 0) rate.Observe(static_cast<double>(r.finished_subagents()) / r.subagents());
        break;
      }
      default: break;
    }
  }
  std::ostringstream out;
  out << "# HELP tide_runs runs in the store by state\n# TYPE tide_runs gauge\n"
      << "tide_runs{state=\"running\"} " << running << '\n'
      << "tide_runs{state=\"succeeded\"} " << succeeded << '\n'
      << "tide_runs{state=\"failed\"} " << failed << '\n'
      << "tide_runs{state=\"cancelled\"} " << cancelled << '\n';
  out << "# HELP tide_runs_active runs still running\n# TYPE tide_runs_active gauge\ntide_runs_active " << running << '\n';
  out << "# HELP tide_runs_total runs ever started\n# TYPE tide_runs_total counter\ntide_runs_total " << runs.size()
      << '\n';
  out << "# HELP tide_run_subagents_total sub-agents started by succeeded runs\n# TYPE tide_run_subagents_total counter\n"
      << "tide_run_subagents_total " << subagents << '\n';
  out << "# HELP tide_run_finished_subagents_total sub-agents of succeeded runs that reached a final answer\n"
      << "# TYPE tide_run_finished_subagents_total counter\ntide_run_finished_subagents_total " << finished << '\n';
  for (const Histogram* h : {&critical, &total, &calls, &tokens, &wall, &rate, &f1}) h->Write(out);
  return out.str();
}

Result<std::string> RunMetricsText(Store* store) {
  TIDE_ASSIGN_OR_RETURN(auto records, store->ListRuns(0));
  std::vector<tide::v1::Run> runs(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    if (!runs[i].ParseFromString(records[i].second)) {
      return DataLoss("the record of run \"" + records[i].first + "\" is corrupt");
    }
  }
  return FormatRunMetrics(runs);
}

}  // namespace tide::orchestrator
