// Duplicate detection for generated training data. Two examples are duplicates when their
// normalized messages are equal: tool-call ids are replaced by their order of appearance
// (ids are arbitrary labels), tool-call arguments are re-serialized canonically (key order
// and spacing do not matter), and text content has its surrounding whitespace trimmed.
// Everything else (roles, contents, tool names, call structure) must match exactly. Tide
// fields such as run_id or agent names outside the messages are ignored.
//
// The fingerprint is 128 bits (two independent 64-bit FNV-1a hashes), so accidental
// collisions are negligible at any data-set size Tide produces.
// ExampleDeduper is not thread-safe; NormalizeMessages and Fingerprint are pure.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>

#include <nlohmann/json.hpp>

namespace tide::rl {

struct Fingerprint {
  uint64_t a = 0, b = 0;
  bool operator==(const Fingerprint& o) const { return a == o.a && b == o.b; }
};

// OpenAI-shape messages -> their normalized form (see above). Messages that are not
// objects are kept as they are.
nlohmann::json NormalizeMessages(const nlohmann::json& messages);

Fingerprint FingerprintOf(const std::string& bytes);
// The fingerprint of NormalizeMessages(messages).dump().
Fingerprint MessagesFingerprint(const nlohmann::json& messages);
// Order-sensitive combination, for a whole run made of several examples.
Fingerprint Combine(const Fingerprint& acc, const Fingerprint& next);

class ExampleDeduper {
 public:
  // True the first time a fingerprint is seen, false for every repeat.
  bool Insert(const Fingerprint& f) { return seen_.insert(f).second; }
  bool Contains(const Fingerprint& f) const { return seen_.count(f) > 0; }
  size_t size() const { return seen_.size(); }

 private:
  struct Hash {
    size_t operator()(const Fingerprint& f) const { return static_cast<size_t>(f.a ^ (f.b * 0x9e3779b97f4a7c15ull)); }
  };
  std::unordered_set<Fingerprint, Hash> seen_;
};

}  // namespace tide::rl
