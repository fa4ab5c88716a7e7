#include "tide/env/lookup_tool.h"

#include <gtest/gtest.h>

namespace tide::env {
namespace {

std::shared_ptr<const KnowledgeGraph> Graph(uint64_t seed) {
  SeededRandom rng(seed);
  auto g = std::make_shared<KnowledgeGraph>(GenerateGraph(rng, {12, 10, 6}));
  AddDistractors(rng, *g, {}, 3, 3);
  BuildDocuments(rng, *g);
  return g;
}

TEST(LookupToolTest, ReturnsThePartialRecordWithTypedValues) {
  auto g = Graph(4);
  auto tool = MakeLookupTool(g);
  EXPECT_EQ(tool->spec().name, "lookup");
  int checked = 0;
  for (const GraphEntity& e : g->entities) {
    if (!e.has_record || e.record_fields.empty()) continue;
    Result<std::string> out = tool->Call({{"entity", e.name}});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    nlohmann::json j = nlohmann::json::parse(*out);
    EXPECT_EQ(j["id"], e.id);
    EXPECT_EQ(j["kind"], EntityKindName(e.kind));
    EXPECT_EQ(j["fields"].size(), e.record_fields.size());
    for (const std::string& f : e.record_fields) {
      const GraphField* field = FindGraphField(f);
      const nlohmann::json& v = j["fields"][f];
      if (!field->relation && (field->type == CellType::kInteger || field->type == CellType::kNumber)) {
        EXPECT_TRUE(v.is_number()) << f;
      }
      EXPECT_TRUE(CellEquals(field->relation ? CellType::kString : field->type, e.values.at(f), v)) << f;
    }
    // By id, and by name in another case and spacing, the same record.
    EXPECT_EQ(*tool->Call({{"entity", e.id}}), *out);
    std::string loud = e.name;
    for (char& c : loud) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(*tool->Call({{"entity", "  " + loud}}), *out);
    ++checked;
  }
  EXPECT_GT(checked, 10);
}

TEST(LookupToolTest, MissingRecordsAndUnknownNamesAreNotFoundNamingThem) {
  auto g = Graph(4);
  auto tool = MakeLookupTool(g);
  int without = 0;
  for (const GraphEntity& e : g->entities) {
    if (e.has_record) continue;
    Result<std::string> out = tool->Call({{"entity", e.name}});
    EXPECT_EQ(out.status().code(), StatusCode::kNotFound);
    EXPECT_NE(out.status().message().find(e.name), std::string::npos);
    ++without;
  }
  EXPECT_GT(without, 0);  // about one in five entities has no record
  Result<std::string> unknown = tool->Call({{"entity", "Nobody Anywhere"}});
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("Nobody Anywhere"), std::string::npos);
  EXPECT_EQ(tool->Call({{"entity", 3}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tool->Call(nlohmann::json::object()).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tide::env
