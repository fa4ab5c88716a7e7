// Helpers for the oracle tests: run agents on OraclePolicy over an episode's tools, and a
// spawn_subagents tool that runs each sub-task as its own oracle agent in parallel.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tide/env/oracle.h"
#include "tide/env/world.h"
#include "tide/workers/agent.h"
#include "tide/workers/swarm_protocol.h"
#include "tide/workers/tool_registry.h"

namespace tide::env::testing {

inline workers::ToolRegistry Registry(const std::vector<std::shared_ptr<workers::Tool>>& tools) {
  workers::ToolRegistry r;
  for (const auto& t : tools) EXPECT_TRUE(r.Add(t).ok());
  return r;
}

inline workers::AgentOutcome RunAgent(workers::Policy* policy, const workers::ToolRegistry& tools,
                                      const std::string& task, const std::string& name = "solo",
                                      int max_steps = 20) {
  workers::Agent agent({name, max_steps, nullptr}, policy, &tools, nullptr);
  return agent.Run({workers::Message::User(task)});
}

// spawn_subagents over `tools`: each sub-task runs as an oracle agent on its own thread;
// `drop` names sub-agents whose report comes back as failed with no result.
class SpawnTool : public workers::Tool {
 public:
  SpawnTool(int max_subagents, std::vector<std::shared_ptr<workers::Tool>> tools, std::vector<std::string> drop = {})
      : tools_(std::move(tools)), drop_(std::move(drop)) {
    for (const auto& t : tools_) names_.push_back(t->spec().name);
    spec_ = workers::SpawnSubagentsSpec(max_subagents, names_);
  }
  const workers::ToolSpec& spec() const override { return spec_; }

  Result<std::string> Call(const nlohmann::json& arguments) override {
    TIDE_ASSIGN_OR_RETURN(std::vector<workers::SubagentTask> tasks, workers::ParseSpawnArguments(arguments, names_));
    std::vector<workers::SubagentReport> reports(tasks.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < tasks.size(); ++i) {
      threads.emplace_back([&, i] {
        const workers::SubagentTask& t = tasks[i];
        std::vector<std::shared_ptr<workers::Tool>> subset;
        for (const auto& tool : tools_) {
          if (t.tools.empty() || std::find(t.tools.begin(), t.tools.end(), tool->spec().name) != t.tools.end()) {
            subset.push_back(tool);
          }
        }
        workers::ToolRegistry registry = Registry(subset);
        workers::AgentOutcome out = RunAgent(&policy_, registry, t.instructions, t.name);
        reports[i] = {t.name, workers::AgentEndName(out.end), out.result, out.steps, out.tool_calls};
        if (std::find(drop_.begin(), drop_.end(), t.name) != drop_.end()) {
          reports[i].status = "failed";
          reports[i].result = "";
        }
      });
    }
    for (std::thread& th : threads) th.join();
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(tasks);
    return workers::FormatSubagentReports(reports);
  }

  std::vector<std::vector<workers::SubagentTask>> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  OraclePolicy policy_;
  std::vector<std::shared_ptr<workers::Tool>> tools_;
  std::vector<std::string> drop_;
  std::vector<std::string> names_;
  workers::ToolSpec spec_;
  mutable std::mutex mu_;
  std::vector<std::vector<workers::SubagentTask>> calls_;
};

}  // namespace tide::env::testing
