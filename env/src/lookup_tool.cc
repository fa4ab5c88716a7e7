#include "tide/env/lookup_tool.h"

#include <string>

namespace tide::env {
namespace {

class LookupTool : public workers::Tool {
 public:
  explicit LookupTool(std::shared_ptr<const KnowledgeGraph> graph) : graph_(std::move(graph)) {
    spec_.name = kLookupToolName;
    spec_.description =
        "Look an organisation, person or city up in a structured database by its exact name or id. Returns "
        "{id, kind, name, fields}. The database is partial: it lacks some fields and some entities; read the "
        "entity's profile for those.";
    spec_.parameters = {
        {"type", "object"},
        {"properties",
         {{"entity",
           {{"type", "string"}, {"minLength", 1}, {"description", "the exact name, or an id such as \"ent-0042\""}}}}},
        {"required", {"entity"}},
        {"additionalProperties", false},
    };
  }

  const workers::ToolSpec& spec() const override { return spec_; }

  Result<std::string> Call(const nlohmann::json& arguments) override {
    auto it = arguments.find("entity");
    if (it == arguments.end() || !it->is_string()) return InvalidArgument("lookup: entity must be a string");
    const std::string query = it->get<std::string>();
    const int index = graph_->Find(query);
    if (index < 0) {
      return NotFound("lookup: no entity named \"" + query + "\" in the database; check the exact name or search");
    }
    const GraphEntity& e = graph_->entities[static_cast<size_t>(index)];
    if (!e.has_record) {
      return NotFound("lookup: the database has no record of \"" + e.name + "\"; read its profile instead");
    }
    nlohmann::ordered_json fields = nlohmann::ordered_json::object();
    for (const std::string& name : e.record_fields) {
      const GraphField* f = FindGraphField(name);
      fields[name] = FieldJson(f->relation ? CellType::kString : f->type, e.values.at(name));
    }
    return nlohmann::ordered_json{{"id", e.id}, {"kind", EntityKindName(e.kind)}, {"name", e.name}, {"fields", fields}}
        .dump();
  }

 private:
  std::shared_ptr<const KnowledgeGraph> graph_;
  workers::ToolSpec spec_;
};

}  // namespace

nlohmann::json FieldJson(CellType type, const std::string& canonical) {
  if (type == CellType::kString || type == CellType::kDate) return canonical;
  return CellFromText(type, canonical);
}

std::shared_ptr<workers::Tool> MakeLookupTool(std::shared_ptr<const KnowledgeGraph> graph) {
  return std::make_shared<LookupTool>(std::move(graph));
}

}  // namespace tide::env
