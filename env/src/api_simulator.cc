#include "tide/env/api_simulator.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "tide/core/split_mix.h"

namespace tide::env {
namespace {

using nlohmann::json;

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool Blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

bool Mutates(ApiToolKind k) {
  return k == ApiToolKind::kCreate || k == ApiToolKind::kUpdate || k == ApiToolKind::kAction ||
         k == ApiToolKind::kDelete;
}

std::string Statuses(const std::vector<std::string>& from) {
  std::string s;
  for (size_t i = 0; i < from.size(); ++i) s += (i == 0 ? "" : i + 1 == from.size() ? " or " : ", ") + from[i];
  return s;
}

class ApiTool : public workers::Tool {
 public:
  ApiTool(std::shared_ptr<ApiSimulator> sim, size_t index) : sim_(std::move(sim)), index_(index) {}
  const workers::ToolSpec& spec() const override { return sim_->tool_defs()[index_].spec; }
  Result<std::string> Call(const json& arguments) override { return sim_->Call(index_, arguments); }

 private:
  std::shared_ptr<ApiSimulator> sim_;
  size_t index_;
};

}  // namespace

bool IsIsoDate(const std::string& t) {
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) return false;
  }
  const int y = std::stoi(t.substr(0, 4)), m = std::stoi(t.substr(5, 2)), d = std::stoi(t.substr(8, 2));
  if (m < 1 || m > 12 || d < 1) return false;
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= kDays[m - 1] + (m == 2 && leap ? 1 : 0);
}

ApiSimulator::ApiSimulator(std::shared_ptr<const ApiSuite> suite, ApiState initial, ApiFailureOptions failures)
    : suite_(std::move(suite)), tools_(ApiSuiteTools(*suite_)), failures_(failures), state_(std::move(initial)) {
}

json ApiSimulator::RecordJson(const ApiRecord& r) const {
  json j = r.fields;
  j["id"] = r.id;
  j[suite_->owner + "_id"] = r.owner_id;
  j["status"] = r.status;
  return j;
}

ApiState ApiSimulator::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

std::vector<ApiCallRecord> ApiSimulator::CallLog() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

Result<std::string> ApiSimulator::Call(const std::string& tool, const json& arguments) {
  for (size_t i = 0; i < tools_.size(); ++i) {
    if (tools_[i].spec.name == tool) return Call(i, arguments);
  }
  return NotFound("unknown api tool \"" + tool + "\"");
}

Result<std::string> ApiSimulator::Call(size_t tool_index, const json& arguments) {
  if (tool_index >= tools_.size()) return NotFound("api tool index out of range");
  const ApiToolDef& tool = tools_[tool_index];
  if (!arguments.is_object()) return InvalidArgument("422 validation error: arguments must be a JSON object");
  std::lock_guard<std::mutex> lock(mu_);
  // Injected failure: decided by (seed, tool, arguments, k) so that thread timing never changes it.
  const std::string key = tool.spec.name + arguments.dump();
  const int k = attempts_[key]++;
  enum { kNone, k503, k429, k504 } failure = kNone;
  bool apply_anyway = false;
  if (failures_.rate > 0 && k < failures_.max_consecutive) {
    const uint64_t h = SplitMix64(failures_.seed ^ SplitMix64(Fnv1a(key) + static_cast<uint64_t>(k)));
    if (static_cast<double>(h >> 11) * 0x1.0p-53 < failures_.rate) {
      const uint64_t h2 = SplitMix64(h);
      failure = h2 % 3 == 0 ? k503 : h2 % 3 == 1 ? k429 : k504;
      apply_anyway = failure == k504 && Mutates(tool.kind) && ((h2 >> 8) & 1) != 0;
    }
  }
  ApiCallRecord rec{tool.spec.name, tool.kind, "", false, false};
  const std::string& name = tool.spec.name;
  if (failure == k503 || failure == k429 || (failure == k504 && !apply_anyway)) {
    log_.push_back(rec);
    if (failure == k503) return Unavailable("503 service unavailable: " + name + " was not applied; try again");
    if (failure == k429) return ResourceExhausted("429 rate limited: " + name + " was not applied; retry in a moment");
    return DeadlineExceeded("504 gateway timeout: " + name +
                            " timed out; it may or may not have been applied, so check before retrying");
  }
  Outcome out = Apply(tool, arguments);
  rec.record_id = out.record_id;
  rec.applied = out.applied;
  rec.ok = out.value.ok() && failure == kNone;
  log_.push_back(rec);
  if (failure == k504) {
    return DeadlineExceeded("504 gateway timeout: " + name +
                            " timed out; it may or may not have been applied, so check before retrying");
  }
  if (!out.value.ok()) return out.value.status();
  return out.value->dump();
}

const ApiOwner* ApiSimulator::FindOwner(const std::string& id) const {
  for (const ApiOwner& o : state_.owners) {
    if (o.id == id) return &o;
  }
  return nullptr;
}

ApiRecord* ApiSimulator::FindRecord(int domain, const std::string& id) {
  for (ApiRecord& r : state_.records) {
    if (r.domain == domain && r.id == id && !r.deleted) return &r;
  }
  return nullptr;
}

Status ApiSimulator::CheckFields(const ApiDomain& d, const json& args) const {
  for (const ApiField& f : d.fields) {
    auto it = args.find(f.name);
    if (it == args.end()) continue;
    if (f.type == ApiFieldType::kDate && !IsIsoDate(it->get<std::string>())) {
      return InvalidArgument("422 validation error: " + f.name + " must be a calendar date as YYYY-MM-DD, got " +
                             it->dump());
    }
    if (f.type == ApiFieldType::kString && Blank(it->get<std::string>())) {
      return InvalidArgument("422 validation error: " + f.name + " must not be blank");
    }
    if (f.type == ApiFieldType::kNumber && !std::isfinite(it->get<double>())) {
      return InvalidArgument("422 validation error: " + f.name + " must be a finite number");
    }
  }
  return Status::Ok();
}

ApiSimulator::Outcome ApiSimulator::Apply(const ApiToolDef& tool, const json& args) {
  const std::string owner_key = suite_->owner + "_id";
  switch (tool.kind) {
    case ApiToolKind::kFindOwners: {
      const std::string needle = Lower(args.at("name").get<std::string>());
      const size_t limit = static_cast<size_t>(args.value("limit", 10));
      // Ranked as a search box ranks: exact names first, then names that contain the text.
      json matches = json::array();
      for (int exact = 1; exact >= 0; --exact) {
        for (const ApiOwner& o : state_.owners) {
          const std::string name = Lower(o.name);
          if (matches.size() < limit && (name == needle) == (exact == 1) && name.find(needle) != std::string::npos) {
            matches.push_back({{"id", o.id}, {"name", o.name}, {"email", o.email}});
          }
        }
      }
      return {json{{"matches", matches}}, "", false};
    }
    case ApiToolKind::kGetOwner: {
      const std::string id = args.at(owner_key).get<std::string>();
      const ApiOwner* o = FindOwner(id);
      if (o == nullptr) return {NotFound("404 not found: no " + suite_->owner + " with id \"" + id + "\""), "", false};
      return {json{{"id", o->id}, {"name", o->name}, {"email", o->email}}, "", false};
    }
    case ApiToolKind::kList:
      return List(tool, args);
    case ApiToolKind::kGet: {
      const ApiDomain& d = suite_->domains[static_cast<size_t>(tool.domain)];
      const std::string id = args.at(d.id_key()).get<std::string>();
      ApiRecord* r = FindRecord(tool.domain, id);
      if (r == nullptr) return {NotFound("404 not found: no " + d.noun + " with id \"" + id + "\""), id, false};
      return {RecordJson(*r), id, false};
    }
    case ApiToolKind::kCreate:
      return Create(tool, args);
    case ApiToolKind::kUpdate:
      return Update(tool, args);
    case ApiToolKind::kAction:
      return Action(tool, args);
    case ApiToolKind::kDelete: {
      const ApiDomain& d = suite_->domains[static_cast<size_t>(tool.domain)];
      const std::string id = args.at(d.id_key()).get<std::string>();
      ApiRecord* r = FindRecord(tool.domain, id);
      if (r == nullptr) return {NotFound("404 not found: no " + d.noun + " with id \"" + id + "\""), id, false};
      r->deleted = true;
      return {json{{"deleted", id}}, id, true};
    }
  }
  return {Internal("unknown tool kind"), "", false};
}

ApiSimulator::Outcome ApiSimulator::List(const ApiToolDef& tool, const json& args) {
  const std::string owner_key = suite_->owner + "_id";
  std::string owner;
  if (args.contains(owner_key)) {
    owner = args[owner_key].get<std::string>();
    if (FindOwner(owner) == nullptr) {
      return {NotFound("404 not found: no " + suite_->owner + " with id \"" + owner + "\""), "", false};
    }
  }
  const std::string status = args.value("status", "");
  const std::string& filter = suite_->list_filters[static_cast<size_t>(tool.domain)];
  const int page = args.value("page", 1);
  const int page_size = args.value("page_size", 5);
  std::vector<const ApiRecord*> hits;
  for (const ApiRecord& r : state_.records) {
    if (r.domain != tool.domain || r.deleted) continue;
    if (!owner.empty() && r.owner_id != owner) continue;
    if (!status.empty() && r.status != status) continue;
    if (!filter.empty() && args.contains(filter) && r.fields.value(filter, json()) != args[filter]) continue;
    hits.push_back(&r);
  }
  json items = json::array();
  const size_t first = static_cast<size_t>(page - 1) * static_cast<size_t>(page_size);
  for (size_t i = first; i < hits.size() && i < first + static_cast<size_t>(page_size); ++i) {
    items.push_back(RecordJson(*hits[i]));
  }
  json next = first + static_cast<size_t>(page_size) < hits.size() ? json(page + 1) : json();
  return {json{{"items", items}, {"page", page}, {"next_page", next}, {"total", hits.size()}}, "", false};
}

ApiSimulator::Outcome ApiSimulator::Create(const ApiToolDef& tool, const json& args) {
  const ApiDomain& d = suite_->domains[static_cast<size_t>(tool.domain)];
  const std::string owner = args.at(suite_->owner + "_id").get<std::string>();
  std::string request_key;
  if (args.contains("request_id")) {
    request_key = tool.spec.name + "/" + args["request_id"].get<std::string>();
    auto it = request_ids_.find(request_key);
    if (it != request_ids_.end()) {
      if (it->second.first != args.dump()) {
        return {FailedPrecondition("409 conflict: request_id " + args["request_id"].dump() +
                                   " was already used for a different " + tool.spec.name + " call"),
                "", false};
      }
      for (const ApiRecord& r : state_.records) {
        if (r.id == it->second.second) return {RecordJson(r), r.id, false};
      }
    }
  }
  if (FindOwner(owner) == nullptr) {
    return {NotFound("404 not found: no " + suite_->owner + " with id \"" + owner + "\""), "", false};
  }
  if (Status s = CheckFields(d, args); !s.ok()) return {s, "", false};
  ApiRecord r;
  // Numbered per owner, not per domain: operators working for different owners at once
  // get the same ids whatever the thread timing, so a generation stays byte-for-byte
  // reproducible. Initial ids hold no letter after the prefix, so the two never meet.
  std::string owner_key;
  for (char ch : owner) {
    if (ch != '-') owner_key += ch;
  }
  r.id = d.id_prefix + "-" + owner_key + "-" + std::to_string(++created_[{tool.domain, owner}]);
  r.domain = tool.domain;
  r.owner_id = owner;
  r.status = d.statuses.front();
  for (const ApiField& f : d.fields) {
    if (args.contains(f.name)) r.fields[f.name] = args[f.name];
  }
  if (!request_key.empty()) request_ids_[request_key] = {args.dump(), r.id};
  state_.records.push_back(r);
  return {RecordJson(r), r.id, true};
}

ApiSimulator::Outcome ApiSimulator::Update(const ApiToolDef& tool, const json& args) {
  const ApiDomain& d = suite_->domains[static_cast<size_t>(tool.domain)];
  const std::string id = args.at(d.id_key()).get<std::string>();
  ApiRecord* r = FindRecord(tool.domain, id);
  if (r == nullptr) return {NotFound("404 not found: no " + d.noun + " with id \"" + id + "\""), id, false};
  if (args.size() < 2) {
    return {InvalidArgument("422 validation error: " + tool.spec.name + " needs at least one field to change"), id, false};
  }
  if (d.IsTerminal(r->status)) {
    return {FailedPrecondition("409 conflict: " + d.noun + " " + id + " is " + r->status +
                               ", a final status; it can no longer be changed"),
            id, false};
  }
  if (Status s = CheckFields(d, args); !s.ok()) return {s, id, false};
  for (const ApiField& f : d.fields) {
    if (args.contains(f.name)) r->fields[f.name] = args[f.name];
  }
  return {RecordJson(*r), id, true};
}

ApiSimulator::Outcome ApiSimulator::Action(const ApiToolDef& tool, const json& args) {
  const ApiDomain& d = suite_->domains[static_cast<size_t>(tool.domain)];
  const ApiAction* a = d.FindAction(tool.verb);
  const std::string id = args.at(d.id_key()).get<std::string>();
  ApiRecord* r = FindRecord(tool.domain, id);
  if (r == nullptr) return {NotFound("404 not found: no " + d.noun + " with id \"" + id + "\""), id, false};
  if (std::find(a->from.begin(), a->from.end(), r->status) == a->from.end()) {
    return {FailedPrecondition("409 conflict: " + d.noun + " " + id + " is " + r->status + "; " + tool.spec.name +
                               " applies only to " + Statuses(a->from) + " " + d.plural()),
            id, false};
  }
  r->status = a->to;
  return {RecordJson(*r), id, true};
}

std::vector<std::shared_ptr<workers::Tool>> MakeApiTools(const std::shared_ptr<ApiSimulator>& simulator) {
  std::vector<std::shared_ptr<workers::Tool>> tools;
  for (size_t i = 0; i < simulator->tool_defs().size(); ++i) tools.push_back(std::make_shared<ApiTool>(simulator, i));
  return tools;
}

}  // namespace tide::env
