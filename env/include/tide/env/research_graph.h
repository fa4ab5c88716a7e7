// The research world's knowledge graph: organisations, people and cities with typed
// attributes and relations (graph_schema.h), the documents about them, and the records of
// the `lookup` database. Built in three deterministic steps from one SeededRandom:
//   1. GenerateGraph: the true entities and relations;
//   2. AddDistractors: near-name look-alikes of the given targets (each with its own
//      profile and values) and outdated archive items that state a field of a target with
//      a value that is no longer true — a conflicting source that only the official
//      profile (the document titled exactly with the entity's name) overrules;
//   3. BuildDocuments: one official profile per entity, the archive items, shuffled and
//      given doc ids, plus the lookup records: most entities have one, holding only some
//      of their fields (true values, never outdated ones).
// The same generator state and options give the same graph, byte for byte.
//
// A KnowledgeGraph is immutable once built; safe to read from any number of threads.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tide/env/corpus.h"
#include "tide/env/graph_schema.h"
#include "tide/env/seeded_random.h"

namespace tide::env {

struct GraphEntity {
  std::string id;  // "ent-0001", ...: the lookup tool accepts it in place of the name
  EntityKind kind = EntityKind::kOrganisation;
  std::string name;
  std::map<std::string, std::string> values;  // field -> canonical text; relations: the target's name
  std::map<std::string, int> links;           // relation field -> target entity index
  int near_of = -1;                           // the entity this one's name imitates, or -1
  bool has_record = false;                    // the lookup database knows this entity
  std::vector<std::string> record_fields;     // the fields its record holds
};

struct KnowledgeGraph {
  std::vector<GraphEntity> entities;
  std::vector<Document> documents;  // Document::entity indexes `entities`

  // The entity with this exact name (after NormalizeText) or id, or -1.
  int Find(std::string_view name_or_id) const;
  // Indices of the true (not near-name) entities of `kind`.
  std::vector<int> OfKind(EntityKind kind) const;
};

struct GraphOptions {
  int organisations = 20;
  int people = 20;
  int cities = 10;
};

KnowledgeGraph GenerateGraph(SeededRandom& rng, const GraphOptions& options);
// `targets`: entities whose look-alikes and outdated items come first (then random ones).
void AddDistractors(SeededRandom& rng, KnowledgeGraph& graph, const std::vector<int>& targets, int near_names,
                    int outdated_items);
void BuildDocuments(SeededRandom& rng, KnowledgeGraph& graph);

// How a canonical value reads in prose: integers with or without thousands separators,
// numbers likewise, dates as ISO, "March 4, 2011" or "4 March 2011".
std::string ProseValue(SeededRandom& rng, CellType type, const std::string& canonical);

}  // namespace tide::env
