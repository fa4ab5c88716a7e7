// Reading JSON configuration with validation. Every error names the source (usually the
// file path) and the field, e.g.
//   configs/swarm.json: field "max_subagents": must be an integer in [1, 100], got 0
// A ConfigReader reads one JSON object; fields not read by the time Finish() is called
// are reported as unknown, so a typo in a config never passes silently.
// Not thread-safe; cheap to build.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"

namespace tide {

// Reads and parses a JSON file. NOT_FOUND if it is missing, INVALID_ARGUMENT (with line
// and column) if it is not valid JSON.
Result<nlohmann::json> LoadJsonFile(const std::string& path);

class ConfigReader {
 public:
  // `source` names where the object came from (a file path, "request"); `prefix` is the
  // dotted path of this object inside it ("" for the root).
  ConfigReader(const nlohmann::json& object, std::string source, std::string prefix = "");

  // Each getter leaves *out untouched when the field is absent and not required.
  Status Int(const std::string& field, int64_t* out, bool required, int64_t min, int64_t max);
  Status Int(const std::string& field, int* out, bool required, int min, int max);
  Status UInt64(const std::string& field, uint64_t* out, bool required);
  Status Double(const std::string& field, double* out, bool required, double min, double max);
  Status Bool(const std::string& field, bool* out, bool required);
  // `allowed` empty means any string.
  Status String(const std::string& field, std::string* out, bool required,
                const std::vector<std::string>& allowed = {});
  // A sub-object, read with its own reader (prefix extended).
  Result<ConfigReader> Object(const std::string& field);
  bool Has(const std::string& field) const;

  // INVALID_ARGUMENT if the object is not a JSON object or has fields nobody read.
  Status Finish() const;

  // "configs/swarm.json: field \"a.b\": <what>"
  Status Error(const std::string& field, const std::string& what) const;

 private:
  const nlohmann::json* Find(const std::string& field);

  const nlohmann::json& object_;
  std::string source_;
  std::string prefix_;
  std::set<std::string> seen_;
};

}  // namespace tide
