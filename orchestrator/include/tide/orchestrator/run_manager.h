// RunManager: starts swarm runs, records every event in the Store before anyone can see
// it, and lets any number of watchers replay a run from a sequence number and then follow
// it live. Runs execute on their own threads; their sub-agents share one Boost.Asio pool.
// Each run's event writes go through its own strand of a writer pool (in seq order, one
// at a time per run, runs in parallel), and each run's sub-agent completions through a
// strand of the sub-agent pool (swarm_tools.h).
//
// Guarantees: events of a run have seq 0, 1, 2, ... without gaps; an event is durable
// (RocksDB WAL) before it is delivered; the run record and its final event are written in
// one batch.
//
// Durable runs: every policy reply and tool result of a run is journaled under an
// idempotency key (call_journal.h). A run still RUNNING when the previous process died
// (kill -9 included) or stopped is resumed by Create: it runs again from its start with
// journaled calls answered from the journal instead of made again, its events already
// stored are not stored twice (event_replay.h), and a RUN_RESUMED event marks the resume,
// so its log stays gap-free and ends as an uninterrupted run's would. Only tool calls that
// were in flight at the crash run again (same idempotency key; the journal counts them).
// A run whose policy cannot be had any more (e.g. "engine" on a server without a model)
// is marked FAILED naming why. The deadline of a resumed run counts from its creation;
// its wall_s too, the time the server was down included.
// Destroying the manager suspends its running runs: they stop without recording an end,
// stay RUNNING, and the next manager on the store resumes them.
// Ownership: borrows the Store, which must outlive the manager. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "tide/core/status.h"
#include "tide/orchestrator/store.h"
#include "tide/orchestrator/swarm_spec.h"
#include "tide/v1/orchestrator.pb.h"
#include "tide/workers/policy.h"

namespace tide::orchestrator {

class RunManager {
 public:
  struct Options {
    int subagent_threads = 0;  // 0 = 64: sub-agents block on policies and tools, not on cores
    // When set, the policy every agent of every run decodes through, whatever the run's
    // SwarmSpec::policy says (thread-safe). Lets tests and embedders run swarms on a
    // scripted or custom policy.
    std::shared_ptr<workers::Policy> policy;
    // The policy of runs that ask for "engine" (the served model); null: such runs are
    // refused with FAILED_PRECONDITION. Runs that ask for "openai" get an OpenAiPolicy per
    // (base_url, model, api_key_env), shared by the runs that name the same, so its cap on
    // requests in flight holds across them; "oracle" runs get the env's oracle.
    std::shared_ptr<workers::Policy> engine_policy;
    // Whether runs may start processes on this host: MCP servers (SwarmSpec::mcp_servers)
    // and the run_command sandbox. Both run a command the run's requester chose, so a
    // server for remote clients turns this off unless its operator opts in
    // (`tide serve --allow-host-tools`); refused runs get PERMISSION_DENIED.
    bool allow_host_tools = true;
  };

  // Resumes the runs left RUNNING by an earlier process (see above).
  static Result<std::unique_ptr<RunManager>> Create(Store* store, Options options);
  static Result<std::unique_ptr<RunManager>> Create(Store* store) { return Create(store, Options{}); }
  ~RunManager();  // suspends running runs (they resume under the next manager) and waits

  // Validates the spec (INVALID_ARGUMENT / NOT_FOUND), its policy (FAILED_PRECONDITION
  // for "engine" without a served model) and its host tools (PERMISSION_DENIED, see
  // Options::allow_host_tools), stores the run, starts it, and returns its id at once.
  Result<std::string> Start(const SwarmSpec& spec);

  // Calls `on_event` for every event with seq >= from_seq, in order, first from the store
  // and then live, until the run ends (OK), `on_event` returns false or `stop` returns
  // true (CANCELLED). NOT_FOUND for an unknown run.
  using EventFn = std::function<bool(const tide::v1::SwarmEvent&)>;
  Status Watch(const std::string& run_id, uint64_t from_seq, const EventFn& on_event,
               const std::function<bool()>& stop = nullptr);

  // Asks a running run to stop; returns its state (a finished run is left as it is).
  Result<tide::v1::RunState> Cancel(const std::string& run_id, const std::string& reason);
  Result<tide::v1::Run> Get(const std::string& run_id);
  Result<std::vector<tide::v1::Run>> List(size_t limit);
  // Blocks until the run has ended and returns its record.
  Result<tide::v1::Run> Wait(const std::string& run_id);

  Store* store() const { return store_; }

 private:
  struct Active;
  class Recorder;

  RunManager(Store* store, Options options);
  void Execute(std::shared_ptr<Active> run);
  // Takes up a run an earlier process left RUNNING; an error when it cannot be resumed.
  Status Resume(tide::v1::Run record);
  Status MarkUnresumable(tide::v1::Run record, const Status& why);
  Result<std::shared_ptr<workers::Policy>> PolicyFor(const SwarmSpec& spec);
  std::shared_ptr<Active> FindActive(const std::string& run_id);

  Store* store_;
  std::unique_ptr<boost::asio::thread_pool> pool_;       // sub-agents
  std::unique_ptr<boost::asio::thread_pool> runs_pool_;  // coordinators, one per run
  std::unique_ptr<boost::asio::thread_pool> writers_;    // event writes, on one strand per run
  std::shared_ptr<workers::Policy> override_policy_;  // Options::policy
  std::shared_ptr<workers::Policy> engine_policy_;    // Options::engine_policy
  bool allow_host_tools_ = true;                      // Options::allow_host_tools
  std::shared_ptr<workers::Policy> oracle_;
  std::map<std::string, std::shared_ptr<workers::Policy>> openai_policies_;  // guarded by mu_
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Active>> active_;
  std::atomic<uint64_t> counter_{0};
};

}  // namespace tide::orchestrator
