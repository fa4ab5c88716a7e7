// Rollout sampling for RL on Tide's engine: G completions of one prompt from an
// engine::Model, each with what the policy-gradient step needs — the per-token log-probs of
// the sampling distribution, the sampling mask, and the router choices of every row the
// rollout fed through the model (routing replay, R3: the training forward is forced to route
// exactly as the rollout did).
//
// Decoding: the prompt is prefilled once (its KV cache copied to the G sequences), then the
// G sequences decode together, one token per step, through Model::ForwardBatch over their
// own KV caches. Each sequence has its own random stream, seeded from (seed, index), so a
// group is reproducible from its seed. A rollout ends at max_tokens or when it samples
// stop_token (which stays in the completion: the policy learns when to stop).
// Precision: incremental decoding computes the same logits as a training forward over the
// whole sequence up to floating-point summation order (GEMMs over other row counts,
// attention through the cache), so replayed training log-probs agree to ~1e-5, not bit for
// bit.
// Errors: InvalidArgument naming the field for an empty prompt, a token or stop token
// outside the vocabulary, prompt + max_tokens beyond the context length, group_size or
// max_tokens < 1, a negative or non-finite temperature, top_p outside (0, 1].
// Thread safety: uses Forward without kept activations only, so it may run while other such
// forwards run on the same model, but not concurrently with a training step on it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tide/core/status.h"
#include "tide/engine/inference_engine.h"
#include "tide/engine/model.h"

namespace tide::rl {

// One sampled completion and what training on it needs.
struct Rollout {
  std::vector<int32_t> prompt;
  std::vector<int32_t> completion;
  // log p(completion[t]) under the sampling distribution (temperature-scaled, before
  // top-k/top-p truncation, as engine::SampleToken reports it).
  std::vector<float> logprobs;
  // 1: sampled by the policy and trained on; 0: a token the policy did not choose (e.g. a
  // tool result spliced into a multi-turn rollout). All 1 from SampleGroup.
  std::vector<uint8_t> mask;
  // Top-k experts of the rows prompt ++ completion[0 .. C-2] (the training forward's
  // inputs), layer-major as engine::RouterChoices; tokens == 0 when not recorded.
  engine::RouterChoices routing;
  bool stopped = false;  // ended by sampling the stop token
  float reward = 0;
  float advantage = 0;
};

struct RolloutOptions {
  int group_size = 8;
  float temperature = 1.f;  // 0 = greedy (log-probs then at temperature 1)
  int top_k = 0;
  float top_p = 1.f;
  int max_tokens = 16;
  int32_t stop_token = -1;  // -1: none
  bool record_routing = true;
};

Result<std::vector<Rollout>> SampleGroup(engine::Model& model, std::span<const int32_t> prompt,
                                         const RolloutOptions& options, uint64_t seed);

// The training forward's inputs and targets of a rollout: inputs = prompt ++
// completion[0 .. C-2], targets = inputs shifted by one; completion token t is predicted at
// row |prompt| − 1 + t.
void TrainingSequence(const Rollout& rollout, std::vector<int32_t>* inputs, std::vector<int32_t>* targets);

// A request the serving engine (engine::InferenceEngine, the swarm's decoder) generated
// with return_router_choices, as a Rollout: the output tokens with their log-probs and
// mask 1 (0 for tokens sampled under a constraint's mask, e.g. the body of a schema-checked
// tool call: their log-probs are the masked distribution's), and the routing of prompt ++ output (engine::MakeReplayInput). When a stop token
// id ended the request it becomes the last completion token with mask 0: the engine does
// not report its log-prob, so there is no old log-prob to train it against. The engine
// samples over the tokenizer's vocabulary only: when the model's is padded past it, train
// with PolicyGradientOptions::sampling_vocab = tokenizer.vocab_size(), or the log-probs
// differ (the mismatch metric shows it).
// InvalidArgument (from MakeReplayInput) when the result has no router choices or they do
// not fit the config, or it generated nothing.
Result<Rollout> RolloutFromGeneration(const engine::ModelConfig& config, std::span<const int32_t> prompt,
                                      const engine::GenerationResult& result);

}  // namespace tide::rl
