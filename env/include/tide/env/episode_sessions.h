// EpisodeSessions: the live episodes of a Gym-style env server (the tide.v1.Env service),
// by id. Reset builds an episode of any registered world and keeps it; Step runs one tool
// call on it; Verify scores an answer; Close drops it.
//
// Guarantees: memory is bounded. At most max_episodes episodes live at once; when Reset
// would pass the cap, the least recently used episode (by Reset, Step or Verify) is dropped,
// and a later call naming it gets NOT_FOUND saying it may have expired. A malformed action
// (unknown tool, arguments that are not JSON or do not match the schema, a failing tool) is
// an error observation, never an error status: the caller sees what an agent would see.
//
// Thread safety: every method may be called from any thread. Steps on one episode may run
// concurrently (world tools are thread-safe); the table lock is never held while a tool runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/env/verdict.h"
#include "tide/env/world.h"
#include "tide/workers/message.h"

namespace tide::env {

// Applies difficulty knobs ({"items": 5, "columns": 3, "distractors": 2, "hops": 3,
// "failure_rate": 0.2}; TaskParams' fields) to `params`. INVALID_ARGUMENT naming the knob
// when it is unknown (listing the known ones) or of the wrong type; ranges are checked by
// World::Reset.
Status ApplyTaskKnobs(const nlohmann::json& knobs, TaskParams* params);

class EpisodeSessions {
 public:
  static constexpr size_t kDefaultMaxEpisodes = 1024;

  struct Started {
    std::string id;
    std::string world;
    std::string family;
    std::string prompt;
    nlohmann::json public_task;
    std::vector<workers::ToolSpec> tools;
  };
  struct StepResult {
    std::string observation;
    bool is_error = false;
    int step = 0;  // 1-based
  };
  struct Scored {
    Verdict verdict;
    int steps = 0;
    int error_steps = 0;
  };

  // max_episodes >= 1.
  explicit EpisodeSessions(size_t max_episodes = kDefaultMaxEpisodes);

  // NOT_FOUND for an unknown world; INVALID_ARGUMENT from the world for bad params.
  Result<Started> Reset(const std::string& world, const TaskParams& params);
  // NOT_FOUND for an unknown or expired episode; everything about the call itself is an
  // observation.
  Result<StepResult> Step(const std::string& episode_id, const workers::ToolCall& call);
  Result<Scored> Verify(const std::string& episode_id, const std::string& answer);
  // NOT_FOUND when there is no such episode.
  Status Close(const std::string& episode_id);

  size_t size() const;
  size_t max_episodes() const { return max_episodes_; }
  uint64_t expired() const;  // episodes dropped by the cap so far

 private:
  struct Live;
  struct Entry {
    std::shared_ptr<Live> live;
    std::list<std::string>::iterator lru;  // position in lru_ (front = most recent)
  };
  Result<std::shared_ptr<Live>> Find(const std::string& episode_id);

  const size_t max_episodes_;
  const std::string id_prefix_;  // random per table, so ids of a restarted server do not alias
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> episodes_;
  std::list<std::string> lru_;
  uint64_t next_id_ = 1;
  uint64_t expired_ = 0;
};

}  // namespace tide::env
