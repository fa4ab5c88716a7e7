#include "tide/orchestrator/event_replay.h"

#include "tide/orchestrator/call_journal.h"
#include "tide/orchestrator/store.h"

namespace tide::orchestrator {
namespace {

bool MeasuresTime(const std::string& field) {
  auto ends_with = [&](std::string_view s) {
    return field.size() >= s.size() && field.compare(field.size() - s.size(), s.size(), s) == 0;
  };
  return field == "ms" || field == "wall_s" || ends_with("_ms");
}

}  // namespace

std::string EventIdentity(tide::v1::EventKind kind, const std::string& agent, const std::string& parent,
                          const nlohmann::json& payload) {
  std::string digest;
  if (payload.is_object()) {
    nlohmann::json stable = nlohmann::json::object();
    for (auto it = payload.begin(); it != payload.end(); ++it) {
      if (!MeasuresTime(it.key())) stable[it.key()] = it.value();
    }
    digest = StableHash(stable.dump());
  } else {
    digest = StableHash(payload.dump());
  }
  // Agent names come from the model and may hold any byte; the lengths keep fields apart.
  return std::to_string(static_cast<int>(kind)) + "|" + std::to_string(agent.size()) + ":" + agent + "|" +
         std::to_string(parent.size()) + ":" + parent + "|" + digest;
}

std::string EventKeys::Next(tide::v1::EventKind kind, const std::string& agent, const std::string& parent,
                            const nlohmann::json& payload) {
  std::string identity = EventIdentity(kind, agent, parent, payload);
  const int n = seen_[identity]++;
  return identity + "#" + std::to_string(n);
}

Result<std::unordered_set<std::string>> StoredEventKeys(Store* store, const std::string& run_id) {
  std::unordered_set<std::string> keys;
  EventKeys next;
  uint64_t from = 0;
  while (true) {
    TIDE_ASSIGN_OR_RETURN(auto batch, store->ReadEvents(run_id, from, 1024));
    if (batch.empty()) return keys;
    for (const auto& [seq, bytes] : batch) {
      tide::v1::SwarmEvent ev;
      if (!ev.ParseFromString(bytes)) return DataLoss("event " + std::to_string(seq) + " of run " + run_id + " is corrupt");
      nlohmann::json payload = nlohmann::json::parse(ev.payload_json(), nullptr, false);
      if (payload.is_discarded()) {
        return DataLoss("event " + std::to_string(seq) + " of run " + run_id + " has a payload that is not JSON");
      }
      keys.insert(next.Next(ev.kind(), ev.agent(), ev.parent_agent(), payload));
      from = seq + 1;
    }
  }
}

}  // namespace tide::orchestrator
