// Fault injection for swarm tests: a decorator for world tools (SwarmContext's
// wrap_world_tool) that makes a seeded share of calls fail (a Status), throw, or hang until
// Release. Which calls is decided by a hash of (seed, tool, arguments, how many times these
// arguments were seen), not by call order, so a run with concurrent agents gets the same
// faults every time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "tide/workers/tool.h"

namespace tide::orchestrator::testing {

class FaultInjector {
 public:
  // Rates are fractions of calls in [0, 1]; their sum at most 1.
  FaultInjector(uint64_t seed, double fail_rate, double throw_rate, double hang_rate)
      : seed_(seed), fail_(fail_rate), throw_(throw_rate), hang_(hang_rate) {}
  // Releases hung calls and waits until none is inside the injector any more (abandoned
  // threads may still be finishing the real tool, which they own).
  ~FaultInjector() {
    Release();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return hanging_ == 0; });
  }

  std::shared_ptr<workers::Tool> Wrap(std::shared_ptr<workers::Tool> tool) {
    return std::make_shared<FaultyTool>(this, std::move(tool));
  }

  // Lets every hung call (and every later one) return.
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  // Blocks until `n` calls are hanging.
  void WaitHanging(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return hanging_ >= n; });
  }

  int calls() const { return calls_.load(); }
  int failed() const { return failed_.load(); }
  int thrown() const { return thrown_.load(); }
  int hung() const { return hung_.load(); }

 private:
  class FaultyTool : public workers::Tool {
   public:
    FaultyTool(FaultInjector* owner, std::shared_ptr<workers::Tool> inner) : owner_(owner), inner_(std::move(inner)) {}
    const workers::ToolSpec& spec() const override { return inner_->spec(); }
    Result<std::string> Call(const nlohmann::json& arguments) override {
      return owner_->Decide(spec().name, arguments, [&] { return inner_->Call(arguments); });
    }

   private:
    FaultInjector* owner_;
    std::shared_ptr<workers::Tool> inner_;
  };

  static uint64_t Fnv(const std::string& s, uint64_t h) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
  }

  template <typename Fn>
  Result<std::string> Decide(const std::string& tool, const nlohmann::json& arguments, Fn&& run) {
    ++calls_;
    const std::string key = tool + "\n" + arguments.dump();
    int nth = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      nth = ++seen_[key];
    }
    const uint64_t h = Fnv(key + "\n" + std::to_string(nth), 1469598103934665603ull ^ (seed_ * 0x9e3779b97f4a7c15ull));
    const double u = static_cast<double>(h % 1000003) / 1000003.0;
    if (u < fail_) {
      ++failed_;
      return Unavailable("injected failure of " + tool);
    }
    if (u < fail_ + throw_) {
      ++thrown_;
      throw std::runtime_error("injected exception in " + tool);
    }
    if (u < fail_ + throw_ + hang_) {
      ++hung_;
      std::unique_lock<std::mutex> lock(mu_);
      ++hanging_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return released_; });
      --hanging_;
      cv_.notify_all();
    }
    return run();
  }

  const uint64_t seed_;
  const double fail_, throw_, hang_;
  std::atomic<int> calls_{0}, failed_{0}, thrown_{0}, hung_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, int> seen_;
  int hanging_ = 0;
  bool released_ = false;
};

}  // namespace tide::orchestrator::testing
