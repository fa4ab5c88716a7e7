#include "tide/env/graph_schema.h"

#include "tide/env/profile_templates.h"
#include "tide/env/research_schema.h"

namespace tide::env {
namespace {

GraphField OrgAttribute(const std::string& name, const std::string& phrase) {
  const AttributeInfo* info = FindResearchAttribute(name);
  return {name, EntityKind::kOrganisation, info->type, false, EntityKind::kOrganisation, phrase,
          info->description, ProfileTemplates(name)};
}

GraphField OrgRelation(const std::string& name, EntityKind target, const std::string& phrase) {
  GraphField f = OrgAttribute(name, phrase);
  f.relation = true;
  f.target = target;
  return f;
}

std::vector<GraphField> BuildFields() {
  using K = EntityKind;
  std::vector<GraphField> f;
  f.push_back(OrgRelation("headquarters", K::kCity, "headquarters city"));
  f.push_back(OrgRelation("founder", K::kPerson, "founder"));
  f.push_back(OrgAttribute("sector", "sector"));
  f.push_back(OrgAttribute("employees", "number of employees"));
  f.push_back(OrgAttribute("revenue", "annual revenue (million USD)"));
  f.push_back(OrgAttribute("founded", "founding date"));
  f.push_back({"parent_company", K::kOrganisation, CellType::kString, true, K::kOrganisation, "parent company",
               "string, the name of the parent company",
               {"{name} is a subsidiary of {v}.", "{name} has been owned by {v} since an acquisition.",
                "The parent company of {name} is {v}, which holds all of its shares."}});
  f.push_back({"born", K::kPerson, CellType::kDate, false, K::kOrganisation, "date of birth",
               "date, date of birth as YYYY-MM-DD",
               {"{name} was born on {v}.", "Records give the date of birth of {name} as {v}.",
                "{name} celebrates a birthday each year, having been born on {v} in a small clinic."}});
  f.push_back({"birthplace", K::kPerson, CellType::kString, true, K::kCity, "birthplace",
               "string, the city of birth",
               {"{name} was born in {v}.", "{name} grew up in {v}, the city of their birth.",
                "The birthplace of {name} is {v}, according to the civil register."}});
  f.push_back({"net_worth", K::kPerson, CellType::kNumber, false, K::kOrganisation, "net worth (million USD)",
               "number, estimated net worth in million USD",
               {"{name} has an estimated net worth of US${v} million.",
                "Estimates put the fortune of {name} at {v} million US dollars."}});
  f.push_back({"population", K::kCity, CellType::kInteger, false, K::kOrganisation, "population",
               "integer, number of inhabitants",
               {"{name} has a population of {v} people.", "The census counts {v} inhabitants in {name}."}});
  f.push_back({"country", K::kCity, CellType::kString, false, K::kOrganisation, "country",
               "string, the country the city lies in",
               {"{name} is a city in {v}, near its northern border.", "{name} lies in the country of {v}."}});
  f.push_back({"area", K::kCity, CellType::kNumber, false, K::kOrganisation, "area (square kilometres)",
               "number, area in square kilometres",
               {"{name} covers an area of {v} square kilometres.", "The city limits of {name} enclose {v} km2."}});
  f.push_back({"mayor", K::kCity, CellType::kString, true, K::kPerson, "mayor", "string, the mayor's full name",
               {"The mayor of {name} is {v}.", "{name} is governed by mayor {v}, elected last year."}});
  return f;
}

}  // namespace

const char* EntityKindName(EntityKind kind) {
  switch (kind) {
    case EntityKind::kOrganisation: return "organisation";
    case EntityKind::kPerson: return "person";
    case EntityKind::kCity: return "city";
  }
  return "organisation";
}

const std::vector<GraphField>& GraphFields() {
  static const std::vector<GraphField> kFields = BuildFields();
  return kFields;
}

const GraphField* FindGraphField(std::string_view name) {
  for (const GraphField& f : GraphFields()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::vector<const GraphField*> FieldsOf(EntityKind kind) {
  std::vector<const GraphField*> out;
  for (const GraphField& f : GraphFields()) {
    if (f.owner == kind) out.push_back(&f);
  }
  return out;
}

const std::vector<std::string>& GraphCountries() {
  static const std::vector<std::string> kCountries = {"Aldoria", "Belvania", "Corvinia", "Drelland",
                                                      "Estmark", "Galvora",  "Harlund",  "Istrava"};
  return kCountries;
}

}  // namespace tide::env
