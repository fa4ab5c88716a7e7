#include "tide/env/research_graph.h"

#include <set>

#include <gtest/gtest.h>

#include "tide/env/profile_reader.h"

namespace tide::env {
namespace {

KnowledgeGraph Build(uint64_t seed, const std::vector<int>& targets = {}, int near = 5, int old = 5) {
  SeededRandom rng(seed);
  KnowledgeGraph g = GenerateGraph(rng, {20, 15, 8});
  AddDistractors(rng, g, targets, near, old);
  BuildDocuments(rng, g);
  return g;
}

TEST(ResearchGraphTest, SameSeedSameGraph) {
  KnowledgeGraph a = Build(9), b = Build(9), c = Build(10);
  ASSERT_EQ(a.documents.size(), b.documents.size());
  for (size_t i = 0; i < a.documents.size(); ++i) EXPECT_EQ(a.documents[i].text, b.documents[i].text);
  EXPECT_NE(a.documents[0].text, c.documents[0].text);
}

TEST(ResearchGraphTest, EntitiesHaveTypedFieldsAndRelationsPointAtTheirKind) {
  KnowledgeGraph g = Build(3);
  std::set<std::string> names;
  for (const GraphEntity& e : g.entities) {
    EXPECT_TRUE(names.insert(NormalizeText(e.name)).second) << "duplicate name " << e.name;
    for (const auto& [field, value] : e.values) {
      const GraphField* f = FindGraphField(field);
      ASSERT_NE(f, nullptr);
      EXPECT_EQ(f->owner, e.kind);
      if (f->relation) {
        const GraphEntity& t = g.entities[static_cast<size_t>(e.links.at(field))];
        EXPECT_EQ(t.kind, f->target);
        EXPECT_EQ(t.name, value);
        EXPECT_LT(t.near_of, 0) << "relations point at true entities only";
      } else {
        EXPECT_FALSE(CellFromText(f->type, value).is_null()) << field << "=" << value;
      }
    }
    for (const GraphField* f : FieldsOf(e.kind)) {
      if (f->name != "parent_company") EXPECT_TRUE(e.values.count(f->name)) << f->name;
    }
  }
  for (int o : g.OfKind(EntityKind::kOrganisation)) {
    auto p = g.entities[static_cast<size_t>(o)].links.find("parent_company");
    if (p != g.entities[static_cast<size_t>(o)].links.end()) EXPECT_LT(p->second, o) << "ownership has no cycles";
  }
}

TEST(ResearchGraphTest, ProfilesStateEveryFieldAndArchiveItemsContradictThem) {
  KnowledgeGraph g = Build(7, {}, 4, 12);
  int profiles = 0, contradictions = 0;
  for (const Document& d : g.documents) {
    const GraphEntity& e = g.entities[static_cast<size_t>(d.entity)];
    for (const auto& [field, value] : e.values) {
      const GraphField* f = FindGraphField(field);
      std::optional<std::string> raw = ReadTemplatedText(d.text, e.name, f->templates);
      const CellType type = f->relation ? CellType::kString : f->type;
      if (d.is_profile) {
        ASSERT_TRUE(raw.has_value()) << field << " missing from " << d.text;
        EXPECT_TRUE(CellEquals(type, value, CellFromText(type, *raw))) << field << ": " << *raw << " vs " << value;
      } else if (raw) {
        EXPECT_FALSE(CellEquals(type, value, CellFromText(type, *raw))) << "an archive item agrees: " << d.text;
        ++contradictions;
      }
    }
    profiles += d.is_profile;
    EXPECT_EQ(d.is_profile, d.title == e.name);
  }
  EXPECT_EQ(profiles, static_cast<int>(g.entities.size()));
  EXPECT_EQ(contradictions, 12);
}

TEST(ResearchGraphTest, DistractorsImitateTheTargetsFirst) {
  KnowledgeGraph base = Build(5, {}, 0, 0);
  std::vector<int> targets = {base.OfKind(EntityKind::kCity)[0], base.OfKind(EntityKind::kPerson)[1]};
  KnowledgeGraph g = Build(5, targets, 3, 2);
  std::vector<int> near_of;
  for (const GraphEntity& e : g.entities) {
    if (e.near_of >= 0) near_of.push_back(e.near_of);
  }
  ASSERT_EQ(near_of.size(), 3u);
  EXPECT_EQ(near_of[0], targets[0]);
  EXPECT_EQ(near_of[1], targets[1]);
  EXPECT_EQ(g.entities[static_cast<size_t>(near_of[0])].kind, EntityKind::kCity);
  int archive_on_targets = 0;
  for (const Document& d : g.documents) archive_on_targets += !d.is_profile && (d.entity == targets[0] || d.entity == targets[1]);
  EXPECT_EQ(archive_on_targets, 2);
}

TEST(ResearchGraphTest, FindByNameOrId) {
  KnowledgeGraph g = Build(2);
  const GraphEntity& e = g.entities[4];
  EXPECT_EQ(g.Find(e.name), 4);
  EXPECT_EQ(g.Find(e.id), 4);
  EXPECT_EQ(g.Find("  " + NormalizeText(e.name) + " "), 4);
  EXPECT_EQ(g.Find("no such thing"), -1);
}

}  // namespace
}  // namespace tide::env
