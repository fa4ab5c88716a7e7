#include "tide/env/research_graph.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "tide/env/name_generator.h"
#include "tide/env/profile_templates.h"
#include "tide/env/research_schema.h"

namespace tide::env {
namespace {

int64_t Pow10(int e) {
  int64_t v = 1;
  while (e-- > 0) v *= 10;
  return v;
}

std::string WithCommas(const std::string& digits) {
  std::string out;
  const int n = static_cast<int>(digits.size());
  for (int i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[static_cast<size_t>(i)]);
  }
  return out;
}

std::string Tenths(int64_t tenths) { return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10); }

std::string DrawDate(SeededRandom& rng, int from_year, int to_year) {
  int year = static_cast<int>(rng.Range(from_year, to_year));
  int month = static_cast<int>(rng.Range(1, 12));
  return IsoDate(year, month, static_cast<int>(rng.Range(1, DaysInMonth(year, month))));
}

std::string DrawMagnitude(SeededRandom& rng, int lo_exp, int hi_exp) {
  int e = static_cast<int>(rng.Range(lo_exp, hi_exp));
  return std::to_string(rng.Range(Pow10(e), Pow10(e + 1) - 1));
}

// A value of an attribute field (not a relation).
std::string DrawAttribute(SeededRandom& rng, const GraphField& f) {
  if (f.name == "sector") return rng.Pick(ResearchSectors());
  if (f.name == "employees") return DrawMagnitude(rng, 1, 4);
  if (f.name == "revenue") return Tenths(std::stoll(DrawMagnitude(rng, 2, 5)));
  if (f.name == "founded") return DrawDate(rng, 1950, 2022);
  if (f.name == "born") return DrawDate(rng, 1930, 1995);
  if (f.name == "net_worth") return Tenths(std::stoll(DrawMagnitude(rng, 2, 4)));
  if (f.name == "population") return DrawMagnitude(rng, 3, 6);
  if (f.name == "country") return rng.Pick(GraphCountries());
  return Tenths(std::stoll(DrawMagnitude(rng, 2, 4)));  // area
}

std::string UniqueName(SeededRandom& rng, std::set<std::string>& taken, EntityKind kind, const std::string& near_of) {
  for (int attempt = 0;; ++attempt) {
    std::string name;
    if (!near_of.empty()) {
      name = NearName(rng, near_of);
    } else if (kind == EntityKind::kOrganisation) {
      name = OrganisationName(rng);
    } else if (kind == EntityKind::kPerson) {
      name = PersonName(rng);
    } else {
      name = CityName(rng);
    }
    if (attempt > 20) {
      name += ' ';
      name += SyllableWord(rng, 2, 2);
    }
    if (taken.insert(NormalizeText(name)).second) return name;
  }
}

void SetRelation(GraphEntity& e, const std::string& field, int target, const KnowledgeGraph& g) {
  e.links[field] = target;
  e.values[field] = g.entities[static_cast<size_t>(target)].name;
}

// Fills every field of `e` (relations pointing at true entities of `pool`).
void FillFields(SeededRandom& rng, GraphEntity& e, int index, const KnowledgeGraph& g,
                const std::map<EntityKind, std::vector<int>>& pool) {
  for (const GraphField* f : FieldsOf(e.kind)) {
    if (!f->relation) {
      e.values[f->name] = DrawAttribute(rng, *f);
      continue;
    }
    const std::vector<int>& targets = pool.at(f->target);
    if (f->name == "parent_company") {
      // Only an earlier organisation can be a parent, so ownership has no cycles.
      std::vector<int> earlier;
      for (int t : targets) {
        if (t < index) earlier.push_back(t);
      }
      if (earlier.empty() || !rng.Chance(1, 2)) continue;
      SetRelation(e, f->name, rng.Pick(earlier), g);
      continue;
    }
    SetRelation(e, f->name, rng.Pick(targets), g);
  }
}

const std::vector<std::string>& Fillers(EntityKind kind) {
  static const std::vector<std::string> kPerson = {
      "Friends describe this person as curious and patient.", "They rarely give interviews.",
      "They collect old maps in their spare time.", "They have written two short books."};
  static const std::vector<std::string> kCity = {
      "The city hosts a weekly market.", "A river runs through the old town.",
      "Its railway station was rebuilt recently.", "Tourists visit it for its gardens."};
  if (kind == EntityKind::kPerson) return kPerson;
  if (kind == EntityKind::kCity) return kCity;
  return ProfileFillerSentences();
}

std::string ProfileText(SeededRandom& rng, const GraphEntity& e, const KnowledgeGraph& g) {
  static const std::map<EntityKind, std::vector<std::string>> kOpenings = {
      {EntityKind::kOrganisation, {"a privately held company", "a publicly listed company", "a family-owned company"}},
      {EntityKind::kPerson, {"a business figure", "an investor and entrepreneur", "a public figure"}},
      {EntityKind::kCity, {"a city", "a regional capital", "a port city"}}};
  std::vector<std::string> sentences;
  for (const GraphField* f : FieldsOf(e.kind)) {
    auto v = e.values.find(f->name);
    if (v == e.values.end()) {
      if (f->name == "parent_company") sentences.push_back(e.name + " is independent and has no parent company.");
      continue;
    }
    std::string prose = f->relation ? v->second : ProseValue(rng, f->type, v->second);
    sentences.push_back(RenderTemplate(rng.Pick(f->templates), e.name, prose));
  }
  const std::vector<std::string>& fillers = Fillers(e.kind);
  for (size_t i : rng.Sample(fillers.size(), static_cast<size_t>(rng.Range(1, 2)))) sentences.push_back(fillers[i]);
  rng.Shuffle(sentences);
  std::string text = e.name + " is " + rng.Pick(kOpenings.at(e.kind)) + ".";
  if (e.near_of >= 0) text += " It is not to be confused with " + g.entities[static_cast<size_t>(e.near_of)].name + ".";
  const size_t split = sentences.size() / 2;
  for (size_t i = 0; i < sentences.size(); ++i) text += (i == split ? "\n\n" : " ") + sentences[i];
  return text;
}

}  // namespace

std::string ProseValue(SeededRandom& rng, CellType type, const std::string& canonical) {
  if (type == CellType::kInteger) return rng.Chance(2, 3) ? WithCommas(canonical) : canonical;
  if (type == CellType::kNumber) {
    size_t dot = canonical.find('.');
    if (dot == std::string::npos || !rng.Chance(1, 2)) return canonical;
    return WithCommas(canonical.substr(0, dot)) + canonical.substr(dot);
  }
  if (type == CellType::kDate) {
    int y = std::stoi(canonical.substr(0, 4)), m = std::stoi(canonical.substr(5, 2)),
        d = std::stoi(canonical.substr(8, 2));
    switch (rng.Below(3)) {
      case 0: return canonical;
      case 1: return std::string(MonthName(m)) + " " + std::to_string(d) + ", " + std::to_string(y);
      default: return std::to_string(d) + " " + MonthName(m) + " " + std::to_string(y);
    }
  }
  return canonical;
}

int KnowledgeGraph::Find(std::string_view name_or_id) const {
  const std::string want = NormalizeText(name_or_id);
  for (size_t i = 0; i < entities.size(); ++i) {
    if (NormalizeText(entities[i].name) == want || entities[i].id == want) return static_cast<int>(i);
  }
  return -1;
}

std::vector<int> KnowledgeGraph::OfKind(EntityKind kind) const {
  std::vector<int> out;
  for (size_t i = 0; i < entities.size(); ++i) {
    if (entities[i].kind == kind && entities[i].near_of < 0) out.push_back(static_cast<int>(i));
  }
  return out;
}

KnowledgeGraph GenerateGraph(SeededRandom& rng, const GraphOptions& options) {
  KnowledgeGraph g;
  std::set<std::string> taken;
  std::map<EntityKind, std::vector<int>> pool;
  const std::pair<EntityKind, int> counts[] = {{EntityKind::kCity, std::max(1, options.cities)},
                                               {EntityKind::kPerson, std::max(1, options.people)},
                                               {EntityKind::kOrganisation, std::max(1, options.organisations)}};
  for (const auto& [kind, n] : counts) {
    for (int i = 0; i < n; ++i) {
      GraphEntity e;
      e.kind = kind;
      e.name = UniqueName(rng, taken, kind, "");
      pool[kind].push_back(static_cast<int>(g.entities.size()));
      g.entities.push_back(std::move(e));
    }
  }
  for (size_t i = 0; i < g.entities.size(); ++i) {
    GraphEntity e = g.entities[i];
    FillFields(rng, e, static_cast<int>(i), g, pool);
    g.entities[i] = std::move(e);
  }
  return g;
}

void AddDistractors(SeededRandom& rng, KnowledgeGraph& g, const std::vector<int>& targets, int near_names,
                    int outdated_items) {
  const size_t true_count = g.entities.size();
  std::set<std::string> taken;
  for (const GraphEntity& e : g.entities) taken.insert(NormalizeText(e.name));
  std::vector<int> order = targets;
  for (size_t i : rng.Sample(true_count, true_count)) order.push_back(static_cast<int>(i));
  std::map<EntityKind, std::vector<int>> pool;
  for (EntityKind k : {EntityKind::kOrganisation, EntityKind::kPerson, EntityKind::kCity}) pool[k] = g.OfKind(k);

  for (int k = 0; k < near_names; ++k) {
    const int of = order[static_cast<size_t>(k) % order.size()];
    GraphEntity e;
    e.kind = g.entities[static_cast<size_t>(of)].kind;
    e.near_of = of;
    e.name = UniqueName(rng, taken, e.kind, g.entities[static_cast<size_t>(of)].name);
    FillFields(rng, e, static_cast<int>(true_count), g, pool);
    for (auto& [field, value] : e.values) {
      const GraphField* f = FindGraphField(field);
      const auto& truth = g.entities[static_cast<size_t>(of)].values;
      for (int retry = 0; retry < 10 && !f->relation && truth.count(field) && value == truth.at(field); ++retry) {
        value = DrawAttribute(rng, *f);
      }
    }
    g.entities.push_back(std::move(e));
  }

  static const std::vector<std::string> kArchive = {"archive item", "old report", "background note"};
  for (int k = 0; k < outdated_items; ++k) {
    const int t = order[static_cast<size_t>(k) % order.size()];
    const GraphEntity& e = g.entities[static_cast<size_t>(t)];
    std::vector<const GraphField*> fields;
    for (const GraphField* f : FieldsOf(e.kind)) {
      if (e.values.count(f->name)) fields.push_back(f);
    }
    const GraphField& f = *rng.Pick(fields);
    const std::string& truth = e.values.at(f.name);
    std::string old = truth;
    for (int retry = 0; retry < 20 && old == truth; ++retry) {
      old = f.relation ? g.entities[static_cast<size_t>(rng.Pick(pool[f.target]))].name : DrawAttribute(rng, f);
    }
    if (old == truth) continue;
    const int year = static_cast<int>(rng.Range(1995, 2012));
    Document d;
    d.title = e.name + ": " + rng.Pick(kArchive) + " (" + std::to_string(year) + ")";
    d.entity = t;
    d.text = "This item is from our " + std::to_string(year) + " archive and may be out of date. " +
             RenderTemplate(rng.Pick(f.templates), e.name, f.relation ? old : ProseValue(rng, f.type, old)) +
             " Readers should check the current profile for later changes.";
    g.documents.push_back(std::move(d));
  }
}

void BuildDocuments(SeededRandom& rng, KnowledgeGraph& g) {
  for (size_t i = 0; i < g.entities.size(); ++i) {
    GraphEntity& e = g.entities[i];
    char id[32];
    std::snprintf(id, sizeof(id), "ent-%04zu", i + 1);
    e.id = id;
    Document d;
    d.title = e.name;
    d.text = ProfileText(rng, e, g);
    d.is_profile = true;
    d.entity = static_cast<int>(i);
    g.documents.push_back(std::move(d));
    e.has_record = rng.Chance(4, 5);
    if (!e.has_record) continue;
    for (const GraphField* f : FieldsOf(e.kind)) {
      if (e.values.count(f->name) && rng.Chance(2, 3)) e.record_fields.push_back(f->name);
    }
  }
  rng.Shuffle(g.documents);
  for (size_t i = 0; i < g.documents.size(); ++i) g.documents[i].doc_id = DocId(i);
}

}  // namespace tide::env
