#include "tide/rl/rollout_sampler.h"

#include <cmath>
#include <random>
#include <string>

#include "tide/core/split_mix.h"
#include "tide/engine/sampler.h"

namespace tide::rl {
namespace {

Status CheckOptions(const engine::ModelConfig& c, std::span<const int32_t> prompt, const RolloutOptions& o) {
  if (prompt.empty()) return InvalidArgument("prompt is empty");
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= c.vocab_size) {
      return InvalidArgument("prompt[" + std::to_string(i) + "] = " + std::to_string(prompt[i]) +
                             " is outside the vocabulary of " + std::to_string(c.vocab_size));
    }
  }
  if (o.group_size < 1) return InvalidArgument("group_size must be >= 1");
  if (o.max_tokens < 1) return InvalidArgument("max_tokens must be >= 1");
  if (static_cast<int64_t>(prompt.size()) + o.max_tokens > c.max_position_embeddings) {
    return InvalidArgument("prompt (" + std::to_string(prompt.size()) + " tokens) + max_tokens (" +
                           std::to_string(o.max_tokens) + ") exceeds the context length " +
                           std::to_string(c.max_position_embeddings));
  }
  if (o.stop_token < -1 || o.stop_token >= c.vocab_size) {
    return InvalidArgument("stop_token " + std::to_string(o.stop_token) + " is outside the vocabulary");
  }
  if (!(o.temperature >= 0) || !std::isfinite(o.temperature)) return InvalidArgument("temperature must be >= 0");
  if (!(o.top_p > 0 && o.top_p <= 1)) return InvalidArgument("top_p must be in (0, 1]");
  if (o.top_k < 0) return InvalidArgument("top_k must be >= 0");
  return Status::Ok();
}

// Appends row `row` of a batched forward's recorded routing to `dst`.
void AppendRow(const engine::RouterChoices& src, int row, engine::RouterChoices* dst) {
  dst->top_k = src.top_k;
  dst->experts.resize(src.experts.size());
  for (size_t l = 0; l < src.experts.size(); ++l) {
    if (src.experts[l].empty()) continue;
    const auto first = src.experts[l].begin() + static_cast<std::ptrdiff_t>(row) * src.top_k;
    dst->experts[l].insert(dst->experts[l].end(), first, first + src.top_k);
  }
  ++dst->tokens;
}

}  // namespace

void TrainingSequence(const Rollout& r, std::vector<int32_t>* inputs, std::vector<int32_t>* targets) {
  inputs->assign(r.prompt.begin(), r.prompt.end());
  if (!r.completion.empty()) inputs->insert(inputs->end(), r.completion.begin(), r.completion.end() - 1);
  targets->assign(r.prompt.begin() + 1, r.prompt.end());
  targets->insert(targets->end(), r.completion.begin(), r.completion.end());
}

Result<Rollout> RolloutFromGeneration(const engine::ModelConfig& config, std::span<const int32_t> prompt,
                                      const engine::GenerationResult& result) {
  TIDE_ASSIGN_OR_RETURN(engine::ReplayInput replay, engine::MakeReplayInput(config, prompt, result));
  Rollout r;
  r.prompt.assign(prompt.begin(), prompt.end());
  for (const engine::GeneratedToken& t : result.tokens) {
    r.completion.push_back(t.id);
    r.logprobs.push_back(t.logprob);
    r.mask.push_back(t.constrained ? 0 : 1);  // a masked distribution's log-prob has no training twin
  }
  if (result.stop_token_id >= 0) {
    r.completion.push_back(result.stop_token_id);
    r.logprobs.push_back(0.f);
    r.mask.push_back(0);
    r.stopped = true;
  }
  r.routing = std::move(replay.routing);
  return r;
}

Result<std::vector<Rollout>> SampleGroup(engine::Model& model, std::span<const int32_t> prompt,
                                         const RolloutOptions& o, uint64_t seed) {
  const engine::ModelConfig& c = model.config();
  TIDE_RETURN_IF_ERROR(CheckOptions(c, prompt, o));
  const int vocab = c.vocab_size;
  const engine::SamplingOptions sampling{o.temperature, o.top_k, o.top_p};

  engine::KvCache prompt_cache;
  engine::RouterChoices prompt_routing;
  engine::ForwardOptions prefill;
  prefill.record_routing = o.record_routing ? &prompt_routing : nullptr;
  TIDE_ASSIGN_OR_RETURN(engine::Tensor prompt_logits, model.Forward(prompt, &prompt_cache, prefill));
  const std::span<const float> last_row(prompt_logits.data.data() + (prompt.size() - 1) * static_cast<size_t>(vocab),
                                        static_cast<size_t>(vocab));

  const size_t g = static_cast<size_t>(o.group_size);
  std::vector<Rollout> out(g);
  std::vector<engine::KvCache> caches(g, prompt_cache);
  std::vector<std::mt19937_64> rngs;
  for (size_t i = 0; i < g; ++i) rngs.emplace_back(SplitMix64(seed ^ SplitMix64(i + 1)));
  auto take = [&](size_t i, std::span<const float> logits) {
    const engine::SampledToken tok = engine::SampleToken(logits, sampling, rngs[i]);
    out[i].completion.push_back(tok.id);
    out[i].logprobs.push_back(tok.logprob);
    out[i].mask.push_back(1);
    out[i].stopped = tok.id == o.stop_token;
  };
  for (size_t i = 0; i < g; ++i) {
    out[i].prompt.assign(prompt.begin(), prompt.end());
    if (o.record_routing) out[i].routing = prompt_routing;
    take(i, last_row);
  }

  std::vector<size_t> active;
  std::vector<int32_t> feed;
  std::vector<engine::SequenceInput> batch;
  engine::RouterChoices step_routing;
  for (;;) {
    active.clear();
    for (size_t i = 0; i < g; ++i) {
      if (!out[i].stopped && static_cast<int>(out[i].completion.size()) < o.max_tokens) active.push_back(i);
    }
    if (active.empty()) break;
    feed.resize(active.size());
    batch.clear();
    for (size_t j = 0; j < active.size(); ++j) {
      feed[j] = out[active[j]].completion.back();
      batch.push_back({std::span<const int32_t>(&feed[j], 1), {}, &caches[active[j]]});
    }
    engine::ForwardOptions fo;
    fo.record_routing = o.record_routing ? &step_routing : nullptr;
    TIDE_ASSIGN_OR_RETURN(engine::Tensor logits, model.ForwardBatch(batch, fo));
    for (size_t j = 0; j < active.size(); ++j) {
      if (o.record_routing) AppendRow(step_routing, static_cast<int>(j), &out[active[j]].routing);
      take(active[j], std::span<const float>(logits.data.data() + j * static_cast<size_t>(vocab),
                                             static_cast<size_t>(vocab)));
    }
  }
  return out;
}

}  // namespace tide::rl
