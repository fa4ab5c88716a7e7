// The oracle's turns for the compute world's tasks (oracle_families.h): fetch every series
// range and rate the steps name, in parallel, then evaluate the steps and answer.
#include <optional>
#include <string>
#include <vector>

#include "oracle_family_util.h"
#include "tide/env/compute_task.h"
#include "tide/env/compute_tools.h"
#include "tide/env/oracle_families.h"

namespace tide::env {
namespace {

using family_util::NewCall;
using family_util::StringArg;

struct Need {
  std::string tool;
  nlohmann::json args;
};

bool SameArgs(const nlohmann::json& have, const nlohmann::json& want) {
  for (auto it = want.begin(); it != want.end(); ++it) {
    if (StringArg(have, it.key().c_str()) != it.value().get<std::string>()) return false;
  }
  return true;
}

// The past call that made `need`, or nullptr.
const PastCall* Made(const std::vector<PastCall>& calls, const Need& need) {
  for (const PastCall& c : calls) {
    if (c.call.name == need.tool && SameArgs(c.arguments, need.args)) return &c;
  }
  return nullptr;
}

std::vector<Need> Needs(const ComputeSpec& spec) {
  std::vector<Need> out;
  for (const ComputeStep& s : spec.steps) {
    if (!s.series.empty()) out.push_back({kGetSeriesToolName, {{"name", s.series}, {"from", s.from}, {"to", s.to}}});
    if (s.op == "convert") {
      out.push_back({kGetRateToolName, {{"from", s.currency_from}, {"to", s.currency_to}, {"period", s.rate_period}}});
    }
  }
  return out;
}

Result<std::vector<double>> SeriesValues(const std::string& observation) {
  nlohmann::json j = nlohmann::json::parse(observation, nullptr, false);
  if (!j.is_object() || !j.contains("rows") || !j["rows"].is_array()) {
    return InvalidArgument("get_series did not return rows: " + observation.substr(0, 120));
  }
  std::vector<double> out;
  for (const nlohmann::json& row : j["rows"]) {
    if (!row.is_object() || !row.contains("value") || !row["value"].is_number()) {
      return InvalidArgument("a get_series row has no numeric value");
    }
    out.push_back(row["value"].get<double>());
  }
  return out;
}

Result<double> RateValue(const std::string& observation) {
  nlohmann::json j = nlohmann::json::parse(observation, nullptr, false);
  if (!j.is_object() || !j.contains("rate") || !j["rate"].is_number()) {
    return InvalidArgument("get_rate did not return a rate: " + observation.substr(0, 120));
  }
  return j["rate"].get<double>();
}

workers::Message ResearcherTurn(const ComputeSpec& spec, const workers::PolicyRequest& request, int max_calls) {
  const std::vector<workers::Message>& messages = *request.messages;
  const std::vector<PastCall> calls = PastCalls(messages);
  const int turn = AssistantTurns(messages) + 1;
  std::vector<workers::ToolCall> next;
  bool pending = false;
  for (const Need& need : Needs(spec)) {
    const PastCall* made = Made(calls, need);
    if (made != nullptr) {
      pending = pending || !made->answered;
      continue;
    }
    bool queued = false;
    for (const workers::ToolCall& c : next) queued = queued || (c.name == need.tool && c.arguments == need.args.dump());
    if (queued) continue;
    pending = true;
    if (family_util::Offers(request, need.tool)) {
      next.push_back(NewCall(turn, static_cast<int>(next.size()) + 1, need.tool, need.args));
    }
  }
  if (max_calls > 0 && static_cast<int>(next.size()) > max_calls) next.resize(static_cast<size_t>(max_calls));
  if (!next.empty()) return workers::Message::Assistant("", std::move(next));
  if (pending) {
    return workers::Message::Assistant("I could not fetch the data this task needs with the tools offered.\n" +
                                       FormatScalarAnswer(nullptr));
  }
  ComputeData data;
  data.series = [&](const std::string& name, const std::string& from, const std::string& to) {
    const PastCall* c = Made(calls, {kGetSeriesToolName, {{"name", name}, {"from", from}, {"to", to}}});
    return SeriesValues(c->observation);
  };
  data.rate = [&](const std::string& from, const std::string& to, const std::string& period) {
    const PastCall* c = Made(calls, {kGetRateToolName, {{"from", from}, {"to", to}, {"period", period}}});
    return RateValue(c->observation);
  };
  Result<double> value = EvaluateCompute(spec, data);
  if (!value.ok()) {
    return workers::Message::Assistant("The steps could not be evaluated: " + value.status().message() + "\n" +
                                       FormatScalarAnswer(nullptr));
  }
  return workers::Message::Assistant(FormatScalarAnswer(*value));
}

}  // namespace

std::optional<Result<workers::Message>> OracleComputeTurn(const workers::PolicyRequest& request, int max_calls) {
  if (request.messages == nullptr) return std::nullopt;
  const std::string text = family_util::FirstUserText(*request.messages);
  Result<ComputeSpec> spec = ParseComputeSteps(text);
  if (!spec.ok()) return std::nullopt;
  if (family_util::Offers(request, workers::kSpawnSubagentsTool)) return family_util::DelegateWholeTask(text, request);
  return ResearcherTurn(*spec, request, max_calls);
}

}  // namespace tide::env
