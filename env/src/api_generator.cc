#include "tide/env/api_generator.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>

#include "tide/env/name_generator.h"

namespace tide::env {
namespace {

using nlohmann::json;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Email(const std::string& name) {
  std::string e;
  for (char c : Lower(name)) e += c == ' ' ? '.' : c;
  return e + "@example.com";
}

// A record of `owner` in `status` with all required fields and most optional ones.
ApiRecord NewRecord(SeededRandom& rng, const ApiSuite& suite, int domain, int owner, const std::string& status) {
  const ApiDomain& d = suite.domains[static_cast<size_t>(domain)];
  ApiRecord r;
  r.domain = domain;
  r.owner_id = std::to_string(owner);  // replaced by the owner's id once ids are assigned
  r.status = status;
  for (const ApiField& f : d.fields) {
    if (f.required || rng.Chance(7, 10)) r.fields[f.name] = RandomApiValue(rng, f);
  }
  return r;
}

bool IsNumeric(const ApiField& f) { return f.type == ApiFieldType::kInteger || f.type == ApiFieldType::kNumber; }

double Number(const json& v) { return v.is_number() ? v.get<double>() : 0; }

json NumberIn(SeededRandom& rng, const ApiField& f, double lo, double hi) {
  if (f.type == ApiFieldType::kInteger) {
    return rng.Range(static_cast<int64_t>(std::ceil(lo)), static_cast<int64_t>(std::floor(hi)));
  }
  return static_cast<double>(rng.Range(static_cast<int64_t>(std::ceil(lo * 100)), static_cast<int64_t>(std::floor(hi * 100)))) / 100.0;
}

struct Builder {
  SeededRandom& rng;
  const ApiSuite& suite;
  std::vector<ApiRecord> records;

  void Add(int domain, int owner, const std::string& status) { records.push_back(NewRecord(rng, suite, domain, owner, status)); }
};

}  // namespace

json RandomApiValue(SeededRandom& rng, const ApiField& f) {
  switch (f.type) {
    case ApiFieldType::kString:
      return SyllableWord(rng, 2, 3) + " " + SyllableWord(rng, 1, 3);
    case ApiFieldType::kInteger:
      return rng.Range(static_cast<int64_t>(f.min), static_cast<int64_t>(f.max));
    case ApiFieldType::kNumber:
      return NumberIn(rng, f, f.min, std::min(f.max, f.min + 5000.0));
    case ApiFieldType::kEnum:
      return rng.Pick(f.values);
    case ApiFieldType::kDate: {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", static_cast<int>(rng.Range(2024, 2026)),
                    static_cast<int>(rng.Range(1, 12)), static_cast<int>(rng.Range(1, 28)));
      return std::string(buf);
    }
    case ApiFieldType::kBool:
      return rng.Chance(1, 2);
  }
  return nullptr;
}

Result<ApiGenerated> GenerateApiGoal(const ApiGenerateOptions& options) {
  SeededRandom rng(options.seed);
  auto suite = std::make_shared<ApiSuite>(GenerateApiSuite(rng));
  const int ndomains = static_cast<int>(suite->domains.size());

  // Owners: one per step, a base population, and near-name distractors of step owners.
  std::set<std::string> used;
  std::vector<std::string> names;
  auto fresh = [&] {
    for (;;) {
      std::string n = PersonName(rng);
      if (used.insert(n).second) return n;
    }
  };
  const int nsteps = options.steps;
  const int nbase = std::max(8, nsteps / 2);
  for (int i = 0; i < nsteps + nbase; ++i) names.push_back(fresh());
  std::vector<int> near_of;  // per near owner: the step it imitates
  for (int i = 0; i < options.near_owners && nsteps > 0; ++i) {
    const int step = i % nsteps;
    for (int attempt = 0; attempt < 8; ++attempt) {
      std::string n = NearName(rng, names[static_cast<size_t>(step)]);
      if (used.insert(n).second) {
        names.push_back(n);
        near_of.push_back(step);
        break;
      }
    }
  }

  Builder b{rng, *suite, {}};
  for (int o = 0; o < static_cast<int>(names.size()); ++o) {
    for (int d = 0; d < ndomains; ++d) {
      const int n = static_cast<int>(rng.Range(0, 2));
      for (int k = 0; k < n; ++k) b.Add(d, o, rng.Pick(suite->domains[static_cast<size_t>(d)].statuses));
    }
  }

  // Steps, each about its own owner, with the records that make it non-trivial.
  ApiGenerated out;
  std::vector<int> step_domain(static_cast<size_t>(nsteps));
  for (int i = 0; i < nsteps; ++i) {
    const int d = static_cast<int>(rng.Below(static_cast<uint64_t>(ndomains)));
    step_domain[static_cast<size_t>(i)] = d;
    const ApiDomain& dom = suite->domains[static_cast<size_t>(d)];
    ApiStep s;
    s.noun = dom.noun;
    s.owner = suite->owner;
    s.owner_name = names[static_cast<size_t>(i)];
    const uint64_t roll = rng.Below(4);
    if (roll <= 1) {
      s.kind = ApiStepKind::kTransition;
      const ApiAction& a1 = rng.Pick(dom.actions);
      s.status = rng.Pick(a1.from);
      s.verbs.push_back(a1.verb);
      std::vector<std::string> then;
      for (const ApiAction& a : dom.actions) {
        if (std::find(a.from.begin(), a.from.end(), a1.to) != a.from.end()) then.push_back(a.verb);
      }
      if (!then.empty() && rng.Chance(1, 2)) s.verbs.push_back(rng.Pick(then));
      std::vector<const ApiField*> numeric;
      for (const ApiField& f : dom.fields) {
        if (f.required && IsNumeric(f)) numeric.push_back(&f);
      }
      const int ntargets = static_cast<int>(rng.Range(1, 3));
      if (!numeric.empty() && rng.Chance(1, 3)) {
        const ApiField& f = *rng.Pick(numeric);
        const double hi = std::min(f.max, f.min + 5000.0);
        const int64_t t = rng.Range(static_cast<int64_t>(f.min + (hi - f.min) / 4), static_cast<int64_t>(f.min + (hi - f.min) * 3 / 4));
        s.above_field = f.name;
        s.above = t;
        for (int k = 0; k < ntargets; ++k) {
          b.Add(d, i, s.status);
          b.records.back().fields[f.name] = NumberIn(rng, f, static_cast<double>(t) + 1, hi);
        }
        const int nbelow = static_cast<int>(rng.Range(1, 2));
        for (int k = 0; k < nbelow; ++k) {
          b.Add(d, i, s.status);
          b.records.back().fields[f.name] = NumberIn(rng, f, f.min, static_cast<double>(t));
        }
      } else {
        for (int k = 0; k < ntargets; ++k) b.Add(d, i, s.status);
      }
      // A record the same action could move, in a status the step does not name.
      for (const std::string& other : a1.from) {
        if (other != s.status) b.Add(d, i, other);
      }
    } else if (roll == 2) {
      s.kind = ApiStepKind::kUpdate;
      std::vector<std::string> open;
      for (const std::string& st : dom.statuses) {
        if (!dom.IsTerminal(st)) open.push_back(st);
      }
      s.status = rng.Pick(open);
      const ApiField& f = rng.Pick(dom.fields);
      s.field = f.name;
      s.value = RandomApiValue(rng, f);
      const int ntargets = static_cast<int>(rng.Range(1, 3));
      for (int k = 0; k < ntargets; ++k) {
        b.Add(d, i, s.status);
        for (int tries = 0; tries < 20 && b.records.back().fields.value(f.name, json()) == s.value; ++tries) {
          b.records.back().fields[f.name] = RandomApiValue(rng, f);
        }
        if (b.records.back().fields[f.name] == s.value && f.type == ApiFieldType::kBool) {
          b.records.back().fields[f.name] = !s.value.get<bool>();
        }
      }
    } else {
      s.kind = ApiStepKind::kCreate;
      std::vector<const ApiField*> optional;
      for (const ApiField& f : dom.fields) {
        if (f.required) {
          s.fields[f.name] = RandomApiValue(rng, f);
        } else {
          optional.push_back(&f);
        }
      }
      const size_t nopt = std::min(optional.size(), static_cast<size_t>(rng.Range(0, 2)));
      for (size_t k : rng.Sample(optional.size(), nopt)) s.fields[optional[k]->name] = RandomApiValue(rng, *optional[k]);
    }
    out.task.steps.push_back(std::move(s));
  }
  // Near-name owners hold records the careless would take for the step owner's.
  for (size_t k = 0; k < near_of.size(); ++k) {
    const int step = near_of[k];
    const ApiStep& s = out.task.steps[static_cast<size_t>(step)];
    const int d = step_domain[static_cast<size_t>(step)];
    const std::string status = s.kind == ApiStepKind::kCreate ? suite->domains[static_cast<size_t>(d)].statuses.front() : s.status;
    b.Add(d, nsteps + nbase + static_cast<int>(k), status);
    if (!s.above_field.empty()) {
      const ApiField* f = suite->domains[static_cast<size_t>(d)].FindField(s.above_field);
      b.records.back().fields[s.above_field] = NumberIn(rng, *f, static_cast<double>(s.above) + 1, std::min(f->max, f->min + 5000.0));
    }
  }

  // Ids: owners in a shuffled order, records shuffled then numbered per domain, so that ids
  // say nothing about which records a step is about.
  std::vector<size_t> order(names.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  rng.Shuffle(order);
  std::vector<std::string> owner_id(names.size());
  for (size_t k = 0; k < order.size(); ++k) owner_id[order[k]] = suite->owner_prefix + "-" + std::to_string(101 + k);
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t o = order[k];
    out.initial.owners.push_back({owner_id[o], names[o], Email(names[o])});
  }
  rng.Shuffle(b.records);
  std::vector<int> next(static_cast<size_t>(ndomains), 1001);
  for (ApiRecord& r : b.records) {
    r.owner_id = owner_id[static_cast<size_t>(std::stoi(r.owner_id))];
    r.id = suite->domains[static_cast<size_t>(r.domain)].id_prefix + "-" + std::to_string(next[static_cast<size_t>(r.domain)]++);
  }
  out.initial.records = std::move(b.records);

  // Forbidden: every delete tool and one lifecycle tool no step needs.
  std::set<std::string> needed;
  for (const ApiStep& s : out.task.steps) {
    for (const std::string& v : s.verbs) needed.insert(v + "_" + s.noun);
  }
  std::vector<std::string> unused;
  for (const ApiDomain& d : suite->domains) {
    out.task.forbidden_tools.push_back("delete_" + d.noun);
    for (const ApiAction& a : d.actions) {
      if (!needed.count(a.verb + "_" + d.noun)) unused.push_back(a.verb + "_" + d.noun);
    }
  }
  if (!unused.empty()) out.task.forbidden_tools.push_back(rng.Pick(unused));
  out.task.description = suite->description;

  // The goal state: the steps applied through a failure-free simulator.
  ApiSimulator gold(suite, out.initial, ApiFailureOptions{});
  for (int i = 0; i < nsteps; ++i) {
    const ApiStep& s = out.task.steps[static_cast<size_t>(i)];
    const ApiDomain& d = suite->domains[static_cast<size_t>(step_domain[static_cast<size_t>(i)])];
    const std::string& oid = owner_id[static_cast<size_t>(i)];
    ApiGoalStep g{s, {}};
    std::string created;
    auto call = [&](const std::string& tool, json args) -> Status {
      Result<std::string> r = gold.Call(tool, args);
      if (!r.ok()) return Internal("api goal step " + std::to_string(i + 1) + " (" + tool + "): " + r.status().message());
      created = json::parse(*r).value("id", "");
      return Status::Ok();
    };
    if (s.kind == ApiStepKind::kCreate) {
      json args = s.fields;
      args[d.owner_key()] = oid;
      TIDE_RETURN_IF_ERROR(call("create_" + d.noun, args));
      g.targets.push_back(created);
    } else {
      for (const ApiRecord& r : out.initial.records) {
        if (&suite->domains[static_cast<size_t>(r.domain)] != &d || r.owner_id != oid || r.status != s.status) continue;
        if (!s.above_field.empty() && !(Number(r.fields.value(s.above_field, json())) > static_cast<double>(s.above))) continue;
        g.targets.push_back(r.id);
        if (s.kind == ApiStepKind::kUpdate) {
          TIDE_RETURN_IF_ERROR(call("update_" + d.noun, {{d.id_key(), r.id}, {s.field, s.value}}));
        } else {
          for (const std::string& v : s.verbs) TIDE_RETURN_IF_ERROR(call(v + "_" + d.noun, {{d.id_key(), r.id}}));
        }
      }
    }
    out.steps.push_back(std::move(g));
  }
  out.goal = gold.Snapshot();
  out.suite = std::move(suite);
  return out;
}

}  // namespace tide::env
