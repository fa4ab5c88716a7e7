// GenStats: what `tide gen` reports in stats.json. It counts every task by outcome
// (error, rejected by the reward threshold, duplicate, kept), per world/family, and
// describes the examples written: tool-call histogram, error observations, roles, and the
// distribution (min, mean, p50, p90, max) of messages, characters and tool calls per
// example. Not thread-safe: the generator feeds it under its own lock.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tide::rl {

enum class TaskOutcome { kError, kRejected, kDuplicate, kKept };

class GenStats {
 public:
  // `reward` is ignored for kError (the run produced none).
  void AddTask(const std::string& world, const std::string& family, TaskOutcome outcome, double reward);
  void AddError(const std::string& message);  // the first few are kept as samples
  // One example written to the JSONL (OpenAI shape with role_in_swarm).
  void AddExample(const nlohmann::json& example);
  void AddDuplicateExample() { ++duplicate_examples_; }

  int tasks() const { return tasks_; }
  int errors() const { return count(TaskOutcome::kError); }
  int passed() const { return count(TaskOutcome::kKept) + count(TaskOutcome::kDuplicate); }
  int kept() const { return count(TaskOutcome::kKept); }
  int duplicates() const { return count(TaskOutcome::kDuplicate); }
  int examples() const { return examples_; }
  int duplicate_examples() const { return duplicate_examples_; }

  // The stats.json object; elapsed_s gives per_min (kept trajectories a minute).
  nlohmann::json ToJson(double elapsed_s) const;

  // {"min","mean","p50","p90","max","count"} of the values (all zero when empty).
  static nlohmann::json Describe(std::vector<double> values);

 private:
  struct Bucket {
    int tasks = 0, errors = 0, rejected = 0, duplicates = 0, kept = 0;
    double reward_sum = 0;
  };
  int count(TaskOutcome o) const { return outcomes_[static_cast<int>(o)]; }

  int tasks_ = 0;
  int outcomes_[4] = {0, 0, 0, 0};
  double reward_sum_ = 0;  // over scored runs
  std::vector<int> reward_histogram_ = std::vector<int>(11, 0);  // [0,.1), ..., [.9,1), 1
  std::map<std::string, Bucket> by_task_;  // "world/family"
  std::vector<std::string> error_samples_;
  std::map<std::string, int> error_kinds_;  // the status code prefix of each error
  int examples_ = 0, duplicate_examples_ = 0;
  std::map<std::string, int> roles_;
  std::map<std::string, int> tool_calls_;
  int tool_error_observations_ = 0;
  std::vector<double> messages_, chars_, calls_, assistant_turns_;
};

}  // namespace tide::rl
