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
// Router choices (routing replay for RL). The engine records, for every row it feeds
// through the model, the top-k experts of each MoE layer (also for rows it keeps in cached
// prefix blocks, so a prompt served from the cache still has the routing its KV was
// computed with). A request with return_router_choices gets, per row, a vector of
// num_moe_layers * top_k expert ids, layer-major (MoE layers in increasing order, each
// layer's k ids in the router's slot order):
//   - GeneratedToken::router_choices: the row whose logits sampled that token (the row of
//     the token before it: the last prompt token for the first generated token);
//   - GenerationUpdate::prompt_router_choices, in the first update that carries a token or
//     a stop token: the rows of prompt tokens 0 .. P-2 (the last prompt row is the first
//     token's entry);
//   - GenerationUpdate::stop_router_choices, in the final update when a stop token id
//     (stop_token_id, not part of the output) ended the request: the row that sampled it.
// So for the sequence S = prompt + output tokens (+ stop_token_id when set), the
// concatenation prompt_router_choices ++ tokens' router_choices ++ [stop_router_choices]
// is the routing of S[0 .. |S|-2]: exactly the input rows of a training forward whose
// targets are S[1 ..]. Model::Forward over those inputs with that routing as
// forced_routing reproduces the logits that sampled every output token (ReplayInput
// assembles it). Precision: the serving forward is the same computation as Model::Forward
// up to floating-point summation order, so replayed logits agree to ~1e-5, not bit for bit;
// a row recomputed after preemption may (only at a floating-point tie of two router
// scores) route differently from the first computation, whose choices were delivered.
//
// Expert load: Stats::expert_tokens counts the tokens routed to each (MoE layer, expert)
// over every row the engine has fed (forward_rows of them), so per MoE layer the counts sum
// to forward_rows * top_k.
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
#include <span>
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
  // Tokens that end the request AFTER being output (finish reason kStop), unlike
  // stop_token_ids: e.g. </tool_call> for at most one tool call per turn.
  std::vector<int32_t> final_token_ids;
  bool return_router_choices = false;  // see "Router choices" above
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
  // Only with a constraint (e.g. the tokens of "\n<tool_call>\n" for parallel tool calls):
  // once the constraint has accepted its end token, the request does not stop; the next
  // token is either one of stop_token_ids (the request ends as usual) or the first of
  // these, and then the rest of them follow (forced), after which a fresh copy of the
  // constraint, in its state at Submit, applies again. Empty: stop after one value.
  std::vector<int32_t> constraint_repeat;
  // Lazy constraint (llama.cpp's lazy grammars), only with a constraint and without
  // constraint_repeat: the model writes freely until its context ends with these tokens
  // (e.g. the id of "<tool_call>"); then the constraint applies until it accepts its end
  // token, after which the model is free again and a fresh copy (its state at Submit)
  // waits for the next trigger. Reaching the end token does not stop the request.
  std::vector<int32_t> constraint_trigger;
};

enum class FinishReason { kNone, kStop, kLength, kCancelled, kError };
const char* FinishReasonName(FinishReason reason);  // "stop", "length", "cancelled", "error"

struct GeneratedToken {
  int32_t id = 0;
  float logprob = 0;                          // under the temperature-scaled distribution
  std::vector<std::pair<int32_t, float>> top;  // the most likely alternatives and their log-probs
  std::vector<int32_t> router_choices;         // with return_router_choices: the sampling row's experts
  // Sampled under a constraint's mask (its log-prob is the masked distribution's, which a
  // model's own forward does not give: RL does not train on it).
  bool constrained = false;
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
  int32_t stop_token_id = -1;  // final update: the stop token id that ended the request, or -1
  // With return_router_choices (see "Router choices" above).
  std::vector<std::vector<int32_t>> prompt_router_choices;  // prompt rows 0 .. P-2, once
  std::vector<int32_t> stop_router_choices;                 // the row that sampled stop_token_id
};

struct GenerationResult {
  std::vector<GeneratedToken> tokens;
  std::string text;
  FinishReason finish_reason = FinishReason::kNone;
  int prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  int32_t stop_token_id = -1;
  std::vector<std::vector<int32_t>> prompt_router_choices;
  std::vector<int32_t> stop_router_choices;
  double ttft_s = 0;   // submit to first token
  double total_s = 0;  // submit to finish
};

// Adds an update to a result being assembled (tokens, text, counts, router choices).
void AppendUpdate(const GenerationUpdate& update, GenerationResult* result);

// A finished generation as a training forward's input: S = prompt + output tokens (+ the
// stop token when one ended it); inputs = S[0 .. |S|-2], targets = S[1 ..], and routing
// the RouterChoices of the inputs (experts[layer] empty for dense layers), for
// ForwardOptions/LossOptions::forced_routing. InvalidArgument when the result lacks router
// choices (generated without return_router_choices, or cancelled before its prompt ran)
// or they do not fit `config`.
struct ReplayInput {
  std::vector<int32_t> inputs, targets;
  RouterChoices routing;
};
Result<ReplayInput> MakeReplayInput(const ModelConfig& config, std::span<const int32_t> prompt,
                                    const GenerationResult& result);

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

// What InferenceEngine::UpdateWeights did and how long the engine was held for it.
struct WeightUpdateReport {
  double wait_s = 0;    // waiting for the step in progress to end
  double update_s = 0;  // the update itself, the prefix cache's invalidation included
  int prefix_blocks_dropped = 0;
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
    int64_t forward_rows = 0;  // rows fed through the model (prefill and decode)
    ExpertLoad expert_tokens;  // tokens routed per [layer][expert] over those rows (empty for dense layers)
  };

  static Result<std::unique_ptr<InferenceEngine>> Create(Model* model, const Tokenizer* tokenizer,
                                                         const Options& options);
  ~InferenceEngine();  // cancels what is left, then stops the loop
  InferenceEngine(const InferenceEngine&) = delete;
  InferenceEngine& operator=(const InferenceEngine&) = delete;

  // Queues a request. InvalidArgument naming the field for an empty prompt, a token outside
  // the vocabulary, prompt + max_tokens over the context length or the KV capacity, or a
  // sampling value out of range, a constraint_repeat without a constraint or with a token
  // outside the vocabulary; ResourceExhausted when the queue is full.
  Result<uint64_t> Submit(GenerateRequest request, std::function<void(const GenerationUpdate&)> on_update);
  void Cancel(uint64_t request_id);
  // Submit and wait; `cancelled` (may be null) is polled and cancels the request.
  Result<GenerationResult> Generate(GenerateRequest request, const std::atomic<bool>* cancelled = nullptr);

  // Colocated RL: runs `update` on the served model between two scheduler steps (no
  // forward runs meanwhile; requests keep queueing), then empties the prefix cache, whose
  // K/V the old weights computed. Requests in flight continue on the new weights with the
  // K/V they already have (as vLLM's in-place weight sync does); callers that need
  // on-policy rollouts update while nothing runs. The update's error is returned.
  Result<WeightUpdateReport> UpdateWeights(const std::function<Status(Model&)>& update);

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
