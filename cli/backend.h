// Backend: where the CLI's swarm and runs commands go. LocalBackend runs swarms in this
// process over a RocksDB database; RemoteBackend talks to `tide serve` over gRPC. Both
// deliver the same SwarmEvents and Run records, so every command prints the same way.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tide/core/status.h"
#include "tide/orchestrator/swarm_spec.h"
#include "tide/v1/orchestrator.pb.h"
#include "tide/workers/policy.h"

namespace tide::cli {

class Backend {
 public:
  using EventFn = std::function<void(const tide::v1::SwarmEvent&)>;
  virtual ~Backend() = default;
  // Runs a swarm to its end, calling on_event for each event; returns its run record.
  virtual Result<tide::v1::Run> RunSwarm(const orchestrator::SwarmSpec& spec, const EventFn& on_event) = 0;
  virtual Result<tide::v1::Run> GetRun(const std::string& run_id) = 0;
  virtual Result<std::vector<tide::v1::Run>> ListRuns(int limit) = 0;
  // Replays the run's events from `from_seq` (and follows it while it runs).
  virtual Status Events(const std::string& run_id, uint64_t from_seq, const EventFn& on_event) = 0;
};

// The default database: $TIDE_DB, else $HOME/.tide/db.
std::string DefaultDbPath();

// engine_policy: what runs with policy "engine" decode through (null: such runs are refused).
Result<std::unique_ptr<Backend>> MakeLocalBackend(const std::string& db_path,
                                                  std::shared_ptr<workers::Policy> engine_policy = nullptr);
Result<std::unique_ptr<Backend>> MakeRemoteBackend(const std::string& address);

}  // namespace tide::cli
