#include "tide/orchestrator/store.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <functional>

#include "tide/core/log.h"

namespace tide::orchestrator {
namespace {

// "runs" CF layout: "run/<run_id>" -> record, "idx/<16 hex digits>/<run_id>" -> "" where the
// hex number is the run's creation counter, so the index sorts in creation order.
constexpr std::string_view kRunPrefix = "run/";
constexpr std::string_view kIdxPrefix = "idx/";
constexpr std::string_view kIdxEnd = "idx0";  // '0' == '/' + 1: upper bound of "idx/..."
constexpr size_t kCtrDigits = 16;

constexpr const char* kCfNames[] = {"runs", "events", "contexts", "trajectories", "datasets", "journal"};

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string m = std::string(what) + ": " + s.ToString();
  if (s.IsNotFound()) return NotFound(std::move(m));
  if (s.IsCorruption()) return DataLoss(std::move(m));
  if (s.IsInvalidArgument()) return InvalidArgument(std::move(m));
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return Unavailable(std::move(m));
  return Internal(std::move(m));
}

Status CheckRunId(const std::string& run_id) {
  if (run_id.empty()) return InvalidArgument("run id is empty");
  size_t nul = run_id.find('\0');
  if (nul != std::string::npos) {
    return InvalidArgument("run id contains a NUL byte at offset " + std::to_string(nul));
  }
  return Status::Ok();
}

// Quoted, with control bytes (journal keys hold a NUL) written as \xNN.
std::string Quote(const std::string& s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string RunKey(const std::string& run_id) { return std::string(kRunPrefix) + run_id; }

std::string IdxKey(uint64_t ctr, const std::string& run_id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key(kIdxPrefix);
  for (int shift = 60; shift >= 0; shift -= 4) key += kHex[(ctr >> shift) & 0xf];
  return key + "/" + run_id;
}

bool ParseIdxKey(std::string_view key, uint64_t* ctr, std::string* run_id) {
  const size_t id_at = kIdxPrefix.size() + kCtrDigits + 1;
  if (key.size() <= id_at || key.substr(0, kIdxPrefix.size()) != kIdxPrefix ||
      key[id_at - 1] != '/') {
    return false;
  }
  uint64_t v = 0;
  for (char c : key.substr(kIdxPrefix.size(), kCtrDigits)) {
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *ctr = v;
  run_id->assign(key.substr(id_at));
  return true;
}

// Event keys: run_id + '\0' + 8-byte big-endian seq. Ids hold no NUL, so "run_id\0" is a
// prefix of exactly that run's events and "run_id\x01" bounds them from above.
std::string EventPrefix(const std::string& run_id) { return run_id + std::string(1, '\0'); }
std::string EventEnd(const std::string& run_id) { return run_id + std::string(1, '\x01'); }

std::string EventKey(const std::string& run_id, uint64_t seq) {
  std::string key = EventPrefix(run_id);
  for (int shift = 56; shift >= 0; shift -= 8) key += static_cast<char>((seq >> shift) & 0xff);
  return key;
}

uint64_t DecodeSeq(std::string_view eight) {
  uint64_t v = 0;
  for (char c : eight) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

// Smallest string greater than every string starting with `prefix`; "" when none exists.
std::string PrefixSuccessor(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, Options options) {
  rocksdb::DBOptions db_opts;
  db_opts.create_if_missing = options.create_if_missing;
  db_opts.create_missing_column_families = true;
  db_opts.keep_log_file_num = 4;

  std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName};
  names.insert(names.end(), std::begin(kCfNames), std::end(kCfNames));
  // Column families written by a newer version must be opened too, or RocksDB refuses.
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_opts, path, &existing).ok()) {
    for (const auto& name : existing) {
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (const auto& name : names) descs.emplace_back(name, rocksdb::ColumnFamilyOptions());

  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s = rocksdb::DB::Open(db_opts, path, descs, &handles, &raw);
  if (!s.ok()) {
    const std::string detail = s.ToString();
    if (s.IsIOError() && (detail.find("lock") != std::string::npos ||
                          detail.find("LOCK") != std::string::npos)) {
      return Unavailable("store " + path +
                         " is locked: another process or Store has it open (" + detail + ")");
    }
    if (s.IsCorruption()) return DataLoss("store " + path + " is corrupt: " + detail);
    if (s.IsInvalidArgument() && detail.find("does not exist") != std::string::npos) {
      return NotFound("store " + path + " does not exist and create_if_missing is false: " +
                      detail);
    }
    return FromRocks(s, "opening store " + path);
  }

  std::unique_ptr<Store> store(new Store(path, options.sync_writes));
  store->db_.reset(raw);
  store->handles_ = handles;  // the destructor now owns cleanup, even if the rest fails
  store->runs_ = handles[1];
  store->events_ = handles[2];
  store->contexts_ = handles[3];
  store->trajectories_ = handles[4];
  store->datasets_ = handles[5];
  store->journal_ = handles[6];

  // Recover the creation counter from the newest index entry.
  rocksdb::ReadOptions ro;
  rocksdb::Slice lo(kIdxPrefix.data(), kIdxPrefix.size()), hi(kIdxEnd.data(), kIdxEnd.size());
  ro.iterate_lower_bound = &lo;
  ro.iterate_upper_bound = &hi;
  std::unique_ptr<rocksdb::Iterator> it(store->db_->NewIterator(ro, store->runs_));
  it->SeekToLast();
  if (it->Valid()) {
    uint64_t ctr = 0;
    std::string id;
    if (!ParseIdxKey(View(it->key()), &ctr, &id)) {
      return DataLoss("store " + path + ": malformed run index key");
    }
    store->next_run_ctr_ = ctr + 1;
  }
  TIDE_RETURN_IF_ERROR(FromRocks(it->status(), "store " + path + ": reading run index"));
  it.reset();
  return store;
}

Store::Store(std::string path, bool sync_writes)
    : path_(std::move(path)), sync_writes_(sync_writes) {}

Store::~Store() {
  if (!db_) return;
  for (auto* h : handles_) {
    rocksdb::Status s = db_->DestroyColumnFamilyHandle(h);
    if (!s.ok()) {
      TIDE_LOG(Warn) << "store " << path_ << ": destroying CF handle: " << s.ToString();
    }
  }
  rocksdb::Status s = db_->Close();
  if (!s.ok()) {
    TIDE_LOG(Warn) << "store " << path_ << ": close: " << s.ToString();
  }
  db_.reset();
}

rocksdb::ColumnFamilyHandle* Store::TableHandle(Table table) const {
  switch (table) {
    case Table::kContexts: return contexts_;
    case Table::kTrajectories: return trajectories_;
    case Table::kDatasets: return datasets_;
    case Table::kJournal: return journal_;
  }
  return contexts_;
}

std::mutex& Store::EventMutex(const std::string& run_id) {
  return event_mu_[std::hash<std::string>{}(run_id) % event_mu_.size()];
}

Status Store::Write(rocksdb::WriteBatch* batch, std::string_view what, bool sync) {
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  return FromRocks(db_->Write(wo, batch), std::string(what));
}

Status Store::AddRunLocked(const std::string& run_id, std::string_view value,
                           rocksdb::WriteBatch* batch, bool* created) {
  std::string ignored;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), runs_, RunKey(run_id), &ignored);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading run " + Quote(run_id));
  *created = s.IsNotFound();
  TIDE_RETURN_IF_ERROR(FromRocks(
      batch->Put(runs_, RunKey(run_id), rocksdb::Slice(value.data(), value.size())), "batch"));
  if (*created) {
    TIDE_RETURN_IF_ERROR(
        FromRocks(batch->Put(runs_, IdxKey(next_run_ctr_, run_id), rocksdb::Slice()), "batch"));
  }
  return Status::Ok();
}

Status Store::PutRun(const std::string& run_id, std::string_view value) {
  TIDE_RETURN_IF_ERROR(CheckRunId(run_id));
  std::lock_guard<std::mutex> lock(runs_mu_);
  rocksdb::WriteBatch batch;
  bool created = false;
  TIDE_RETURN_IF_ERROR(AddRunLocked(run_id, value, &batch, &created));
  TIDE_RETURN_IF_ERROR(Write(&batch, "writing run " + Quote(run_id)));
  if (created) ++next_run_ctr_;
  return Status::Ok();
}

Result<std::string> Store::GetRun(const std::string& run_id) {
  TIDE_RETURN_IF_ERROR(CheckRunId(run_id));
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), runs_, RunKey(run_id), &value);
  if (s.IsNotFound()) return NotFound("run " + Quote(run_id) + " not found");
  TIDE_RETURN_IF_ERROR(FromRocks(s, "reading run " + Quote(run_id)));
  return value;
}

Result<std::vector<std::pair<std::string, std::string>>> Store::ListRuns(size_t limit) {
  rocksdb::ManagedSnapshot snapshot(db_.get());  // index and records from one point in time
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  rocksdb::Slice lo(kIdxPrefix.data(), kIdxPrefix.size()), hi(kIdxEnd.data(), kIdxEnd.size());
  ro.iterate_lower_bound = &lo;
  ro.iterate_upper_bound = &hi;
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, runs_));
  for (it->SeekToLast(); it->Valid() && (limit == 0 || out.size() < limit); it->Prev()) {
    uint64_t ctr = 0;
    std::string run_id, value;
    if (!ParseIdxKey(View(it->key()), &ctr, &run_id)) {
      return DataLoss("store " + path_ + ": malformed run index key");
    }
    rocksdb::Status s = db_->Get(ro, runs_, RunKey(run_id), &value);
    if (s.IsNotFound()) return DataLoss("run " + Quote(run_id) + " is indexed but has no record");
    TIDE_RETURN_IF_ERROR(FromRocks(s, "reading run " + Quote(run_id)));
    out.emplace_back(std::move(run_id), std::move(value));
  }
  TIDE_RETURN_IF_ERROR(FromRocks(it->status(), "listing runs"));
  return out;
}

Result<uint64_t> Store::ReadNextEventSeq(const std::string& run_id) {
  const std::string prefix = EventPrefix(run_id), end = EventEnd(run_id);
  rocksdb::ReadOptions ro;
  rocksdb::Slice lo(prefix), hi(end);
  ro.iterate_lower_bound = &lo;
  ro.iterate_upper_bound = &hi;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, events_));
  it->SeekToLast();
  if (!it->Valid()) {
    TIDE_RETURN_IF_ERROR(FromRocks(it->status(), "reading events of run " + Quote(run_id)));
    return uint64_t{0};
  }
  std::string_view key = View(it->key());
  if (key.size() != prefix.size() + 8) {
    return DataLoss("malformed event key for run " + Quote(run_id));
  }
  return DecodeSeq(key.substr(prefix.size())) + 1;
}

Status Store::CheckAppend(const std::string& run_id, uint64_t seq) {
  TIDE_ASSIGN_OR_RETURN(uint64_t next, ReadNextEventSeq(run_id));
  if (seq < next) {
    return AlreadyExists("event " + std::to_string(seq) + " of run " + Quote(run_id) +
                         " already exists (events are append-only)");
  }
  if (seq > next) {
    return FailedPrecondition("event " + std::to_string(seq) + " of run " + Quote(run_id) +
                              " would leave a gap: next seq is " + std::to_string(next));
  }
  return Status::Ok();
}

Status Store::AppendEvent(const std::string& run_id, uint64_t seq, std::string_view value) {
  TIDE_RETURN_IF_ERROR(CheckRunId(run_id));
  std::lock_guard<std::mutex> lock(EventMutex(run_id));
  TIDE_RETURN_IF_ERROR(CheckAppend(run_id, seq));
  rocksdb::WriteBatch batch;
  TIDE_RETURN_IF_ERROR(FromRocks(
      batch.Put(events_, EventKey(run_id, seq), rocksdb::Slice(value.data(), value.size())),
      "batch"));
  return Write(&batch, "appending event " + std::to_string(seq) + " of run " + Quote(run_id));
}

Status Store::AppendEventAndPutRun(const std::string& run_id, uint64_t seq,
                                   std::string_view event, std::string_view run_value) {
  TIDE_RETURN_IF_ERROR(CheckRunId(run_id));
  std::lock_guard<std::mutex> event_lock(EventMutex(run_id));
  TIDE_RETURN_IF_ERROR(CheckAppend(run_id, seq));
  std::lock_guard<std::mutex> runs_lock(runs_mu_);
  rocksdb::WriteBatch batch;
  TIDE_RETURN_IF_ERROR(FromRocks(
      batch.Put(events_, EventKey(run_id, seq), rocksdb::Slice(event.data(), event.size())),
      "batch"));
  bool created = false;
  TIDE_RETURN_IF_ERROR(AddRunLocked(run_id, run_value, &batch, &created));
  TIDE_RETURN_IF_ERROR(Write(&batch, "appending event " + std::to_string(seq) +
                                         " and writing run " + Quote(run_id)));
  if (created) ++next_run_ctr_;
  return Status::Ok();
}

Result<std::vector<std::pair<uint64_t, std::string>>> Store::ReadEvents(const std::string& run_id,
                                                                        uint64_t from_seq,
                                                                        size_t limit) {
  TIDE_RETURN_IF_ERROR(CheckRunId(run_id));
  const std::string start = EventKey(run_id, from_seq), end = EventEnd(run_id);
  const size_t prefix_size = run_id.size() + 1;
  rocksdb::ReadOptions ro;
  rocksdb::Slice hi(end);
  ro.iterate_upper_bound = &hi;
  std::vector<std::pair<uint64_t, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, events_));
  for (it->Seek(start); it->Valid() && (limit == 0 || out.size() < limit); it->Next()) {
    std::string_view key = View(it->key());
    if (key.size() != prefix_size + 8) {
      return DataLoss("malformed event key for run " + Quote(run_id));
    }
    out.emplace_back(DecodeSeq(key.substr(prefix_size)), it->value().ToString());
  }
  TIDE_RETURN_IF_ERROR(FromRocks(it->status(), "reading events of run " + Quote(run_id)));
  return out;
}

Result<uint64_t> Store::NextEventSeq(const std::string& run_id) {
  TIDE_RETURN_IF_ERROR(CheckRunId(run_id));
  return ReadNextEventSeq(run_id);
}

Status Store::Put(Table table, const std::string& key, std::string_view value, Sync sync) {
  if (key.empty()) return InvalidArgument("key is empty");
  rocksdb::WriteBatch batch;
  TIDE_RETURN_IF_ERROR(FromRocks(
      batch.Put(TableHandle(table), key, rocksdb::Slice(value.data(), value.size())), "batch"));
  return Write(&batch, "writing key " + Quote(key), sync_writes_ && sync == Sync::kDefault);
}

Result<std::string> Store::Get(Table table, const std::string& key) {
  if (key.empty()) return InvalidArgument("key is empty");
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), TableHandle(table), key, &value);
  if (s.IsNotFound()) return NotFound("key " + Quote(key) + " not found");
  TIDE_RETURN_IF_ERROR(FromRocks(s, "reading key " + Quote(key)));
  return value;
}

Result<std::vector<std::pair<std::string, std::string>>> Store::Scan(Table table,
                                                                     const std::string& prefix) {
  const std::string end = PrefixSuccessor(prefix);
  rocksdb::ReadOptions ro;
  rocksdb::Slice hi(end);
  if (!end.empty()) ro.iterate_upper_bound = &hi;
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, TableHandle(table)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  TIDE_RETURN_IF_ERROR(FromRocks(it->status(), "scanning prefix " + Quote(prefix)));
  return out;
}

}  // namespace tide::orchestrator
