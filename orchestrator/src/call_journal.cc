#include "tide/orchestrator/call_journal.h"

#include <exception>
#include <set>

#include "tide/orchestrator/store.h"

namespace tide::orchestrator {
namespace {

using nlohmann::json;

thread_local std::string current_key;

// Sets the thread's idempotency key for the duration of one tool call.
class KeyGuard {
 public:
  explicit KeyGuard(std::string key) : saved_(std::move(current_key)) { current_key = std::move(key); }
  ~KeyGuard() { current_key = std::move(saved_); }

 private:
  std::string saved_;
};

json ErrorJson(const Status& s) { return {{"code", static_cast<int>(s.code())}, {"message", s.message()}}; }

int IntField(const json& j, const char* name, int fallback) {
  auto it = j.find(name);
  return it != j.end() && it->is_number_integer() ? it->get<int>() : fallback;
}

Status ErrorFromJson(const json& j) {
  int code = IntField(j, "code", static_cast<int>(StatusCode::kUnknown));
  if (code <= 0 || code > static_cast<int>(StatusCode::kDataLoss)) code = static_cast<int>(StatusCode::kUnknown);
  auto m = j.find("message");
  return Status(static_cast<StatusCode>(code), m != j.end() && m->is_string() ? m->get<std::string>() : "");
}

Status Corrupt(const std::string& key, const std::string& why) {
  return DataLoss("journal entry \"" + key + "\" is corrupt: " + why);
}

Result<json> ParseEntry(const std::string& key, const std::string& bytes) {
  json j = json::parse(bytes, nullptr, false);
  if (!j.is_object()) return Corrupt(key, "not a JSON object");
  return j;
}

class StoreBackend : public JournalBackend {
 public:
  StoreBackend(Store* store, const std::string& run_id) : store_(store), prefix_(run_id + std::string(1, '\0')) {}
  Result<std::string> Get(const std::string& key) override { return store_->Get(Store::Table::kJournal, prefix_ + key); }
  Status Put(const std::string& key, std::string_view value) override {
    return store_->Put(Store::Table::kJournal, prefix_ + key, value, Store::Sync::kNo);
  }
  Result<std::vector<std::pair<std::string, std::string>>> Scan(const std::string& prefix) override {
    TIDE_ASSIGN_OR_RETURN(auto rows, store_->Scan(Store::Table::kJournal, prefix_ + prefix));
    for (auto& [key, value] : rows) key.erase(0, prefix_.size());
    return rows;
  }

 private:
  Store* store_;
  std::string prefix_;
};

}  // namespace

std::unique_ptr<JournalBackend> MakeStoreJournalBackend(Store* store, const std::string& run_id) {
  return std::make_unique<StoreBackend>(store, run_id);
}

std::string StableHash(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[i] = kHex[h & 0xf];
  return out;
}

const std::string& CurrentIdempotencyKey() { return current_key; }

Result<JournalSummary> SummarizeJournal(JournalBackend* backend) {
  JournalSummary summary;
  TIDE_ASSIGN_OR_RETURN(auto policy, backend->Scan("p/"));
  TIDE_ASSIGN_OR_RETURN(auto tools, backend->Scan("t/"));
  TIDE_ASSIGN_OR_RETURN(auto intents, backend->Scan("i/"));
  summary.policy_calls = static_cast<int>(policy.size());
  summary.tool_calls = static_cast<int>(tools.size());
  std::set<std::string> done;
  for (const auto& [key, value] : tools) done.insert(key.substr(2));
  for (const auto& [key, value] : intents) summary.unfinished_tools += done.count(key.substr(2)) ? 0 : 1;
  return summary;
}

// --- CallJournal ---

CallJournal::CallJournal(std::string run_id, std::unique_ptr<JournalBackend> backend, std::atomic<bool>* cancelled,
                         bool replay)
    : run_id_(std::move(run_id)), backend_(std::move(backend)), cancelled_(cancelled), replay_(replay) {}

CallJournal::~CallJournal() = default;

Status CallJournal::failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

JournalStats CallJournal::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

Status CallJournal::Fail(Status s) {
  s = s.WithContext("journal of run " + run_id_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (failure_.ok()) failure_ = s;
  }
  if (cancelled_ != nullptr) cancelled_->store(true);
  return s;
}

Result<std::string> CallJournal::Lookup(const std::string& key) {
  if (!replay_) return NotFound(key);
  Result<std::string> r = backend_->Get(key);
  if (!r.ok() && r.status().code() != StatusCode::kNotFound) return Fail(r.status());
  return r;
}

Status CallJournal::Record(const std::string& key, const json& value) {
  if (Status s = backend_->Put(key, value.dump()); !s.ok()) return Fail(s);
  return Status::Ok();
}

// The shared policy, asked only for what the journal does not already know.
class CallJournal::JournaledPolicy : public workers::Policy {
 public:
  explicit JournaledPolicy(JournalScope* scope) : scope_(scope) {}
  std::string name() const override { return scope_->inner_->name(); }

  Result<workers::PolicyResponse> Generate(const workers::PolicyRequest& request) override {
    CallJournal* j = scope_->journal_;
    int step = 0;
    json context = json::array();
    if (request.messages != nullptr) {
      for (const auto& m : *request.messages) step += m.role == "assistant" ? 1 : 0;
      context = workers::ToJson(*request.messages);
    }
    const json tools = request.tools != nullptr ? workers::ToJson(*request.tools) : json::array();
    const std::string step_key =
        scope_->agent_ + "/" + std::to_string(step) + "/" + StableHash(context.dump() + "\n" + tools.dump());
    const std::string key = "p/" + step_key;

    if (Result<std::string> hit = j->Lookup(key); hit.ok()) {
      Result<json> parsed = ParseEntry(key, *hit);
      if (!parsed.ok()) return j->Fail(parsed.status());
      const json& entry = *parsed;
      Result<workers::PolicyResponse> replayed = FromEntry(j, key, entry);
      {
        std::lock_guard<std::mutex> lock(j->mu_);
        ++j->stats_.policy_replayed;
      }
      if (replayed.ok()) scope_->BeginStep(step_key, replayed->message.tool_calls);
      return replayed;
    } else if (hit.status().code() != StatusCode::kNotFound) {
      return hit.status();
    }

    Result<workers::PolicyResponse> reply = scope_->inner_->Generate(request);
    if (j->stopping()) return reply;  // cut short: not an answer to replay
    json entry = reply.ok() ? json{{"message", workers::ToJson(reply->message)}, {"usage", workers::ToJson(reply->usage)}}
                            : json{{"error", ErrorJson(reply.status())}};
    TIDE_RETURN_IF_ERROR(j->Record(key, entry));
    {
      std::lock_guard<std::mutex> lock(j->mu_);
      ++j->stats_.policy_executed;
    }
    if (reply.ok()) scope_->BeginStep(step_key, reply->message.tool_calls);
    return reply;
  }

 private:
  // The journaled reply or error; a corrupt entry fails the journal.
  static Result<workers::PolicyResponse> FromEntry(CallJournal* j, const std::string& key, const json& entry) {
    if (auto e = entry.find("error"); e != entry.end()) {
      if (!e->is_object()) return j->Fail(Corrupt(key, "\"error\" is not an object"));
      return ErrorFromJson(*e);
    }
    auto m = entry.find("message");
    auto u = entry.find("usage");
    if (m == entry.end() || u == entry.end()) return j->Fail(Corrupt(key, "needs \"message\" and \"usage\""));
    Result<workers::Message> message = workers::MessageFromJson(*m);
    if (!message.ok()) return j->Fail(Corrupt(key, message.status().message()));
    Result<workers::Usage> usage = workers::UsageFromJson(*u);
    if (!usage.ok()) return j->Fail(Corrupt(key, usage.status().message()));
    workers::PolicyResponse r;
    r.message = std::move(message).value();
    r.usage = *usage;
    return r;
  }

  JournalScope* scope_;
};

// One tool of one agent, run only when the journal has no result for the call.
class CallJournal::JournaledTool : public workers::Tool {
 public:
  JournaledTool(JournalScope* scope, std::shared_ptr<workers::Tool> inner) : scope_(scope), inner_(std::move(inner)) {}
  const workers::ToolSpec& spec() const override { return inner_->spec(); }

  Result<std::string> Call(const json& arguments) override {
    CallJournal* j = scope_->journal_;
    const std::string call_key = scope_->ClaimCall(spec().name, arguments);
    const std::string key = "t/" + call_key, intent_key = "i/" + call_key;
    if (Result<std::string> hit = j->Lookup(key); hit.ok()) {
      Result<json> parsed = ParseEntry(key, *hit);
      if (!parsed.ok()) return j->Fail(parsed.status());
      const json& entry = *parsed;
      {
        std::lock_guard<std::mutex> lock(j->mu_);
        ++j->stats_.tool_replayed;
      }
      if (auto e = entry.find("error"); e != entry.end() && e->is_object()) return ErrorFromJson(*e);
      auto content = entry.find("content");
      if (content == entry.end() || !content->is_string()) return j->Fail(Corrupt(key, "needs \"content\" or \"error\""));
      return content->get<std::string>();
    } else if (hit.status().code() != StatusCode::kNotFound) {
      return hit.status();
    }

    int attempts = 1;
    if (Result<std::string> intent = j->Lookup(intent_key); intent.ok()) {
      Result<json> parsed = ParseEntry(intent_key, *intent);
      if (!parsed.ok()) return j->Fail(parsed.status());
      attempts = IntField(*parsed, "attempts", 1) + 1;
    } else if (intent.status().code() != StatusCode::kNotFound) {
      return intent.status();
    }
    TIDE_RETURN_IF_ERROR(j->Record(intent_key, {{"attempts", attempts}}));

    Result<std::string> out = Run(j->run_id() + "/" + call_key, arguments);
    if (j->stopping()) return out;
    json entry = out.ok() ? json{{"content", *out}} : json{{"error", ErrorJson(out.status())}};
    entry["attempts"] = attempts;
    TIDE_RETURN_IF_ERROR(j->Record(key, entry));
    std::lock_guard<std::mutex> lock(j->mu_);
    ++j->stats_.tool_executed;
    if (attempts > 1) ++j->stats_.tool_reexecuted;
    return out;
  }

 private:
  // Exceptions become the error the ToolRegistry would make of them, so they journal too.
  Result<std::string> Run(std::string idempotency_key, const json& arguments) {
    KeyGuard guard(std::move(idempotency_key));
    try {
      return inner_->Call(arguments);
    } catch (const std::exception& e) {
      return Internal("tool " + spec().name + " failed: " + e.what());
    } catch (...) {
      return Internal("tool " + spec().name + " failed with an unknown exception");
    }
  }

  JournalScope* scope_;
  std::shared_ptr<workers::Tool> inner_;
};

// --- JournalScope ---

JournalScope::JournalScope(CallJournal* journal, std::string agent, workers::Policy* policy)
    : journal_(journal), agent_(std::move(agent)), inner_(policy) {
  if (journal_ != nullptr) policy_ = std::make_unique<CallJournal::JournaledPolicy>(this);
}

JournalScope::~JournalScope() = default;

std::shared_ptr<workers::Tool> JournalScope::Wrap(std::shared_ptr<workers::Tool> tool) {
  if (journal_ == nullptr || !tool) return tool;
  return std::make_shared<CallJournal::JournaledTool>(this, std::move(tool));
}

void JournalScope::BeginStep(std::string step_key, std::vector<workers::ToolCall> calls) {
  std::lock_guard<std::mutex> lock(mu_);
  step_key_ = std::move(step_key);
  calls_ = std::move(calls);
  claimed_.assign(calls_.size(), false);
  unmatched_ = 0;
}

std::string JournalScope::ClaimCall(const std::string& name, const json& arguments) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string step = step_key_.empty() ? agent_ + "/-" : step_key_;
  for (size_t i = 0; i < calls_.size(); ++i) {
    if (claimed_[i] || calls_[i].name != name) continue;
    const json args = json::parse(calls_[i].arguments.empty() ? "{}" : calls_[i].arguments, nullptr, false);
    if (args != arguments) continue;
    claimed_[i] = true;
    return step + "/" + std::to_string(i);
  }
  // A call the step's message does not hold (a tool run outside the agent loop): numbered
  // in the order made, which is deterministic for a sequential caller.
  return step + "/x" + std::to_string(unmatched_++);
}

}  // namespace tide::orchestrator
