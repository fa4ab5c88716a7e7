#include "tide/env/scalar_answer.h"

#include <algorithm>
#include <cmath>

#include "tide/env/answer_table.h"

namespace tide::env {
namespace {

Verdict Scored(const ScalarGold& gold, bool correct, const nlohmann::json& predicted, const std::string& reason) {
  Verdict v;
  v.success = correct;
  v.reward = v.item_f1 = v.precision = v.recall = correct ? 1.0 : 0.0;
  v.details = {{"gold", gold.value}, {"predicted", predicted}, {"type", CellTypeName(gold.type)}, {"correct", correct}};
  if (gold.type == CellType::kNumber) {
    v.details["relative_tolerance"] = gold.relative_tolerance;
    v.details["absolute_tolerance"] = gold.absolute_tolerance;
  }
  if (!reason.empty()) v.details["reason"] = reason;
  return v;
}

std::string ValueText(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

bool NumberWithin(double predicted, double gold, double relative, double absolute) {
  if (!std::isfinite(predicted) || !std::isfinite(gold)) return false;
  const double allowed = std::max(absolute, relative * std::max(std::fabs(predicted), std::fabs(gold)));
  return std::fabs(predicted - gold) <= allowed;
}

Result<nlohmann::json> ExtractAnswerValue(const std::string& answer_text) {
  Result<nlohmann::json> rows = ExtractJsonTable(answer_text, kAnswerKey);
  if (rows.ok() && !rows->empty()) {
    const nlohmann::json* v = FindField((*rows)[0], kAnswerKey);
    if (v != nullptr) return *v;
  }
  std::string trimmed = answer_text;
  size_t b = trimmed.find_first_not_of(" \t\r\n"), e = trimmed.find_last_not_of(" \t\r\n");
  if (b == std::string::npos) return InvalidArgument("the answer is empty");
  trimmed = trimmed.substr(b, e - b + 1);
  if (trimmed.size() > kMaxPlainAnswer || trimmed.find('{') != std::string::npos) {
    return InvalidArgument("no {\"answer\": ...} object found in the answer");
  }
  return nlohmann::json(trimmed);
}

Verdict VerifyScalar(const ScalarGold& gold, const std::string& answer_text) {
  Result<nlohmann::json> value = ExtractAnswerValue(answer_text);
  if (!value.ok()) return Scored(gold, false, nullptr, value.status().message());
  const nlohmann::json& p = *value;
  if (p.is_null()) return Scored(gold, false, p, "the answer is null");
  if (!p.is_string() && !p.is_number() && !p.is_boolean()) return Scored(gold, false, p, "the answer is not a single value");
  bool correct = false;
  if (gold.type == CellType::kNumber) {
    std::optional<double> pv = ParseNumberText(ValueText(p)), gv = ParseNumberText(gold.value);
    if (!pv) return Scored(gold, false, p, "the answer is not a number");
    correct = gv && NumberWithin(*pv, *gv, gold.relative_tolerance, gold.absolute_tolerance);
  } else {
    correct = CellEquals(gold.type, gold.value, p);
  }
  return Scored(gold, correct, p, correct ? "" : "the value differs from the gold answer");
}

std::string FormatScalarAnswer(const nlohmann::json& value) {
  return "```json\n" + nlohmann::json{{kAnswerKey, value}}.dump() + "\n```";
}

nlohmann::json ScalarJson(const ScalarGold& gold) {
  if (gold.type == CellType::kString || gold.type == CellType::kDate) return gold.value;
  return CellFromText(gold.type, gold.value);
}

}  // namespace tide::env
