// World and Episode: the env's view of a synthetic, verifiable task source.
//
// A World generates episodes from TaskParams; an Episode is one task: the prompt the agent
// reads, the tools it may call (backed by the world's ground truth) and the verifier that
// scores a final answer. Generation is seeded and deterministic: the same params give the
// same episode on every machine.
//
// Thread safety: Worlds are immutable and shared (Reset is const and may run on many
// threads). An Episode is immutable once built; its tools are thread-safe and are meant to
// be shared by all the agents of a swarm; Verify may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/env/verdict.h"
#include "tide/workers/tool.h"

namespace tide::env {

struct TaskParams {
  std::string family;  // "" = the world's default family
  uint64_t seed = 0;
  int items = 20;         // rows the task asks for, 1..200
  int columns = 0;        // attribute columns; 0 = the family's default
  int distractors = -1;   // confusable material; -1 = the world's default (see the world)
  double failure_rate = -1;  // injected tool failures per call (api world); -1 = the world's default
  int hops = 0;           // chained steps (relations a multi-hop task follows, compute steps); 0 = default
};

class Episode {
 public:
  virtual ~Episode() = default;
  virtual std::string world() const = 0;
  virtual std::string family() const = 0;
  // The task as the agent reads it (the user message).
  virtual std::string prompt() const = 0;
  // The task as JSON without the answer: family, items, columns, rubric.
  virtual nlohmann::json public_task() const = 0;
  // Thread-safe tools, shared by all agents working on this episode.
  virtual std::vector<std::shared_ptr<workers::Tool>> tools() const = 0;
  // Scores a final answer; never fails (a malformed answer scores 0 with a reason).
  virtual Verdict Verify(const std::string& answer_text) const = 0;
};

class World {
 public:
  virtual ~World() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  virtual std::vector<std::string> task_families() const = 0;  // the first is the default
  // INVALID_ARGUMENT naming the bad param: an unknown family (listing the known ones),
  // items outside 1..200, columns or distractors out of range.
  virtual Result<std::unique_ptr<Episode>> Reset(const TaskParams& params) const = 0;
};

// All registered worlds, in a fixed order. The pointers live for the whole program.
std::vector<const World*> Worlds();

// NOT_FOUND: `unknown world "x" (known: research)`.
Result<const World*> FindWorld(const std::string& name);

}  // namespace tide::env
