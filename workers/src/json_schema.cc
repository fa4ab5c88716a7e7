#include "tide/workers/json_schema.h"

#include <cmath>
#include <string>

namespace tide::workers {
namespace {

using nlohmann::json;

std::string Short(const json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

bool MatchesType(const std::string& type, const json& v) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "number") return v.is_number();
  if (type == "integer") {
    if (v.is_number_integer()) return true;
    if (v.is_number_float()) {
      const double d = v.get<double>();
      return std::isfinite(d) && std::floor(d) == d;
    }
    return false;
  }
  return true;  // an unknown type name constrains nothing
}

// A count keyword (minItems, maxLength, ...): a non-negative integer, whether the schema
// holds it signed (built in C++) or unsigned (parsed from text).
bool Count(const json& schema, const char* key, size_t* out) {
  auto m = schema.find(key);
  if (m == schema.end() || !m->is_number_integer()) return false;
  if (!m->is_number_unsigned() && m->get<int64_t>() < 0) return false;
  *out = m->get<size_t>();
  return true;
}

Status Fail(const std::string& path, const std::string& what) { return InvalidArgument(path + ": " + what); }

Status Validate(const json& schema, const json& v, const std::string& path) {
  if (schema.is_boolean()) {
    return schema.get<bool>() ? Status::Ok() : Fail(path, "no value is allowed here");
  }
  if (!schema.is_object()) return Status::Ok();

  if (auto t = schema.find("type"); t != schema.end()) {
    bool ok = false;
    std::string names;
    if (t->is_string()) {
      ok = MatchesType(t->get<std::string>(), v);
      names = t->get<std::string>();
    } else if (t->is_array()) {
      for (const auto& one : *t) {
        if (!one.is_string()) continue;
        ok = ok || MatchesType(one.get<std::string>(), v);
        names += (names.empty() ? "" : " or ") + one.get<std::string>();
      }
    } else {
      ok = true;
    }
    if (!ok) return Fail(path, "expected " + names + ", got " + Short(v));
  }
  if (auto e = schema.find("enum"); e != schema.end() && e->is_array()) {
    bool found = false;
    for (const auto& option : *e) found = found || option == v;
    if (!found) return Fail(path, "must be one of " + Short(*e) + ", got " + Short(v));
  }
  if (auto c = schema.find("const"); c != schema.end() && *c != v) {
    return Fail(path, "must be " + Short(*c) + ", got " + Short(v));
  }
  if (v.is_number()) {
    const double d = v.get<double>();
    if (auto m = schema.find("minimum"); m != schema.end() && m->is_number() && d < m->get<double>()) {
      return Fail(path, "must be >= " + m->dump() + ", got " + Short(v));
    }
    if (auto m = schema.find("maximum"); m != schema.end() && m->is_number() && d > m->get<double>()) {
      return Fail(path, "must be <= " + m->dump() + ", got " + Short(v));
    }
  }
  if (v.is_string()) {
    const size_t n = v.get_ref<const std::string&>().size();
    size_t m = 0;
    if (Count(schema, "minLength", &m) && n < m) {
      return Fail(path, "must be at least " + std::to_string(m) + " characters long");
    }
    if (Count(schema, "maxLength", &m) && n > m) {
      return Fail(path, "must be at most " + std::to_string(m) + " characters long");
    }
  }
  if (v.is_object()) {
    const json* props = nullptr;
    if (auto p = schema.find("properties"); p != schema.end() && p->is_object()) props = &*p;
    if (auto r = schema.find("required"); r != schema.end() && r->is_array()) {
      for (const auto& name : *r) {
        if (name.is_string() && !v.contains(name.get<std::string>())) {
          return Fail(path, "missing required property \"" + name.get<std::string>() + "\"");
        }
      }
    }
    const auto additional = schema.find("additionalProperties");
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string child = path + "." + it.key();
      if (props && props->contains(it.key())) {
        TIDE_RETURN_IF_ERROR(Validate((*props)[it.key()], it.value(), child));
      } else if (additional != schema.end()) {
        if (additional->is_boolean() && !additional->get<bool>()) {
          return Fail(path, "unexpected property \"" + it.key() + "\"");
        }
        TIDE_RETURN_IF_ERROR(Validate(*additional, it.value(), child));
      }
    }
  }
  if (v.is_array()) {
    size_t m = 0;
    if (Count(schema, "minItems", &m) && v.size() < m) {
      return Fail(path, "must have at least " + std::to_string(m) + " items, got " + std::to_string(v.size()));
    }
    if (Count(schema, "maxItems", &m) && v.size() > m) {
      return Fail(path, "must have at most " + std::to_string(m) + " items, got " + std::to_string(v.size()));
    }
    if (auto items = schema.find("items"); items != schema.end()) {
      for (size_t i = 0; i < v.size(); ++i) {
        TIDE_RETURN_IF_ERROR(Validate(*items, v[i], path + "[" + std::to_string(i) + "]"));
      }
    }
  }
  if (auto any = schema.find("anyOf"); any != schema.end() && any->is_array()) {
    Status first;
    for (const auto& option : *any) {
      Status s = Validate(option, v, path);
      if (s.ok()) return Status::Ok();
      if (first.ok()) first = s;
    }
    if (!any->empty()) return first;
  }
  if (auto one = schema.find("oneOf"); one != schema.end() && one->is_array()) {
    int matches = 0;
    Status first;
    for (const auto& option : *one) {
      Status s = Validate(option, v, path);
      if (s.ok()) ++matches;
      else if (first.ok()) first = s;
    }
    if (matches != 1 && !one->empty()) {
      return matches == 0 ? first : Fail(path, "matches more than one schema of oneOf");
    }
  }
  if (auto all = schema.find("allOf"); all != schema.end() && all->is_array()) {
    for (const auto& option : *all) TIDE_RETURN_IF_ERROR(Validate(option, v, path));
  }
  return Status::Ok();
}

}  // namespace

Status ValidateJsonSchema(const nlohmann::json& schema, const nlohmann::json& value) {
  return Validate(schema, value, "$");
}

}  // namespace tide::workers
