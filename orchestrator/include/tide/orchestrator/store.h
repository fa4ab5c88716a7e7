// Store: the orchestrator's durable state, one RocksDB database per server.
//
// Column families: "runs" (run records plus a creation-order index), "events" (each run's
// append-only event log), "contexts", "trajectories", "datasets", "journal" (plain
// key-value; "journal" holds the call journals of runs, call_journal.h), and RocksDB's
// "default" (unused). Values are opaque bytes; callers store serialized protos or
// JSON.
//
// Guarantees:
//  - Ownership: a Store owns its RocksDB instance and column family handles and closes them
//    in its destructor. Only one Store (in any process) may have a path open at a time;
//    RocksDB's LOCK file enforces this and Open reports it naming the path.
//  - Durability: every write goes through the WAL; with Options::sync_writes (the default)
//    the WAL is fsynced before a write returns, so a write reported OK survives a crash.
//    Writes that touch several keys use one WriteBatch and are atomic: a failed operation
//    leaves the database as it was. A Put with Sync::kNo skips the fsync: it survives the
//    process being killed (the WAL is written before Put returns) and becomes durable
//    against a machine crash with the next synced write, as the WAL is sequential.
//  - Failure: every method returns Status or Result<T>; no exception crosses this boundary.
//    Codes: INVALID_ARGUMENT (bad id/key), NOT_FOUND (names the id/key), ALREADY_EXISTS and
//    FAILED_PRECONDITION (event log rules), UNAVAILABLE (path locked), DATA_LOSS (corruption),
//    INTERNAL (other I/O errors).
//  - Thread safety: all methods may be called concurrently from any thread. Appends to one
//    run's event log are serialized internally, so the log never has gaps or overwrites.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tide/core/status.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace tide::orchestrator {

// Store::Options. Declared outside Store because GCC rejects `Options options = {}` as a
// default argument while the enclosing class (and so the member initializers) is incomplete.
struct StoreOptions {
  bool create_if_missing = true;
  bool sync_writes = true;  // fsync the WAL on every write
};

class Store {
 public:
  using Options = StoreOptions;

  // Opens (or creates) the database at `path`. Fails with UNAVAILABLE naming the path when
  // another process or Store holds it open, DATA_LOSS when it is corrupt, NOT_FOUND when it
  // is missing and !create_if_missing.
  static Result<std::unique_ptr<Store>> Open(const std::string& path, Options options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }

  // --- runs: key = run id, value = opaque bytes (a serialized tide.v1.Run). ---
  // Run ids are non-empty and contain no '\0'; anything else is INVALID_ARGUMENT.
  // Creates the run (indexed by creation order) or overwrites the record of an existing one.
  Status PutRun(const std::string& run_id, std::string_view value);
  Result<std::string> GetRun(const std::string& run_id);  // NOT_FOUND names the id
  // (run_id, value) pairs, newest first by creation order; `limit` 0 means all.
  Result<std::vector<std::pair<std::string, std::string>>> ListRuns(size_t limit);

  // --- events: append-only per run, read back in seq order. ---
  // ALREADY_EXISTS if `seq` is already written (never overwrites), FAILED_PRECONDITION if
  // seq != NextEventSeq(run_id) (no gaps).
  Status AppendEvent(const std::string& run_id, uint64_t seq, std::string_view value);
  // (seq, value) pairs with seq >= from_seq in order; `limit` 0 means all.
  Result<std::vector<std::pair<uint64_t, std::string>>> ReadEvents(const std::string& run_id,
                                                                   uint64_t from_seq,
                                                                   size_t limit = 0);
  Result<uint64_t> NextEventSeq(const std::string& run_id);  // 0 for a run with no events

  // Appends event `seq` (same rules as AppendEvent) and puts the run record (same as PutRun)
  // in one atomic write: both happen or neither does.
  Status AppendEventAndPutRun(const std::string& run_id, uint64_t seq, std::string_view event,
                              std::string_view run_value);

  // --- contexts / trajectories / datasets: plain key-value. Keys must be non-empty. ---
  enum class Table { kContexts, kTrajectories, kDatasets, kJournal };
  enum class Sync { kDefault, kNo };  // kDefault: as Options::sync_writes says
  Status Put(Table table, const std::string& key, std::string_view value, Sync sync = Sync::kDefault);
  Result<std::string> Get(Table table, const std::string& key);  // NOT_FOUND names the key
  // Every (key, value) whose key starts with `prefix` ("" = all), in key order.
  Result<std::vector<std::pair<std::string, std::string>>> Scan(Table table,
                                                                const std::string& prefix);

 private:
  Store(std::string path, bool sync_writes);
  rocksdb::ColumnFamilyHandle* TableHandle(Table table) const;
  std::mutex& EventMutex(const std::string& run_id);
  Status Write(rocksdb::WriteBatch* batch, std::string_view what, bool sync);
  Status Write(rocksdb::WriteBatch* batch, std::string_view what) { return Write(batch, what, sync_writes_); }
  Result<uint64_t> ReadNextEventSeq(const std::string& run_id);
  // Callers hold EventMutex(run_id): ALREADY_EXISTS / FAILED_PRECONDITION unless seq is next.
  Status CheckAppend(const std::string& run_id, uint64_t seq);
  // Callers hold runs_mu_. Adds the run record (and, for a new run, its index entry) to
  // `batch`; *created says whether the run is new. Bump next_run_ctr_ once the write lands.
  Status AddRunLocked(const std::string& run_id, std::string_view value,
                      rocksdb::WriteBatch* batch, bool* created);

  std::string path_;
  bool sync_writes_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // every open CF, destroyed in ~Store
  rocksdb::ColumnFamilyHandle* runs_ = nullptr;
  rocksdb::ColumnFamilyHandle* events_ = nullptr;
  rocksdb::ColumnFamilyHandle* contexts_ = nullptr;
  rocksdb::ColumnFamilyHandle* trajectories_ = nullptr;
  rocksdb::ColumnFamilyHandle* datasets_ = nullptr;
  rocksdb::ColumnFamilyHandle* journal_ = nullptr;

  std::mutex runs_mu_;         // serializes run creation (existence check + index write)
  uint64_t next_run_ctr_ = 0;  // guarded by runs_mu_; next creation-order counter
  std::array<std::mutex, 32> event_mu_;  // striped by run id; lock before runs_mu_
};

}  // namespace tide::orchestrator
