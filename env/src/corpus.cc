#include "tide/env/corpus.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "tide/env/cell_values.h"
#include "tide/env/name_generator.h"
#include "tide/env/profile_templates.h"
#include "tide/env/research_schema.h"

namespace tide::env {
namespace {

enum Attr { kHeadquarters = 0, kFounder, kSector, kEmployees, kRevenue, kFounded, kAttrCount };

int64_t Pow10(int e) {
  int64_t v = 1;
  while (e-- > 0) v *= 10;
  return v;
}

std::string WithCommas(int64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  int n = static_cast<int>(digits.size());
  for (int i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[static_cast<size_t>(i)]);
  }
  return out;
}

std::string Tenths(int64_t tenths) {
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10);
}

std::string DrawValue(SeededRandom& rng, int attr, const std::vector<std::string>& cities) {
  switch (attr) {
    case kHeadquarters: return rng.Pick(cities);
    case kFounder: return PersonName(rng);
    case kSector: return rng.Pick(ResearchSectors());
    case kEmployees: {
      int e = static_cast<int>(rng.Range(1, 4));
      return std::to_string(rng.Range(Pow10(e), Pow10(e + 1) - 1));
    }
    case kRevenue: {
      int e = static_cast<int>(rng.Range(1, 5));
      return Tenths(rng.Range(Pow10(e), Pow10(e + 1) - 1));
    }
    default: {
      int year = static_cast<int>(rng.Range(1950, 2022));
      int month = static_cast<int>(rng.Range(1, 12));
      int day = static_cast<int>(rng.Range(1, DaysInMonth(year, month)));
      return IsoDate(year, month, day);
    }
  }
}

// How a value reads in prose: integers with or without thousands separators, dates in
// ISO, "March 4, 2011" or "4 March 2011".
std::string ProseValue(SeededRandom& rng, int attr, const std::string& value) {
  if (attr == kEmployees) {
    return rng.Chance(2, 3) ? WithCommas(std::stoll(value)) : value;
  }
  if (attr == kRevenue) {
    size_t dot = value.find('.');
    if (dot == std::string::npos || !rng.Chance(1, 2)) return value;
    return WithCommas(std::stoll(value.substr(0, dot))) + value.substr(dot);
  }
  if (attr == kFounded) {
    int y = std::stoi(value.substr(0, 4)), m = std::stoi(value.substr(5, 2)), d = std::stoi(value.substr(8, 2));
    switch (rng.Below(3)) {
      case 0: return value;
      case 1: return std::string(MonthName(m)) + " " + std::to_string(d) + ", " + std::to_string(y);
      default: return std::to_string(d) + " " + MonthName(m) + " " + std::to_string(y);
    }
  }
  return value;
}

std::string UniqueName(SeededRandom& rng, std::set<std::string>& taken, const std::string& near_of) {
  for (int attempt = 0;; ++attempt) {
    std::string name = near_of.empty() ? OrganisationName(rng) : NearName(rng, near_of);
    if (attempt > 20) {
      name += ' ';  // two appends: GCC 12's -Wrestrict misfires on `" " + string&&` at -O3
      name += SyllableWord(rng, 2, 2);
    }
    if (taken.insert(NormalizeText(name)).second) return name;
  }
}

std::string ProfileText(SeededRandom& rng, const Entity& e, const std::vector<Entity>& all) {
  static const std::vector<std::string> kKinds = {"a privately held", "a publicly listed", "an employee-owned",
                                                  "a family-owned"};
  std::vector<std::string> sentences;
  for (int a = 0; a < kAttrCount; ++a) {
    const std::string& attr = ResearchAttributes()[static_cast<size_t>(a)].name;
    const std::string& tmpl = rng.Pick(ProfileTemplates(attr));
    sentences.push_back(RenderTemplate(tmpl, e.name, ProseValue(rng, a, e.values[static_cast<size_t>(a)])));
  }
  int fillers = static_cast<int>(rng.Range(1, 2));
  for (size_t i : rng.Sample(ProfileFillerSentences().size(), static_cast<size_t>(fillers))) {
    sentences.push_back(ProfileFillerSentences()[i]);
  }
  rng.Shuffle(sentences);
  std::string text = e.name + " is " + rng.Pick(kKinds) + " company.";
  if (e.near_of >= 0) {
    text += " It is not to be confused with " + all[static_cast<size_t>(e.near_of)].name + ".";
  }
  size_t split = sentences.size() / 2;
  for (size_t i = 0; i < sentences.size(); ++i) {
    text += (i == split ? "\n\n" : " ") + sentences[i];
  }
  return text;
}

Document NewsDocument(SeededRandom& rng, const Entity& e, const std::vector<Entity>& all,
                      const std::vector<std::string>& cities) {
  static const std::vector<std::string> kHeadlines = {"quarterly update", "expansion announced",
                                                      "leadership changes", "analysts weigh in",
                                                      "new contract signed"};
  Document d;
  d.title = e.name + ": " + rng.Pick(kHeadlines);
  d.entity = static_cast<int>(&e - all.data());
  std::string date = DrawValue(rng, kFounded, cities);
  std::string hires = WithCommas(rng.Range(20, 5000));
  std::string deal = Tenths(rng.Range(100, 900000));
  std::string total = WithCommas(rng.Range(1000, 400000));
  std::vector<std::string> s = {
      "On " + date + ", " + e.name + " said it plans to hire " + hires + " new staff over the next year.",
      "Analysts at " + rng.Pick(cities) + " Securities valued a contract won by " + e.name + " at US$" + deal +
          " million.",
      "A spokesperson for " + e.name + " declined to comment on reports that it will open an office in " +
          rng.Pick(cities) + ".",
      "Across the industry, companies like " + e.name + " together employ about " + total + " people.",
  };
  if (e.near_of >= 0) {
    s.push_back("The news follows a similar move by " + all[static_cast<size_t>(e.near_of)].name + ".");
  }
  rng.Shuffle(s);
  s.resize(3);
  d.text = s[0] + " " + s[1] + " " + s[2];
  return d;
}

}  // namespace

std::string DocId(size_t index) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "doc-%04zu", index + 1);
  return buf;
}

const Document* Corpus::FindDocument(std::string_view doc_id) const {
  if (doc_id.size() < 5 || doc_id.substr(0, 4) != "doc-") return nullptr;
  size_t n = 0;
  for (char c : doc_id.substr(4)) {
    if (c < '0' || c > '9' || n > documents.size()) return nullptr;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  if (n == 0 || n > documents.size() || documents[n - 1].doc_id != doc_id) return nullptr;
  return &documents[n - 1];
}

const Document* Corpus::ProfileOf(int e) const {
  for (const Document& d : documents) {
    if (d.is_profile && d.entity == e) return &d;
  }
  return nullptr;
}

Corpus GenerateCorpus(SeededRandom& rng, const CorpusOptions& options) {
  Corpus c;
  const int base = std::max(options.base_entities, options.task_entities);
  std::vector<std::string> cities;
  std::set<std::string> city_names;
  while (static_cast<int>(cities.size()) < std::max(30, base / 2)) {
    std::string city = CityName(rng);
    if (city_names.insert(city).second) cities.push_back(city);
  }
  std::set<std::string> taken;
  for (int i = 0; i < base; ++i) {
    Entity e;
    e.name = UniqueName(rng, taken, "");
    for (int a = 0; a < kAttrCount; ++a) e.values.push_back(DrawValue(rng, a, cities));
    c.entities.push_back(std::move(e));
  }
  for (size_t i : rng.Sample(static_cast<size_t>(base), static_cast<size_t>(options.task_entities))) {
    c.task_entities.push_back(static_cast<int>(i));
  }
  // Near-names imitate the task entities first, then the others in a random order.
  std::vector<int> targets = c.task_entities;
  std::vector<int> others;
  for (size_t i : rng.Sample(static_cast<size_t>(base), static_cast<size_t>(base))) others.push_back(static_cast<int>(i));
  for (int i = 0; static_cast<int>(targets.size()) < options.near_names; ++i) {
    targets.push_back(others[static_cast<size_t>(i) % others.size()]);
  }
  for (int k = 0; k < options.near_names; ++k) {
    int of = targets[static_cast<size_t>(k)];
    Entity e;
    e.near_of = of;
    e.name = UniqueName(rng, taken, c.entities[static_cast<size_t>(of)].name);
    for (int a = 0; a < kAttrCount; ++a) {
      std::string v = DrawValue(rng, a, cities);
      for (int retry = 0; retry < 10 && v == c.entities[static_cast<size_t>(of)].values[static_cast<size_t>(a)]; ++retry) {
        v = DrawValue(rng, a, cities);
      }
      e.values.push_back(std::move(v));
    }
    c.entities.push_back(std::move(e));
  }
  for (size_t i = 0; i < c.entities.size(); ++i) {
    Document d;
    d.title = c.entities[i].name;
    d.text = ProfileText(rng, c.entities[i], c.entities);
    d.is_profile = true;
    d.entity = static_cast<int>(i);
    c.documents.push_back(std::move(d));
  }
  for (int k = 0; k < options.news; ++k) {
    // Three in four news items are about a task entity (or its near-name).
    int e = rng.Chance(3, 4) ? c.task_entities[rng.Below(c.task_entities.size())]
                             : static_cast<int>(rng.Below(c.entities.size()));
    c.documents.push_back(NewsDocument(rng, c.entities[static_cast<size_t>(e)], c.entities, cities));
  }
  rng.Shuffle(c.documents);
  for (size_t i = 0; i < c.documents.size(); ++i) c.documents[i].doc_id = DocId(i);
  return c;
}

}  // namespace tide::env
