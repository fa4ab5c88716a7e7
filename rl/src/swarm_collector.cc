#include "tide/rl/swarm_collector.h"

#include <utility>

namespace tide::rl {

AsyncGroupCollector::AsyncGroupCollector(engine::InferenceEngine* engine, SwarmRolloutOptions options, SeedsFn seeds,
                                         uint64_t first_slot, int64_t version, size_t max_buffered)
    : engine_(engine),
      options_(std::move(options)),
      seeds_(std::move(seeds)),
      next_slot_(first_slot),
      max_buffered_(max_buffered < 1 ? 1 : max_buffered),
      version_(version) {
  options_.policy_version = &version_;
  options_.cancelled = &cancel_;
  thread_ = std::thread([this] { Loop(); });
}

AsyncGroupCollector::~AsyncGroupCollector() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cancel_.store(true);
  changed_.notify_all();
  thread_.join();
}

void AsyncGroupCollector::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait(lock, [&] { return stop_ || ready_.size() < max_buffered_; });
      if (stop_) return;
    }
    CollectedGroup group;
    group.slot = next_slot_++;
    const Seeds s = seeds_(group.slot);
    group.task_seed = s.task_seed;
    group.version_started = version_.load();
    group.episodes = CollectSwarmGroup(engine_, options_, s.task_seed, s.sample_seed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_.push_back(std::move(group));
    }
    changed_.notify_all();
  }
}

CollectedGroup AsyncGroupCollector::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return !ready_.empty(); });
  CollectedGroup group = std::move(ready_.front());
  ready_.pop_front();
  lock.unlock();
  changed_.notify_all();
  return group;
}

}  // namespace tide::rl
