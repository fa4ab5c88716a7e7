#include "tide/env/research_schema.h"

namespace tide::env {

const std::vector<AttributeInfo>& ResearchAttributes() {
  static const std::vector<AttributeInfo> kAttributes = {
      {"headquarters", CellType::kString, "string, the city of the headquarters"},
      {"founder", CellType::kString, "string, the founder's full name"},
      {"sector", CellType::kString, "string, the sector the organisation operates in"},
      {"employees", CellType::kInteger, "integer, number of employees"},
      {"revenue", CellType::kNumber, "number, annual revenue in million USD"},
      {"founded", CellType::kDate, "date, founding date as YYYY-MM-DD"},
  };
  return kAttributes;
}

int ResearchAttributeIndex(std::string_view name) {
  const std::vector<AttributeInfo>& attrs = ResearchAttributes();
  for (size_t i = 0; i < attrs.size(); ++i) {
    if (attrs[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

const AttributeInfo* FindResearchAttribute(std::string_view name) {
  int i = ResearchAttributeIndex(name);
  return i < 0 ? nullptr : &ResearchAttributes()[static_cast<size_t>(i)];
}

const std::vector<std::string>& ResearchSectors() {
  static const std::vector<std::string> kSectors = {
      "aerospace",         "agriculture",     "biotechnology",  "construction",
      "consumer electronics", "energy",       "financial services", "logistics",
      "media",             "mining",          "pharmaceuticals", "retail",
      "semiconductors",    "shipping",        "software",       "telecommunications",
      "textiles",          "tourism",
  };
  return kSectors;
}

}  // namespace tide::env
