// Helpers shared by the orchestrator (and rl) tests: an in-memory recording EventSink that
// can be told to fail, policies that wrap the oracle (counting, sleeping), a scripted
// policy, and a temporary directory.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/env/oracle.h"
#include "tide/orchestrator/swarm.h"
#include "tide/workers/policy.h"

namespace tide::orchestrator::testing {

// The research task every orchestrator test runs, seed 7.
inline SwarmSpec ResearchSpec(int items = 20, int max_subagents = 8) {
  SwarmSpec spec;
  spec.world = "research";
  spec.seed = 7;
  spec.items = items;
  spec.max_subagents = max_subagents;
  return spec;
}

struct RecordedEvent {
  tide::v1::EventKind kind;
  std::string agent;
  std::string parent;
  nlohmann::json payload;
};

// Records every event in memory. With fail_at = N (1-based), the Nth Emit fails (and, with
// fail_forever, every later one too); failed emits are not recorded.
class RecordingSink : public EventSink {
 public:
  explicit RecordingSink(int fail_at = 0, bool fail_forever = false)
      : fail_at_(fail_at), fail_forever_(fail_forever) {}

  Status Emit(tide::v1::EventKind kind, const std::string& agent, const std::string& parent,
              const nlohmann::json& payload) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++emits_;
    if (fail_at_ > 0 && (emits_ == fail_at_ || (fail_forever_ && emits_ > fail_at_))) {
      failed_ = true;
      return Unavailable("disk full (test sink, emit " + std::to_string(emits_) + ")");
    }
    events_.push_back({kind, agent, parent, payload});
    return Status::Ok();
  }

  std::vector<RecordedEvent> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  int emits() const {
    std::lock_guard<std::mutex> lock(mu_);
    return emits_;
  }
  bool failed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failed_;
  }

 private:
  mutable std::mutex mu_;
  int fail_at_;
  bool fail_forever_;
  int emits_ = 0;
  bool failed_ = false;
  std::vector<RecordedEvent> events_;
};

// The oracle, optionally slowed down, counting its calls (and the calls that began after
// `after` turned true).
class WrappedOracle : public workers::Policy {
 public:
  explicit WrappedOracle(std::chrono::milliseconds delay = std::chrono::milliseconds(0),
                         std::function<bool()> after = nullptr)
      : delay_(delay), after_(std::move(after)) {}

  std::string name() const override { return "wrapped-oracle"; }
  Result<workers::PolicyResponse> Generate(const workers::PolicyRequest& request) override {
    ++calls_;
    if (after_ && after_()) ++calls_after_;
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    return oracle_.Generate(request);
  }
  int calls() const { return calls_.load(); }
  int calls_after() const { return calls_after_.load(); }

 private:
  env::OraclePolicy oracle_;
  std::chrono::milliseconds delay_;
  std::function<bool()> after_;
  std::atomic<int> calls_{0};
  std::atomic<int> calls_after_{0};
};

// A policy driven by a function (thread-safe if the function is).
class ScriptedPolicy : public workers::Policy {
 public:
  using Fn = std::function<Result<workers::PolicyResponse>(const workers::PolicyRequest&)>;
  explicit ScriptedPolicy(Fn fn) : fn_(std::move(fn)) {}
  std::string name() const override { return "scripted"; }
  Result<workers::PolicyResponse> Generate(const workers::PolicyRequest& request) override { return fn_(request); }

 private:
  Fn fn_;
};

inline workers::PolicyResponse Reply(workers::Message m) {
  workers::PolicyResponse r;
  r.message = std::move(m);
  return r;
}

// A fresh directory under the test temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "tide_orch_XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace tide::orchestrator::testing
