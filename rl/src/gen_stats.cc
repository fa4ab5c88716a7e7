#include "tide/rl/gen_stats.h"

#include <algorithm>
#include <cmath>

namespace tide::rl {

using nlohmann::json;

void GenStats::AddTask(const std::string& world, const std::string& family, TaskOutcome outcome, double reward) {
  ++tasks_;
  ++outcomes_[static_cast<int>(outcome)];
  Bucket& b = by_task_[world + "/" + family];
  ++b.tasks;
  switch (outcome) {
    case TaskOutcome::kError: ++b.errors; return;
    case TaskOutcome::kRejected: ++b.rejected; break;
    case TaskOutcome::kDuplicate: ++b.duplicates; break;
    case TaskOutcome::kKept: ++b.kept; break;
  }
  b.reward_sum += reward;
  reward_sum_ += reward;
  const int bin = std::clamp(static_cast<int>(std::floor(reward * 10)), 0, 10);
  ++reward_histogram_[bin];
}

void GenStats::AddError(const std::string& message) {
  if (error_samples_.size() < 5) error_samples_.push_back(message);
  ++error_kinds_[message.substr(0, message.find(':'))];
}

void GenStats::AddExample(const json& example) {
  ++examples_;
  ++roles_[example.value("role_in_swarm", "")];
  const json& messages = example.at("messages");
  double chars = 0, calls = 0, turns = 0;
  for (const auto& m : messages) {
    if (m.contains("content") && m["content"].is_string()) {
      const auto& text = m["content"].get_ref<const std::string&>();
      chars += static_cast<double>(text.size());
      if (m.value("role", "") == "tool" && text.rfind("error:", 0) == 0) ++tool_error_observations_;
    }
    if (m.value("role", "") == "assistant") ++turns;
    if (m.contains("tool_calls") && m["tool_calls"].is_array()) {
      for (const auto& c : m["tool_calls"]) {
        ++calls;
        const auto& fn = c.value("function", json::object());
        ++tool_calls_[fn.value("name", "")];
        if (fn.contains("arguments") && fn["arguments"].is_string()) {
          chars += static_cast<double>(fn["arguments"].get_ref<const std::string&>().size());
        }
      }
    }
  }
  messages_.push_back(static_cast<double>(messages.size()));
  chars_.push_back(chars);
  calls_.push_back(calls);
  assistant_turns_.push_back(turns);
}

json GenStats::Describe(std::vector<double> values) {
  if (values.empty()) return {{"count", 0}, {"min", 0}, {"mean", 0}, {"p50", 0}, {"p90", 0}, {"max", 0}};
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  auto at = [&](double q) { return values[static_cast<size_t>(std::floor(q * static_cast<double>(values.size() - 1)))]; };
  return {{"count", values.size()},
          {"min", values.front()},
          {"mean", sum / static_cast<double>(values.size())},
          {"p50", at(0.5)},
          {"p90", at(0.9)},
          {"max", values.back()}};
}

json GenStats::ToJson(double elapsed_s) const {
  const int scored = tasks_ - errors();
  json by_task = json::object();
  for (const auto& [key, b] : by_task_) {
    const int s = b.tasks - b.errors;
    by_task[key] = {{"tasks", b.tasks},         {"errors", b.errors},
                    {"rejected", b.rejected},   {"duplicates", b.duplicates},
                    {"kept", b.kept},           {"pass_rate", b.tasks ? double(b.kept + b.duplicates) / b.tasks : 0.0},
                    {"mean_reward", s ? b.reward_sum / s : 0.0}};
  }
  json histogram = json::object();
  for (int i = 0; i < 10; ++i) {
    histogram["[" + std::to_string(i / 10.0).substr(0, 3) + "," + std::to_string((i + 1) / 10.0).substr(0, 3) + ")"] =
        reward_histogram_[i];
  }
  histogram["1.0"] = reward_histogram_[10];
  return {{"tasks", tasks_},
          {"errors", errors()},
          {"rejected", count(TaskOutcome::kRejected)},
          {"passed", passed()},
          {"pass_rate", tasks_ ? double(passed()) / tasks_ : 0.0},
          {"duplicates", duplicates()},
          {"kept", kept()},
          {"examples", examples_},
          {"duplicate_examples", duplicate_examples_},
          {"mean_reward", scored ? reward_sum_ / scored : 0.0},
          {"reward_histogram", histogram},
          {"by_task", by_task},
          {"error_kinds", error_kinds_},
          {"error_samples", error_samples_},
          {"examples_by_role", roles_},
          {"tool_calls", tool_calls_},
          {"tool_error_observations", tool_error_observations_},
          {"messages_per_example", Describe(messages_)},
          {"chars_per_example", Describe(chars_)},
          {"tool_calls_per_example", Describe(calls_)},
          {"assistant_turns_per_example", Describe(assistant_turns_)},
          {"elapsed_s", elapsed_s},
          {"per_min", elapsed_s > 0 ? kept() * 60.0 / elapsed_s : 0.0}};
}

}  // namespace tide::rl
