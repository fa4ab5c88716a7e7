#include "tide/core/json_config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

namespace tide {

Result<nlohmann::json> LoadJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open config file");
  std::stringstream buf;
  buf << in.rdbuf();
  try {
    return nlohmann::json::parse(buf.str());
  } catch (const nlohmann::json::parse_error& e) {
    return InvalidArgument(path + ": not valid JSON: " + e.what());
  }
}

ConfigReader::ConfigReader(const nlohmann::json& object, std::string source, std::string prefix)
    : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

Status ConfigReader::Error(const std::string& field, const std::string& what) const {
  std::string name = prefix_.empty() ? field : prefix_ + "." + field;
  return InvalidArgument(source_ + ": field \"" + name + "\": " + what);
}

bool ConfigReader::Has(const std::string& field) const {
  return object_.is_object() && object_.contains(field);
}

const nlohmann::json* ConfigReader::Find(const std::string& field) {
  seen_.insert(field);
  if (!object_.is_object()) return nullptr;
  auto it = object_.find(field);
  return it == object_.end() ? nullptr : &*it;
}

Status ConfigReader::Int(const std::string& field, int64_t* out, bool required, int64_t min,
                         int64_t max) {
  const nlohmann::json* v = Find(field);
  // Built with appends: GCC 12's -Wrestrict misfires on `"[" + std::string&&` at -O3.
  std::string range = "[";
  range += std::to_string(min);
  range += ", ";
  range += std::to_string(max);
  range += "]";
  if (!v) return required ? Error(field, "is required (an integer in " + range + ")") : Status::Ok();
  int64_t x = 0;
  if (v->is_number_integer()) {
    x = v->get<int64_t>();
  } else if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() &&
             std::fabs(v->get<double>()) < 9e15) {
    x = static_cast<int64_t>(v->get<double>());
  } else {
    return Error(field, "must be an integer in " + range + ", got " + v->dump());
  }
  if (x < min || x > max) return Error(field, "must be an integer in " + range + ", got " + v->dump());
  *out = x;
  return Status::Ok();
}

Status ConfigReader::Int(const std::string& field, int* out, bool required, int min, int max) {
  int64_t x = *out;
  TIDE_RETURN_IF_ERROR(Int(field, &x, required, min, max));
  *out = static_cast<int>(x);
  return Status::Ok();
}

Status ConfigReader::UInt64(const std::string& field, uint64_t* out, bool required) {
  const nlohmann::json* v = Find(field);
  if (!v) return required ? Error(field, "is required (a non-negative integer)") : Status::Ok();
  if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<int64_t>() >= 0)) {
    return Error(field, "must be a non-negative integer, got " + v->dump());
  }
  *out = v->get<uint64_t>();
  return Status::Ok();
}

Status ConfigReader::Double(const std::string& field, double* out, bool required, double min,
                            double max) {
  const nlohmann::json* v = Find(field);
  std::ostringstream range;
  range << "[" << min << ", " << max << "]";
  if (!v) return required ? Error(field, "is required (a number in " + range.str() + ")") : Status::Ok();
  if (!v->is_number()) return Error(field, "must be a number in " + range.str() + ", got " + v->dump());
  const double x = v->get<double>();
  if (!(x >= min && x <= max)) return Error(field, "must be a number in " + range.str() + ", got " + v->dump());
  *out = x;
  return Status::Ok();
}

Status ConfigReader::Bool(const std::string& field, bool* out, bool required) {
  const nlohmann::json* v = Find(field);
  if (!v) return required ? Error(field, "is required (true or false)") : Status::Ok();
  if (!v->is_boolean()) return Error(field, "must be true or false, got " + v->dump());
  *out = v->get<bool>();
  return Status::Ok();
}

Status ConfigReader::String(const std::string& field, std::string* out, bool required,
                            const std::vector<std::string>& allowed) {
  const nlohmann::json* v = Find(field);
  std::string choices;
  for (const auto& a : allowed) choices += (choices.empty() ? "" : ", ") + ("\"" + a + "\"");
  if (!v) {
    return required ? Error(field, allowed.empty() ? "is required (a string)" : "is required (one of " + choices + ")")
                    : Status::Ok();
  }
  if (!v->is_string()) return Error(field, "must be a string, got " + v->dump());
  const std::string s = v->get<std::string>();
  if (!allowed.empty()) {
    bool found = false;
    for (const auto& a : allowed) found = found || a == s;
    if (!found) return Error(field, "must be one of " + choices + ", got \"" + s + "\"");
  }
  *out = s;
  return Status::Ok();
}

Result<ConfigReader> ConfigReader::Object(const std::string& field) {
  const nlohmann::json* v = Find(field);
  if (!v || !v->is_object()) return Error(field, "must be a JSON object");
  return ConfigReader(*v, source_, prefix_.empty() ? field : prefix_ + "." + field);
}

Status ConfigReader::Finish() const {
  if (!object_.is_object()) {
    return InvalidArgument(source_ + ": " + (prefix_.empty() ? "the top level" : "field \"" + prefix_ + "\"") +
                           " must be a JSON object, got " + std::string(object_.type_name()));
  }
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    if (!seen_.count(it.key())) return Error(it.key(), "is not a known field");
  }
  return Status::Ok();
}

}  // namespace tide
