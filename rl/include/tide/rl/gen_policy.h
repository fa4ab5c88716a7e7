// GenPolicy: the policy `tide gen` samples trajectories from, built by name and owning
// whatever it needs for as long as it lives:
//  * "oracle": the env's teacher (env::OraclePolicy);
//  * "engine": a model folder (config.json, model.safetensors, tokenizer.json) loaded in
//    this process and decoded by an InferenceEngine (continuous batching across every
//    agent of every swarm running at once);
//  * "openai": any OpenAI-compatible server (base_url, model, API key from an environment
//    variable), with its cap on requests in flight.
// Create fails with INVALID_ARGUMENT naming the flag that is missing or wrong (an unknown
// policy, "engine" without a model folder, "openai" without a base URL or model) and with
// the loader's error for a model folder that does not load. The policy is thread-safe.
#pragma once

#include <memory>
#include <string>

#include "tide/core/status.h"
#include "tide/workers/policy.h"

namespace tide::rl {

struct GenPolicyOptions {
  std::string policy = "oracle";  // oracle | engine | openai
  std::string model_dir;          // engine
  int max_running = 128;          // engine: sequences decoding at once
  std::string base_url;           // openai
  std::string model;              // openai
  std::string api_key_env = "OPENAI_API_KEY";
  float temperature = 0.7f;       // engine and openai: sampling gives rejection sampling its variety
  int max_tokens = 512;
};

class GenPolicy {
 public:
  static Result<std::unique_ptr<GenPolicy>> Create(const GenPolicyOptions& options);
  ~GenPolicy();
  GenPolicy(const GenPolicy&) = delete;
  GenPolicy& operator=(const GenPolicy&) = delete;

  workers::Policy* policy() const { return policy_.get(); }
  const std::string& name() const { return name_; }

 private:
  GenPolicy() = default;
  struct EngineParts;
  std::unique_ptr<EngineParts> engine_;  // declared before policy_: the policy borrows it
  std::shared_ptr<workers::Policy> policy_;
  std::string name_;
};

}  // namespace tide::rl
