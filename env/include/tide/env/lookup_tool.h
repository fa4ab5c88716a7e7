// The research world's third tool, a structured database over the knowledge graph:
//   lookup(entity: string)  — an entity's exact name (case and spacing ignored) or id
//     -> {"id", "kind", "name", "fields": {field: value}} where values are typed JSON
//        (integers and numbers as numbers, dates as "YYYY-MM-DD", relations as the other
//        entity's name). The database is partial: it holds only some fields of an entity
//        (a field not listed is unknown to it, not absent from the world), and some
//        entities have no record at all (NOT_FOUND naming the entity). Its values are
//        current, the same as the official profiles'. An unknown name is NOT_FOUND too.
//
// Thread safety: reads an immutable KnowledgeGraph; one tool serves any number of agents.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "tide/env/research_graph.h"
#include "tide/workers/tool.h"

namespace tide::env {

inline constexpr char kLookupToolName[] = "lookup";

std::shared_ptr<workers::Tool> MakeLookupTool(std::shared_ptr<const KnowledgeGraph> graph);

// The JSON value of a canonical field text by type (numbers as numbers; others as text).
nlohmann::json FieldJson(CellType type, const std::string& canonical);

}  // namespace tide::env
