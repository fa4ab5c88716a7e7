// The schema of the research world's knowledge graph (behind the lookup, multi-hop and
// aggregate families): three kinds of entity — organisation, person, city — each with
// typed attributes (integer, number, date, string/enum) and relations to other entities
// (an organisation's parent company, founder and headquarters city; a person's
// birthplace; a city's mayor). Every field has a name unique across kinds (so a field
// name alone says whose it is), the phrase questions use for it, a description, and the
// sentence templates profiles state it with ("{name}" and "{v}", as profile_templates.h).
// An organisation's six wide-task attributes use exactly the wide world's templates, so
// one reader serves both.
//
// Guarantees: within one kind, no two fields' templates share the words right before
// "{v}", and every template has text after "{v}" (so a reader finds a field's sentence
// and nothing else).
//
// Immutable static data; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tide/env/cell_values.h"

namespace tide::env {

enum class EntityKind { kOrganisation, kPerson, kCity };
const char* EntityKindName(EntityKind kind);  // "organisation", "person", "city"

struct GraphField {
  std::string name;         // e.g. "population", "parent_company"
  EntityKind owner;         // the kind of entity that has the field
  CellType type;            // relations are strings: the target's name
  bool relation = false;
  EntityKind target = EntityKind::kOrganisation;  // relations: the kind they point to
  std::string phrase;       // in questions: "parent company", "population"
  std::string description;  // e.g. "integer, number of inhabitants"
  std::vector<std::string> templates;
};

// All fields, organisation fields first, in a fixed order.
const std::vector<GraphField>& GraphFields();
// nullptr for an unknown name.
const GraphField* FindGraphField(std::string_view name);
// The fields of one kind, in GraphFields() order.
std::vector<const GraphField*> FieldsOf(EntityKind kind);

// Fictional countries a city may lie in.
const std::vector<std::string>& GraphCountries();

}  // namespace tide::env
