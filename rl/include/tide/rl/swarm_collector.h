// Asynchronous rollout collection for swarm RL (AReaL / Kimi k1.5 style): a background
// thread runs group after group of swarms on the engine while the trainer trains, each
// group stamped with the policy version it started under. The trainer takes groups in slot
// order and drops those staler than its bound (SwarmRlOptions::max_staleness).
//
// Collection does not stop for a weight update: InferenceEngine::UpdateWeights runs between
// two scheduler steps, so an episode in flight pauses there and continues under the new
// weights in the next iteration (a partial rollout). Every turn keeps the log-probs it was
// sampled with, so the clipped importance ratio of the loss corrects for the change;
// SwarmEpisode records the first and last version its turns finished under.
//
// At most `max_buffered` finished groups wait; the collector blocks beyond that, so it
// never runs further ahead than the staleness bound lets the trainer use.
// Thread safety: Next() from one consumer thread; SetVersion() from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "tide/core/status.h"
#include "tide/rl/swarm_rl.h"

namespace tide::rl {

struct CollectedGroup {
  uint64_t slot = 0;
  uint64_t task_seed = 0;
  int64_t version_started = 0;  // policy version when its swarms started
  Result<std::vector<SwarmEpisode>> episodes = std::vector<SwarmEpisode>{};
};

class AsyncGroupCollector {
 public:
  struct Seeds {
    uint64_t task_seed = 0;
    uint64_t sample_seed = 0;
  };
  // slot -> the task and sampling seeds of the group collected for it.
  using SeedsFn = std::function<Seeds(uint64_t slot)>;

  // Starts collecting at `first_slot` under policy `version`. options.policy_version and
  // options.cancelled are pointed at this collector's own.
  AsyncGroupCollector(engine::InferenceEngine* engine, SwarmRolloutOptions options, SeedsFn seeds, uint64_t first_slot,
                      int64_t version, size_t max_buffered);
  ~AsyncGroupCollector();  // cancels the group in flight and joins

  AsyncGroupCollector(const AsyncGroupCollector&) = delete;
  AsyncGroupCollector& operator=(const AsyncGroupCollector&) = delete;

  // The next group in slot order; blocks until it is collected.
  CollectedGroup Next();
  // The policy version new groups and turns are stamped with (updates applied so far).
  void SetVersion(int64_t version) { version_.store(version); }
  int64_t version() const { return version_.load(); }

 private:
  void Loop();

  engine::InferenceEngine* engine_;
  SwarmRolloutOptions options_;
  SeedsFn seeds_;
  uint64_t next_slot_;
  size_t max_buffered_;
  std::atomic<int64_t> version_;
  std::atomic<bool> cancel_{false};
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<CollectedGroup> ready_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tide::rl
