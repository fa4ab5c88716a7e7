// CallJournal: what makes a swarm run resumable after its server dies (kill -9 included).
//
// A swarm is deterministic given its spec and the outputs of its policy calls and tool
// calls (the env, the coordinator logic and the oracle are pure functions of those). The
// journal records each of those outputs under a deterministic idempotency key, so that a
// restarted server can run the swarm again from the beginning and get the same answers
// back instead of asking again:
//   policy call  "p/<agent>/<step>/<context hash>"         -> the reply (or its error)
//   tool call    "t/<agent>/<step>/<context hash>/<index>" -> the result (or its error)
//   tool intent  "i/<agent>/<step>/<context hash>/<index>" -> {"attempts": n}, written
//                 before the tool runs
// <step> is the number of assistant messages in the agent's context, <context hash> a
// 64-bit FNV-1a of the context and tool specs the policy saw (so two agent instances that
// share a name but not a task never share keys), <index> the position of the call in that
// step's assistant message. The same run, replayed with the same journaled answers, asks
// the same questions in the same order per agent, so it computes the same keys.
//
// Guarantees:
//  - A call whose result is journaled is never executed again: a replay returns the
//    journaled result (value or error) unchanged.
//  - A tool call that started but whose result was not journaled when the process died is
//    executed again on resume, with the same idempotency key (CurrentIdempotencyKey(), so a
//    tool with external effects can dedupe) and attempts + 1 in its intent entry, so a
//    re-execution is always visible in the journal (stats().tool_reexecuted counts them).
//  - Nothing is journaled once the run's cancel flag is set (a cancelled, expired or
//    suspended run's cut-short calls are not results); such calls run again on resume.
//  - Durability: journal writes are not fsynced on their own. Every event that reveals a
//    call's result is written after the journal entry and fsynced (Store), and RocksDB's
//    WAL is sequential, so whenever the event survives a crash so does the entry; a lost
//    entry only means a call runs again. A killed process loses no written entry (the
//    WAL lives in the OS page cache until the machine itself fails).
//  - Failure: a journal read or write that fails cancels the run (the flag) and is kept as
//    failure(); the call that hit it returns that error. Exceptions thrown by a tool are
//    journaled as the error the ToolRegistry would have made of them.
// Thread safety: CallJournal and JournalScope are thread-safe; one JournalScope belongs to
// one agent instance.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/workers/message.h"
#include "tide/workers/policy.h"
#include "tide/workers/tool.h"

namespace tide::orchestrator {

class Store;

// Where a journal keeps its entries; keys are relative to one run.
class JournalBackend {
 public:
  virtual ~JournalBackend() = default;
  virtual Result<std::string> Get(const std::string& key) = 0;  // NOT_FOUND when absent
  virtual Status Put(const std::string& key, std::string_view value) = 0;
  // Every (key, value) whose key starts with `prefix`, in key order.
  virtual Result<std::vector<std::pair<std::string, std::string>>> Scan(const std::string& prefix) = 0;
};

// The journal of run `run_id` in the Store's journal table (keys "<run_id>\0<key>"),
// written without fsync (see the durability note above). Borrows the store.
std::unique_ptr<JournalBackend> MakeStoreJournalBackend(Store* store, const std::string& run_id);

struct JournalStats {
  int policy_executed = 0;  // policy calls made (and journaled) by this process
  int policy_replayed = 0;  // policy calls answered from the journal
  int tool_executed = 0;    // tool calls run (and journaled) by this process
  int tool_replayed = 0;    // tool calls answered from the journal
  int tool_reexecuted = 0;  // of tool_executed: calls that had started before a crash
};

// What a resumed run finds in its journal before it starts again.
struct JournalSummary {
  int policy_calls = 0;       // journaled policy replies
  int tool_calls = 0;         // journaled tool results
  int unfinished_tools = 0;   // tool calls started without a journaled result
};
Result<JournalSummary> SummarizeJournal(JournalBackend* backend);

class CallJournal {
 public:
  // `cancelled` is the run's flag (raised on a journal failure; while it is set nothing is
  // journaled). `replay`: look calls up before making them (a resumed run); a fresh run
  // has nothing to find and skips the reads.
  CallJournal(std::string run_id, std::unique_ptr<JournalBackend> backend, std::atomic<bool>* cancelled,
              bool replay);
  ~CallJournal();
  CallJournal(const CallJournal&) = delete;
  CallJournal& operator=(const CallJournal&) = delete;

  const std::string& run_id() const { return run_id_; }
  Status failure() const;  // OK unless a journal read or write failed
  JournalStats stats() const;

 private:
  friend class JournalScope;
  class JournaledPolicy;
  class JournaledTool;

  // Looks `key` up when replaying: the entry, or nullopt-like NOT_FOUND passthrough.
  Result<std::string> Lookup(const std::string& key);
  Status Record(const std::string& key, const nlohmann::json& value);
  Status Fail(Status s);
  bool stopping() const { return cancelled_ != nullptr && cancelled_->load(); }

  std::string run_id_;
  std::unique_ptr<JournalBackend> backend_;
  std::atomic<bool>* cancelled_;
  bool replay_;
  mutable std::mutex mu_;
  Status failure_;      // guarded by mu_
  JournalStats stats_;  // guarded by mu_
};

// The journal as one agent instance sees it: a journaled view of the shared policy and of
// each of its tools. With a null journal both are passed through untouched, so a swarm
// without durability pays nothing. Must outlive the agent it serves.
class JournalScope {
 public:
  JournalScope(CallJournal* journal, std::string agent, workers::Policy* policy);
  ~JournalScope();
  JournalScope(const JournalScope&) = delete;
  JournalScope& operator=(const JournalScope&) = delete;

  workers::Policy* policy() { return policy_ != nullptr ? policy_.get() : inner_; }
  std::shared_ptr<workers::Tool> Wrap(std::shared_ptr<workers::Tool> tool);

 private:
  friend class CallJournal;
  // Remembers the calls of the step just answered, so a tool call finds its index.
  void BeginStep(std::string step_key, std::vector<workers::ToolCall> calls);
  std::string ClaimCall(const std::string& name, const nlohmann::json& arguments);

  CallJournal* journal_;
  std::string agent_;
  workers::Policy* inner_;
  std::unique_ptr<workers::Policy> policy_;
  std::mutex mu_;
  std::string step_key_;                      // guarded by mu_
  std::vector<workers::ToolCall> calls_;      // guarded by mu_
  std::vector<bool> claimed_;                 // guarded by mu_
  int unmatched_ = 0;                         // guarded by mu_
};

// The idempotency key ("<run_id>/<agent>/<step>/<hash>/<index>") of the journaled tool call
// running on this thread, "" outside one. The same call gets the same key when a resumed
// run executes it again.
const std::string& CurrentIdempotencyKey();

// 64-bit FNV-1a, as 16 hex digits: stable across processes and builds.
std::string StableHash(std::string_view bytes);

}  // namespace tide::orchestrator
