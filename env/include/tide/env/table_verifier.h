// The table verifier: scores a table answer against the ground truth cell by cell,
// WideSearch-style (REFERENCE.md). Rows are aligned on the key column (case and whitespace
// ignored); each non-key gold cell is checked by its type (string: normalised exact;
// integer: exact, "1,200" accepted; number: relative tolerance 1e-3; date: equal after
// normalising ISO and written forms). Then
//   precision = correct cells / predicted cells (non-null values in gold columns, over all
//               answer rows, extra rows included),
//   recall    = correct cells / gold cells,
//   item_f1   = their harmonic mean (0 when both are 0),
//   success   = every gold cell right and no extra rows,  reward = item_f1.
// When a key appears in several rows, the first counts and the rest are ignored. A
// malformed answer scores 0 with the reason in details["reason"]; it never fails.
//
// Pure function of its inputs; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "tide/env/cell_values.h"
#include "tide/env/verdict.h"

namespace tide::env {

struct GoldColumn {
  std::string name;
  CellType type = CellType::kString;
};

struct GoldTable {
  std::string key = "entity";
  std::vector<GoldColumn> columns;             // the non-key columns
  std::vector<std::string> keys;               // one per row
  std::vector<std::vector<std::string>> cells; // [row][column], canonical text
};

Verdict VerifyTable(const GoldTable& gold, const std::string& answer_text);

}  // namespace tide::env
