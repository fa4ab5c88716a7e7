// Event replay: lets a resumed run emit its events again without storing any of them twice.
//
// A resumed swarm runs again from its start with its calls answered from the journal
// (call_journal.h), so it emits again every event it had emitted before the crash, in an
// order that may interleave its agents differently. Each event gets a key: its kind, agent
// and parent agent, a digest of its payload without the fields that measure time (top-level
// "ms", "*_ms", "wall_s": a replayed call takes another time) and its occurrence number
// among the events with the same kind, agents and digest. An agent emits its own events one
// after another, so equal keys mean the same logical event; events with identical content
// are interchangeable. The recorder stores an event only when its key is not among those
// already stored, so seq numbers stay 0, 1, 2, ... and no event appears twice.
//
// Thread safety: EventKeys is not thread-safe (the recorder holds its run's lock).
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/v1/orchestrator.pb.h"

namespace tide::orchestrator {

class Store;

// Kind, agents and payload digest of one event (without the occurrence number).
std::string EventIdentity(tide::v1::EventKind kind, const std::string& agent, const std::string& parent,
                          const nlohmann::json& payload);

class EventKeys {
 public:
  // The key of the next event with these fields: its identity plus "#<occurrence>".
  std::string Next(tide::v1::EventKind kind, const std::string& agent, const std::string& parent,
                   const nlohmann::json& payload);

 private:
  std::unordered_map<std::string, int> seen_;
};

// The keys of the events stored for `run_id`, computed in seq order as EventKeys would.
// DATA_LOSS naming the seq when an event or its payload does not parse.
Result<std::unordered_set<std::string>> StoredEventKeys(Store* store, const std::string& run_id);

}  // namespace tide::orchestrator
