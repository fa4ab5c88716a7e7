#include "tide/env/episode_sessions.h"

#include <atomic>
#include <cstdio>
#include <random>

#include "tide/workers/tool_registry.h"

namespace tide::env {

using nlohmann::json;

Status ApplyTaskKnobs(const json& knobs, TaskParams* params) {
  if (knobs.is_null()) return Status::Ok();
  if (!knobs.is_object()) return InvalidArgument("knobs must be a JSON object, got " + std::string(knobs.type_name()));
  static const char* const kKnown[] = {"items", "columns", "distractors", "hops", "failure_rate"};
  for (const auto& [key, value] : knobs.items()) {
    if (key == "failure_rate") {
      if (!value.is_number()) return InvalidArgument("knob \"failure_rate\" must be a number, got " + value.dump());
      params->failure_rate = value.get<double>();
      continue;
    }
    int* target = nullptr;
    if (key == "items") target = &params->items;
    if (key == "columns") target = &params->columns;
    if (key == "distractors") target = &params->distractors;
    if (key == "hops") target = &params->hops;
    if (target == nullptr) {
      std::string known;
      for (const char* k : kKnown) known += (known.empty() ? "" : ", ") + std::string(k);
      return InvalidArgument("unknown knob \"" + key + "\" (known: " + known + ")");
    }
    if (!value.is_number_integer()) {
      return InvalidArgument("knob \"" + key + "\" must be an integer, got " + value.dump());
    }
    const int64_t v = value.get<int64_t>();
    if (v < INT32_MIN || v > INT32_MAX) return InvalidArgument("knob \"" + key + "\" is out of range: " + value.dump());
    *target = static_cast<int>(v);
  }
  return Status::Ok();
}

struct EpisodeSessions::Live {
  std::unique_ptr<Episode> episode;
  workers::ToolRegistry tools;
  std::atomic<int> steps{0};
  std::atomic<int> error_steps{0};
};

namespace {

std::string RandomPrefix() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
  return std::string("ep-") + buf + "-";
}

}  // namespace

EpisodeSessions::EpisodeSessions(size_t max_episodes)
    : max_episodes_(max_episodes == 0 ? 1 : max_episodes), id_prefix_(RandomPrefix()) {}

Result<EpisodeSessions::Started> EpisodeSessions::Reset(const std::string& world_name, const TaskParams& params) {
  TIDE_ASSIGN_OR_RETURN(const World* world, FindWorld(world_name));
  TIDE_ASSIGN_OR_RETURN(std::unique_ptr<Episode> episode, world->Reset(params));
  auto live = std::make_shared<Live>();
  live->episode = std::move(episode);
  for (const auto& tool : live->episode->tools()) {
    // A world whose tools share a name is a bug in the world, not in the request.
    if (Status s = live->tools.Add(tool); !s.ok()) return Internal("world " + world_name + ": " + s.message());
  }
  Started out;
  out.world = world->name();
  out.family = live->episode->family();
  out.prompt = live->episode->prompt();
  out.public_task = live->episode->public_task();
  out.tools = live->tools.Specs();

  std::lock_guard<std::mutex> lock(mu_);
  out.id = id_prefix_ + std::to_string(next_id_++);
  lru_.push_front(out.id);
  episodes_[out.id] = Entry{std::move(live), lru_.begin()};
  while (episodes_.size() > max_episodes_) {
    episodes_.erase(lru_.back());
    lru_.pop_back();
    ++expired_;
  }
  return out;
}

Result<std::shared_ptr<EpisodeSessions::Live>> EpisodeSessions::Find(const std::string& episode_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = episodes_.find(episode_id);
  if (it == episodes_.end()) {
    return NotFound("no episode with id \"" + episode_id + "\" (it may have expired: this server keeps the " +
                    std::to_string(max_episodes_) + " most recently used episodes)");
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);  // now the most recently used
  return it->second.live;
}

Result<EpisodeSessions::StepResult> EpisodeSessions::Step(const std::string& episode_id, const workers::ToolCall& call) {
  // The shared_ptr keeps the episode alive through the call even if the cap drops it.
  TIDE_ASSIGN_OR_RETURN(std::shared_ptr<Live> live, Find(episode_id));
  StepResult out;
  out.step = ++live->steps;
  workers::ToolObservation obs = live->tools.Invoke(call);
  out.observation = std::move(obs.content);
  out.is_error = obs.is_error;
  if (out.is_error) ++live->error_steps;
  return out;
}

Result<EpisodeSessions::Scored> EpisodeSessions::Verify(const std::string& episode_id, const std::string& answer) {
  TIDE_ASSIGN_OR_RETURN(std::shared_ptr<Live> live, Find(episode_id));
  Scored out;
  out.verdict = live->episode->Verify(answer);
  out.steps = live->steps.load();
  out.error_steps = live->error_steps.load();
  return out;
}

Status EpisodeSessions::Close(const std::string& episode_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = episodes_.find(episode_id);
  if (it == episodes_.end()) return NotFound("no episode with id \"" + episode_id + "\"");
  lru_.erase(it->second.lru);
  episodes_.erase(it);
  return Status::Ok();
}

size_t EpisodeSessions::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return episodes_.size();
}

uint64_t EpisodeSessions::expired() const {
  std::lock_guard<std::mutex> lock(mu_);
  return expired_;
}

}  // namespace tide::env
