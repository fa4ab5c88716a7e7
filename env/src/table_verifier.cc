#include "tide/env/table_verifier.h"

#include <map>
#include <set>

#include "tide/env/answer_table.h"

namespace tide::env {
namespace {

bool Present(const nlohmann::json* v) { return v != nullptr && !v->is_null(); }

std::string KeyText(const nlohmann::json* v) {
  if (v == nullptr || v->is_null()) return "";
  return NormalizeText(v->is_string() ? v->get<std::string>() : v->dump());
}

Verdict ZeroVerdict(const GoldTable& gold, const std::string& reason) {
  Verdict v;
  v.details = {{"reason", reason},
               {"gold_rows", gold.keys.size()},
               {"gold_cells", gold.keys.size() * gold.columns.size()},
               {"predicted_cells", 0},
               {"correct_cells", 0}};
  return v;
}

}  // namespace

Verdict VerifyTable(const GoldTable& gold, const std::string& answer_text) {
  Result<nlohmann::json> table = ExtractJsonTable(answer_text, gold.key);
  if (!table.ok()) return ZeroVerdict(gold, table.status().message());
  const nlohmann::json& rows = *table;

  std::map<std::string, size_t> gold_row;  // normalised key -> gold row
  for (size_t r = 0; r < gold.keys.size(); ++r) gold_row.emplace(NormalizeText(gold.keys[r]), r);

  std::map<size_t, const nlohmann::json*> answer_for;  // gold row -> first answer row
  nlohmann::json extra = nlohmann::json::array(), duplicates = nlohmann::json::array();
  std::set<std::string> seen;
  int64_t predicted = 0;
  for (const nlohmann::json& row : rows) {
    const nlohmann::json* key = FindField(row, gold.key);
    std::string k = KeyText(key);
    if (!k.empty() && !seen.insert(k).second) {
      duplicates.push_back(*key);
      continue;
    }
    for (const GoldColumn& c : gold.columns) predicted += Present(FindField(row, c.name)) ? 1 : 0;
    auto g = gold_row.find(k);
    if (g == gold_row.end()) {
      extra.push_back(key ? *key : nlohmann::json());
      continue;
    }
    answer_for[g->second] = &row;
  }

  int64_t correct = 0;
  nlohmann::json cells = nlohmann::json::array(), missing = nlohmann::json::array();
  for (size_t r = 0; r < gold.keys.size(); ++r) {
    auto a = answer_for.find(r);
    if (a == answer_for.end()) missing.push_back(gold.keys[r]);
    for (size_t c = 0; c < gold.columns.size(); ++c) {
      const nlohmann::json* p = a == answer_for.end() ? nullptr : FindField(*a->second, gold.columns[c].name);
      bool ok = Present(p) && CellEquals(gold.columns[c].type, gold.cells[r][c], *p);
      correct += ok ? 1 : 0;
      cells.push_back({{"entity", gold.keys[r]},
                       {"column", gold.columns[c].name},
                       {"gold", gold.cells[r][c]},
                       {"predicted", p ? *p : nlohmann::json()},
                       {"correct", ok}});
    }
  }

  const int64_t gold_cells = static_cast<int64_t>(gold.keys.size() * gold.columns.size());
  Verdict v;
  v.precision = predicted > 0 ? static_cast<double>(correct) / static_cast<double>(predicted) : 0.0;
  v.recall = gold_cells > 0 ? static_cast<double>(correct) / static_cast<double>(gold_cells) : 0.0;
  v.item_f1 = v.precision + v.recall > 0 ? 2 * v.precision * v.recall / (v.precision + v.recall) : 0.0;
  v.success = gold_cells > 0 && correct == gold_cells && extra.empty();
  v.reward = v.item_f1;
  v.details = {{"gold_rows", gold.keys.size()},
               {"answer_rows", rows.size()},
               {"gold_cells", gold_cells},
               {"predicted_cells", predicted},
               {"correct_cells", correct},
               {"missing_rows", missing},
               {"extra_rows", extra},
               {"duplicate_rows", duplicates},
               {"cells", cells}};
  if (rows.empty()) v.details["reason"] = "the answer's table has no rows";
  return v;
}

}  // namespace tide::env
