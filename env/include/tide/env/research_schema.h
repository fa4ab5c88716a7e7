// The research world's schema: the attributes every organisation has, their cell types and
// the descriptions tasks show for them, plus the fixed list of sectors. Shared by the
// generator, the task format and the verifier so they agree on names and types.
//
// Immutable static data; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tide/env/cell_values.h"

namespace tide::env {

struct AttributeInfo {
  std::string name;         // the column name in tasks and answers, e.g. "employees"
  CellType type;
  std::string description;  // e.g. "integer, number of employees"
};

// In a fixed order: headquarters, founder, sector, employees, revenue, founded.
const std::vector<AttributeInfo>& ResearchAttributes();
// nullptr when `name` is not an attribute.
const AttributeInfo* FindResearchAttribute(std::string_view name);
// Index of `name` in ResearchAttributes(), or -1.
int ResearchAttributeIndex(std::string_view name);

// The sectors an organisation may be in (lowercase, e.g. "financial services").
const std::vector<std::string>& ResearchSectors();

}  // namespace tide::env
