// EnginePolicy: the Policy on Tide's own engine. It renders an agent's messages and tools
// with the built-in chat template, generates on a shared InferenceEngine (all agents of a
// swarm batch together there and share the KV blocks of their common system prompt and
// tool specs), and parses <tool_call> blocks back into OpenAI tool calls.
//
// Reproducibility: a request's seed is Options::seed mixed with the agent's name and the
// length of its context, so the same agent at the same point samples the same tokens.
// Errors: a context the engine refuses (too long, …) is the engine's status; generation
// that ends by cancellation is CANCELLED.
// Ownership: borrows the engine (it must outlive the policy). Thread safety: Generate may
// be called concurrently (the engine is).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tide/engine/inference_engine.h"
#include "tide/engine/json_constraint.h"
#include "tide/workers/policy.h"

namespace tide::workers {

// One generation of an agent's turn as the engine made it: what RL trains on (the prompt's
// token ids, the sampled tokens with their log-probs and, when asked, router choices).
struct AgentGeneration {
  std::string agent;
  std::vector<int32_t> prompt;
  engine::GenerationResult result;
};

class EnginePolicy : public Policy {
 public:
  struct Options {
    float temperature = 0.7f;
    float top_p = 1.f;
    int max_tokens = 512;
    uint64_t seed = 0;
    bool enable_thinking = true;  // false: the prompt closes an empty <think> block (true
                                  // renders turns as the trainer does)
    // RL rollouts: every finished generation is handed to this (on the agent's thread,
    // before its turn is parsed; agents of a swarm call it concurrently).
    std::function<void(AgentGeneration)> on_generation;
    bool return_router_choices = false;  // record them in what on_generation gets
    // Every <tool_call> the model opens is decoded under the offered tools' JSON Schema
    // (a lazy constraint: free text until "<tool_call>"), so a call is always one valid
    // call of an offered tool with arguments its schema accepts. Tokens sampled so are
    // marked GeneratedToken::constrained (RL masks them out of the loss).
    bool constrain_tool_calls = true;
  };
  EnginePolicy(engine::InferenceEngine* engine, Options options);

  std::string name() const override { return "engine"; }
  Result<PolicyResponse> Generate(const PolicyRequest& request) override;

 private:
  // The lazy tool-call constraint for `tools`, or null when the tokenizer lacks the
  // <tool_call> tokens (the model then writes calls unconstrained).
  Result<std::shared_ptr<engine::TokenConstraint>> ToolCallConstraint(const std::vector<ToolSpec>& tools);

  engine::InferenceEngine* engine_;
  Options options_;
  std::mutex trie_mu_;
  std::shared_ptr<const engine::TokenTrie> trie_;  // guarded by trie_mu_; built on first use
};

}  // namespace tide::workers
