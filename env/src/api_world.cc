#include "tide/env/api_world.h"

#include <algorithm>
#include <map>

#include "tide/env/api_generator.h"

namespace tide::env {
namespace {

using nlohmann::json;

constexpr size_t kMaxListedMismatches = 20;

const char* const kCriteria[] = {
    "every record the goal names ends in the goal state (status and fields), created records included",
    "no other record is changed, created or deleted",
    "no forbidden tool is called",
    "the answer text is not scored: only the API's final state and the call log are"};

bool SameRecord(const ApiRecord& a, const ApiRecord& b) {
  return a.domain == b.domain && a.owner_id == b.owner_id && a.status == b.status && a.fields == b.fields &&
         a.deleted == b.deleted;
}

// The content that identifies a created record (its id depends on who created it first).
std::string CreatedKey(const ApiRecord& r) {
  return std::to_string(r.domain) + "|" + r.owner_id + "|" + r.status + "|" + r.fields.dump() + "|" +
         (r.deleted ? "deleted" : "");
}

json Describe(const ApiSimulator& sim, const ApiRecord* r) {
  if (r == nullptr) return nullptr;
  json j = sim.RecordJson(*r);
  if (r->deleted) j["deleted"] = true;
  return j;
}

std::vector<std::string> ToolPattern(const ApiStep& s) {
  std::vector<std::string> p = {"find_" + s.owner + "s"};
  if (s.kind == ApiStepKind::kCreate) {
    p.push_back("create_" + s.noun);
    return p;
  }
  p.push_back("list_" + s.noun + "s");
  if (s.kind == ApiStepKind::kUpdate) {
    p.push_back("update_" + s.noun);
  } else {
    for (const std::string& v : s.verbs) p.push_back(v + "_" + s.noun);
  }
  return p;
}

}  // namespace

ApiEpisode::ApiEpisode(std::shared_ptr<const ApiSuite> suite, ApiState initial, ApiState goal, ApiTaskSpec task,
                       std::vector<ApiGoalStep> steps, ApiFailureOptions failures, std::optional<ApiDialogue> dialogue,
                       uint64_t dialogue_seed)
    : suite_(std::move(suite)),
      initial_(std::move(initial)),
      goal_(std::move(goal)),
      task_(std::move(task)),
      shown_(dialogue ? dialogue->shown : task_),
      steps_(std::move(steps)),
      failure_rate_(failures.rate) {
  simulator_ = std::make_shared<ApiSimulator>(suite_, initial_, failures);
  tools_ = MakeApiTools(simulator_);
  if (dialogue) {
    user_ = std::make_shared<ApiUserSimulator>(std::move(dialogue->details), std::move(dialogue->persona), dialogue_seed);
    tools_.push_back(MakeAskUserTool(user_));
  }
}

json ApiEpisode::public_task() const {
  json steps = json::array();
  json pattern = json::array();
  for (const ApiStep& s : shown_.steps) {
    steps.push_back(ApiStepText(s));
    json p = ToolPattern(s);
    if (!s.hidden.empty()) p.insert(p.begin(), kAskUserTool);
    pattern.push_back(p);
  }
  json domains = json::array();
  for (const ApiDomain& d : suite_->domains) domains.push_back(d.noun);
  json out = {{"world", kApiWorldName},
          {"family", family()},
          {"items", task_.steps.size()},
          {"category", suite_->category},
          {"domains", domains},
          {"tools", simulator_->tool_defs().size()},
          {"failure_rate", failure_rate_},
          {"steps", steps},
          {"rubric",
           {{"criteria", kCriteria},
            {"forbidden", {{"tools", task_.forbidden_tools}, {"change_records_outside_the_goal", true}}},
            {"expected_tool_pattern", pattern}}}};
  if (user_) out["user"] = {{"persona", user_->persona()}, {"held_back_details", user_->details().size()}};
  return out;
}

json ApiEpisode::GoalStateJson() const {
  json records = json::array();
  for (const ApiRecord& r : goal_.records) records.push_back(Describe(*simulator_, &r));
  return records;
}

Verdict ApiEpisode::Verify(const std::string& answer_text) const {
  const ApiState actual = simulator_->Snapshot();
  const std::vector<ApiCallRecord> log = simulator_->CallLog();
  std::map<std::string, const ApiRecord*> initial_by_id, goal_by_id, actual_by_id;
  for (const ApiRecord& r : initial_.records) initial_by_id[r.id] = &r;
  for (const ApiRecord& r : goal_.records) goal_by_id[r.id] = &r;
  for (const ApiRecord& r : actual.records) actual_by_id[r.id] = &r;

  json mismatches = json::array();
  size_t mismatch_count = 0;
  auto mismatch = [&](const std::string& what, const ApiRecord* want, const ApiRecord* got) {
    ++mismatch_count;
    if (mismatches.size() < kMaxListedMismatches) {
      mismatches.push_back({{"what", what}, {"expected", Describe(*simulator_, want)}, {"got", Describe(*simulator_, got)}});
    }
  };

  // Records that existed at the start: compared by id.
  size_t expected_changes = 0, actual_changes = 0, correct_changes = 0;
  std::map<std::string, bool> record_ok;
  for (const ApiRecord& init : initial_.records) {
    const ApiRecord* want = goal_by_id.at(init.id);
    const ApiRecord* got = actual_by_id.count(init.id) ? actual_by_id[init.id] : nullptr;
    const bool should_change = !SameRecord(init, *want);
    const bool did_change = got == nullptr || !SameRecord(init, *got);
    const bool right = got != nullptr && SameRecord(*want, *got);
    expected_changes += should_change;
    actual_changes += did_change;
    correct_changes += should_change && right;
    record_ok[init.id] = right;
    if (!right) mismatch(should_change ? "a record the goal changes is not in its goal state" : "a record outside the goal changed", want, got);
  }
  // Created records: matched by content, since their ids depend on the order of creation.
  std::multimap<std::string, const ApiRecord*> wanted_new;
  for (const ApiRecord& r : goal_.records) {
    if (!initial_by_id.count(r.id)) wanted_new.insert({CreatedKey(r), &r});
  }
  expected_changes += wanted_new.size();
  std::vector<const ApiRecord*> extra_new;
  for (const ApiRecord& r : actual.records) {
    if (initial_by_id.count(r.id)) continue;
    ++actual_changes;
    auto it = wanted_new.find(CreatedKey(r));
    if (it == wanted_new.end()) {
      extra_new.push_back(&r);
      continue;
    }
    ++correct_changes;
    record_ok[it->second->id] = true;
    wanted_new.erase(it);
  }
  for (const ApiRecord* r : extra_new) mismatch("a record the goal does not ask for was created", nullptr, r);
  for (const auto& [key, r] : wanted_new) mismatch("a record the goal creates is missing", r, nullptr);

  // Forbidden actions: calls to forbidden tools (applied or not) and changes outside the goal.
  std::map<std::string, bool> target;
  for (const ApiGoalStep& s : steps_) {
    for (const std::string& id : s.targets) target[id] = true;
  }
  json forbidden = json::array();
  for (const ApiCallRecord& c : log) {
    if (std::find(task_.forbidden_tools.begin(), task_.forbidden_tools.end(), c.tool) != task_.forbidden_tools.end()) {
      forbidden.push_back({{"tool", c.tool}, {"record", c.record_id}, {"why", "the rules forbid calling " + c.tool}});
    } else if (c.applied && c.kind != ApiToolKind::kCreate && initial_by_id.count(c.record_id) && !target.count(c.record_id)) {
      forbidden.push_back({{"tool", c.tool}, {"record", c.record_id}, {"why", "no step asks to change " + c.record_id}});
    }
  }

  // Per step: done when each of its records (created ones included) is in the goal state.
  json per_step = json::array();
  size_t steps_done = 0;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const ApiGoalStep& s = steps_[i];
    bool done = true;
    for (const std::string& id : s.targets) done = done && record_ok[id];
    steps_done += done;
    per_step.push_back({{"step", i + 1}, {"done", done}, {"records", s.targets.size()}});
  }

  Verdict v;
  const bool state_match = mismatch_count == 0;
  v.success = state_match && forbidden.empty();
  v.reward = v.success ? 1.0 : 0.0;
  v.precision = actual_changes == 0 ? (expected_changes == 0 ? 1.0 : 0.0) : static_cast<double>(correct_changes) / actual_changes;
  v.recall = expected_changes == 0 ? 1.0 : static_cast<double>(correct_changes) / expected_changes;
  v.item_f1 = v.precision + v.recall > 0 ? 2 * v.precision * v.recall / (v.precision + v.recall) : 0.0;
  v.details = {{"state_match", state_match},
               {"steps", steps_.size()},
               {"steps_done", steps_done},
               {"step_credit", steps_.empty() ? 1.0 : static_cast<double>(steps_done) / static_cast<double>(steps_.size())},
               {"per_step", per_step},
               {"expected_changes", expected_changes},
               {"actual_changes", actual_changes},
               {"correct_changes", correct_changes},
               {"mismatches", mismatch_count},
               {"mismatch_examples", mismatches},
               {"forbidden_actions", forbidden},
               {"tool_calls", log.size()},
               {"answer_chars", answer_text.size()}};
  if (!v.success) {
    v.details["reason"] = !state_match ? std::to_string(mismatch_count) + " record(s) differ from the goal state"
                                       : std::to_string(forbidden.size()) + " forbidden action(s)";
  }
  return v;
}

std::string ApiWorld::description() const {
  return "Seeded back-office APIs (category -> domain -> tools: find/get owners; list, get, create, update, "
         "lifecycle actions, delete records) over a stateful simulator with injected 503/429/504 failures; "
         "family \"api-goal\": reach a goal over the final state without forbidden actions.";
}

Result<std::unique_ptr<ApiEpisode>> ApiWorld::ResetApi(const TaskParams& params) const {
  if (!params.family.empty() && params.family != kApiGoalFamily && params.family != kApiDialogueFamily) {
    return InvalidArgument("family: unknown task family \"" + params.family + "\" for world \"" + kApiWorldName +
                           "\" (known: " + kApiGoalFamily + ", " + kApiDialogueFamily + ")");
  }
  if (params.items < 1 || params.items > kApiMaxItems) {
    return InvalidArgument("items (goal steps) must be in 1.." + std::to_string(kApiMaxItems) + ", got " +
                           std::to_string(params.items));
  }
  if (params.distractors < -1 || params.distractors > kApiMaxDistractors) {
    return InvalidArgument("distractors must be -1 (default: items) or 0.." + std::to_string(kApiMaxDistractors) +
                           ", got " + std::to_string(params.distractors));
  }
  if (params.failure_rate != -1 && !(params.failure_rate >= 0 && params.failure_rate <= kApiMaxFailureRate)) {
    return InvalidArgument("failure_rate must be -1 (default " + std::to_string(kApiDefaultFailureRate) + ") or 0.." +
                           std::to_string(kApiMaxFailureRate) + ", got " + std::to_string(params.failure_rate));
  }
  if (params.columns != 0) {
    return InvalidArgument("columns: the api world has no columns; it must be 0, got " + std::to_string(params.columns));
  }
  if (params.hops != 0) {
    return InvalidArgument("hops: the api world has no hops; it must be 0, got " + std::to_string(params.hops));
  }
  ApiGenerateOptions options;
  options.seed = params.seed;
  options.steps = params.items;
  options.near_owners = params.distractors < 0 ? params.items : params.distractors;
  TIDE_ASSIGN_OR_RETURN(ApiGenerated g, GenerateApiGoal(options));
  ApiFailureOptions failures;
  failures.rate = params.failure_rate < 0 ? kApiDefaultFailureRate : params.failure_rate;
  failures.seed = params.seed ^ 0x5eedfa11u;
  std::optional<ApiDialogue> dialogue;
  if (params.family == kApiDialogueFamily) dialogue = HideApiDetails(g.task, params.seed);
  return std::make_unique<ApiEpisode>(std::move(g.suite), std::move(g.initial), std::move(g.goal), std::move(g.task),
                                      std::move(g.steps), failures, std::move(dialogue), params.seed);
}

Result<std::unique_ptr<Episode>> ApiWorld::Reset(const TaskParams& params) const {
  TIDE_ASSIGN_OR_RETURN(std::unique_ptr<ApiEpisode> episode, ResetApi(params));
  return std::unique_ptr<Episode>(std::move(episode));
}

}  // namespace tide::env
