// ApiSimulator: the stateful back end of one api-world episode. It holds the suite's
// owners and records in memory, runs the suite's tools against them (find/get owners;
// list, get, create, update, lifecycle actions, delete records) and logs every call that
// reached it, so a verifier can compare the final state with a goal state and check which
// actions happened.
//
// Edge cases answer as a real API would, as errors the agent reads: 404 not found (unknown
// ids), 409 conflict (an action from a status it does not apply to, changing a record in a
// final status, a reused idempotency key), 422 validation error (bad dates, blank strings,
// an update with nothing to change). Injected partial failures are seeded: "503" and "429"
// errors were not applied; a "504" timeout may have been applied or not. Whether the k-th
// identical call fails depends only on (seed, tool, arguments, k), never on thread timing,
// and at most `max_consecutive` identical calls in a row fail, so retrying always works.
// create_<noun> honours `request_id` as an idempotency key. A created record's id is
// "<prefix>-<owner id without dashes>-<n>" (e.g. "O-C102-1"), n counting the creates for
// that owner in the domain, so agents working for different owners at once get the same
// ids in any thread order.
//
// Invariants: a record's status is one of its domain's statuses and changes only through
// lifecycle actions; required fields are always present; deleted records stay in the state
// (flagged) so a verifier sees them.
//
// Thread safety: every method locks one mutex; the tools of an episode share one simulator
// and may be called from many agents at once.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/env/api_catalog.h"
#include "tide/workers/tool.h"

namespace tide::env {

struct ApiOwner {
  std::string id;
  std::string name;
  std::string email;
};

struct ApiRecord {
  std::string id;
  int domain = 0;  // index into the suite's domains
  std::string owner_id;
  std::string status;
  nlohmann::json fields = nlohmann::json::object();
  bool deleted = false;
};

struct ApiState {
  std::vector<ApiOwner> owners;
  std::vector<ApiRecord> records;  // in creation order
};

// One call that reached the simulator (arguments matched the schema).
struct ApiCallRecord {
  std::string tool;
  ApiToolKind kind = ApiToolKind::kGet;
  std::string record_id;  // the record read or changed ("" for owner tools and lists)
  bool ok = false;        // the agent saw a success
  bool applied = false;   // the state changed (a 504 may hide an applied change)
};

struct ApiFailureOptions {
  double rate = 0;  // chance that a call fails, 0..1
  uint64_t seed = 0;
  int max_consecutive = 2;
};

class ApiSimulator {
 public:
  ApiSimulator(std::shared_ptr<const ApiSuite> suite, ApiState initial, ApiFailureOptions failures);

  const ApiSuite& suite() const { return *suite_; }
  const std::vector<ApiToolDef>& tool_defs() const { return tools_; }

  // Runs tool `tool_index` (into tool_defs()) with arguments that passed its schema.
  Result<std::string> Call(size_t tool_index, const nlohmann::json& arguments);
  // The same by tool name; NOT_FOUND for an unknown tool.
  Result<std::string> Call(const std::string& tool, const nlohmann::json& arguments);

  ApiState Snapshot() const;
  std::vector<ApiCallRecord> CallLog() const;

  // A record as tools show it: {"id", "<owner>_id", "status", fields...}.
  nlohmann::json RecordJson(const ApiRecord& r) const;

 private:
  struct Outcome {
    Result<nlohmann::json> value = nlohmann::json();
    std::string record_id;
    bool applied = false;
  };
  Outcome Apply(const ApiToolDef& tool, const nlohmann::json& args);
  Outcome List(const ApiToolDef& tool, const nlohmann::json& args);
  Outcome Create(const ApiToolDef& tool, const nlohmann::json& args);
  Outcome Update(const ApiToolDef& tool, const nlohmann::json& args);
  Outcome Action(const ApiToolDef& tool, const nlohmann::json& args);
  ApiRecord* FindRecord(int domain, const std::string& id);
  const ApiOwner* FindOwner(const std::string& id) const;
  Status CheckFields(const ApiDomain& d, const nlohmann::json& args) const;

  std::shared_ptr<const ApiSuite> suite_;
  std::vector<ApiToolDef> tools_;
  ApiFailureOptions failures_;
  mutable std::mutex mu_;
  ApiState state_;
  std::map<std::string, int> attempts_;  // tool + canonical arguments -> calls so far
  std::map<std::string, std::pair<std::string, std::string>> request_ids_;  // key -> (arguments, record id)
  std::map<std::pair<int, std::string>, int> created_;  // (domain, owner id) -> records created
  std::vector<ApiCallRecord> log_;
};

// One workers::Tool per suite tool, all backed by `simulator`.
std::vector<std::shared_ptr<workers::Tool>> MakeApiTools(const std::shared_ptr<ApiSimulator>& simulator);

// True for "YYYY-MM-DD" naming a real calendar day.
bool IsIsoDate(const std::string& text);

}  // namespace tide::env
