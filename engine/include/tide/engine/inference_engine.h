// InferenceEngine: serves many generation requests at once on one Model — the engine a
// swarm's agents decode on. One scheduler thread runs the loop: every step packs the
// decode token of each running sequence and chunks of waiting prompts into one batch
// (continuous batching) and runs Model::ForwardPaged over a KvBlockPool. Full KV blocks
// are published to the pool's prefix cache, so requests that start with the same system
// prompt and tool specs compute those blocks once. When blocks run out, the newest
// running sequence is preempted (its blocks released) and later resumed by recomputing
// its context: requests are never dropped, and their sampling continues where it was.
//
// Requests: prompt token ids, sampling (temperature, top-k, top-p, a seed that makes a
// request reproducible whatever else is in the batch, up to floating-point ties), max
// tokens, stop strings and stop token ids (neither is part of the output), per-token
// log-probs with up to 20 alternatives. Cancel frees a sequence's blocks on the next step.
//
// Ownership: borrows the model and tokenizer (they must outlive the engine); the model's
// weights must not change while it runs. Callbacks run on the scheduler thread, in order
// per request, and must not block for long (they delay every sequence); the last one has
// finished = true. Thread safety: Submit, Cancel, Generate and stats may be called from any
// thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tide/core/status.h"
#include "tide/engine/kv_block_pool.h"
#include "tide/engine/model.h"
#include "tide/engine/sampler.h"
#include "tide/engine/tokenizer.h"

namespace tide::engine {

struct GenerationParams {
  SamplingOptions sampling;  // temperature (0 = greedy), top_k, top_p
  uint64_t seed = 0;
  int max_tokens = 256;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;  // e.g. <|im_end|>
  int top_logprobs = 0;                 // alternatives per token, 0..20
};

class TokenConstraint;

struct GenerateRequest {
  std::vector<int32_t> prompt;
  GenerationParams params;
  // Grammar-constrained decoding (json_constraint.h): every sampled token is one the
  // constraint allows (the others' logits are masked before sampling; log-probs are under
  // the masked distribution), and generation stops (reason kStop) once it accepts its end
  // token. The engine advances it: one constraint per request, never shared.
  std::shared_ptr<TokenConstraint> constraint;
};

enum class FinishReason { kNone, kStop, kLength, kCancelled, kError };
const char* FinishReasonName(FinishReason reason);  // "stop", "length", "cancelled", "error"

struct GeneratedToken {
  int32_t id = 0;
  float logprob = 0;                          // under the temperature-scaled distribution
  std::vector<std::pair<int32_t, float>> top;  // the most likely alternatives and their log-probs
};

struct GenerationUpdate {
  uint64_t request_id = 0;
  std::vector<GeneratedToken> tokens;  // new since the previous update
  std::string text;                    // their text (whole UTF-8 characters, stop strings held back)
  bool finished = false;
  FinishReason finish_reason = FinishReason::kNone;
  Status error;
  int prompt_tokens = 0;
  int cached_tokens = 0;  // prompt tokens whose KV came from the prefix cache
  int completion_tokens = 0;
};

struct GenerationResult {
  std::vector<GeneratedToken> tokens;
  std::string text;
  FinishReason finish_reason = FinishReason::kNone;
  int prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  double ttft_s = 0;   // submit to first token
  double total_s = 0;  // submit to finish
};

// One request's updates as a thread-safe queue: give Callback() to Submit, Pop them on the
// thread that streams them out (a gRPC or HTTP handler, Generate). Copies share the queue.
class UpdateQueue {
 public:
  UpdateQueue();
  std::function<void(const GenerationUpdate&)> Callback() const;
  // The next update, waiting up to `timeout`; nullopt if none came.
  std::optional<GenerationUpdate> Pop(std::chrono::milliseconds timeout) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

class InferenceEngine {
 public:
  struct Options {
    int max_running = 128;        // sequences decoding at once
    int max_step_tokens = 1024;   // tokens (prefill + decode) per step
    int kv_blocks = 0;            // 0: room for 2 × max_running sequences of 512 tokens
    int block_size = 16;
    bool prefix_cache = true;
    int max_waiting = 100000;     // queued requests beyond this are refused (RESOURCE_EXHAUSTED)
  };
  struct Stats {
    int running = 0, waiting = 0;
    int64_t steps = 0, preemptions = 0, prompt_tokens = 0, cached_tokens = 0, generated_tokens = 0;
    int kv_peak_used = 0;  // most blocks referenced at once since the engine started
    KvBlockPool::Stats kv;
  };

  static Result<std::unique_ptr<InferenceEngine>> Create(Model* model, const Tokenizer* tokenizer,
                                                         const Options& options);
  ~InferenceEngine();  // cancels what is left, then stops the loop
  InferenceEngine(const InferenceEngine&) = delete;
  InferenceEngine& operator=(const InferenceEngine&) = delete;

  // Queues a request. InvalidArgument naming the field for an empty prompt, a token outside
  // the vocabulary, prompt + max_tokens over the context length or the KV capacity, or a
  // sampling value out of range; ResourceExhausted when the queue is full.
  Result<uint64_t> Submit(GenerateRequest request, std::function<void(const GenerationUpdate&)> on_update);
  void Cancel(uint64_t request_id);
  // Submit and wait; `cancelled` (may be null) is polled and cancels the request.
  Result<GenerationResult> Generate(GenerateRequest request, const std::atomic<bool>* cancelled = nullptr);

  Stats stats() const;
  int max_context() const;
  const Tokenizer& tokenizer() const;
  const ModelConfig& model_config() const;

  struct Impl;

 private:
  explicit InferenceEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tide::engine
