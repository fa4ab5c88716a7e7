// Model::ForwardPaged: the serving forward over a KvBlockPool (semantics in model.h). The
// decoder layers are model_decoder.cc's; only the attention step differs: the new rows'
// keys and values go into the sequences' blocks and one batched paged-attention call
// serves every sequence of the step.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "model_internal.h"
#include "tide/engine/kernels/paged_attention.h"
#include "tide/engine/kernels/rmsnorm.h"
#include "tide/engine/kv_block_pool.h"
#include "tide/engine/model.h"

namespace tide::engine {

using std::ptrdiff_t;

Result<Tensor> Model::ForwardPaged(std::span<const PagedSequenceInput> sequences, KvBlockPool* pool,
                                   const ForwardOptions& options) {
  const ModelConfig& c = config();
  const ModelWeights& w = *weights_;
  const int kvd = c.kv_dim(), qd = c.q_dim(), d = c.head_dim, hidden = c.hidden_size;
  if (options.keep_activations || options.forced_routing != nullptr) {
    return InvalidArgument("ForwardPaged: keep_activations and forced_routing are training options");
  }
  if (pool == nullptr || pool->num_layers() != c.num_hidden_layers || pool->kv_dim() != kvd) {
    return InvalidArgument("ForwardPaged: the KV block pool does not fit this model");
  }
  if (sequences.empty()) return InvalidArgument("ForwardPaged: no sequences");
  const int bs = pool->block_size();
  std::vector<int> row0(sequences.size());
  int n = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    const PagedSequenceInput& s = sequences[i];
    const std::string where = "ForwardPaged: sequence " + std::to_string(i) + ": ";
    if (s.tokens.empty()) return InvalidArgument(where + "no tokens");
    if (s.past < 0) return InvalidArgument(where + "negative past");
    for (size_t t = 0; t < s.tokens.size(); ++t) {
      if (s.tokens[t] < 0 || s.tokens[t] >= c.vocab_size) {
        return InvalidArgument(where + "token " + std::to_string(s.tokens[t]) + " at index " + std::to_string(t) +
                               " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
      }
    }
    const int64_t positions = static_cast<int64_t>(s.past) + static_cast<int64_t>(s.tokens.size());
    if (static_cast<int64_t>(s.block_table.size()) * bs < positions) {
      return InvalidArgument(where + "block table covers " + std::to_string(s.block_table.size() * bs) +
                             " positions, needs " + std::to_string(positions));
    }
    for (int32_t b : s.block_table) {
      if (b < 0 || b >= pool->num_blocks()) return InvalidArgument(where + "block " + std::to_string(b) + " out of range");
    }
    row0[i] = n;
    n += static_cast<int>(s.tokens.size());
  }
  if (options.expert_load != nullptr) {
    ExpertLoad& el = *options.expert_load;
    if (el.tokens.empty()) el.tokens.resize(c.num_hidden_layers);
    for (int l = 0; l < c.num_hidden_layers; ++l) {
      if (el.tokens[l].empty() && c.IsMoeLayer(l)) el.tokens[l].assign(c.num_experts, 0);
    }
  }
  if (options.record_routing != nullptr) {
    *options.record_routing = RouterChoices{c.num_experts_per_tok, n, {}};
    options.record_routing->experts.resize(c.num_hidden_layers);
  }
  std::vector<int32_t> ids(n), pos(n);
  for (size_t i = 0; i < sequences.size(); ++i) {
    const PagedSequenceInput& s = sequences[i];
    for (size_t t = 0; t < s.tokens.size(); ++t) {
      ids[row0[i] + t] = s.tokens[t];
      pos[row0[i] + t] = s.past + static_cast<int>(t);
    }
  }
  const AttentionShape shape{0, 0, c.num_attention_heads, c.num_key_value_heads, d,
                             static_cast<float>(1.0 / std::sqrt(double(d)))};
  std::vector<PagedSequence> batch(sequences.size());
  auto attend = [&](int l, model_internal::LayerActs& la, std::vector<float>& k_new, std::vector<float>& v_new) {
    float* k_layer = pool->k_layer(l);
    float* v_layer = pool->v_layer(l);
    for (size_t i = 0; i < sequences.size(); ++i) {
      const PagedSequenceInput& s = sequences[i];
      for (size_t t = 0; t < s.tokens.size(); ++t) {
        const int p = s.past + static_cast<int>(t);
        const ptrdiff_t dst = s.block_table[p / bs] * pool->block_stride() + static_cast<ptrdiff_t>(p % bs) * kvd;
        const ptrdiff_t src = static_cast<ptrdiff_t>(row0[i] + t) * kvd;
        std::copy_n(k_new.data() + src, kvd, k_layer + dst);
        std::copy_n(v_new.data() + src, kvd, v_layer + dst);
      }
    }
    la.attn.resize(la.q.size());
    for (size_t i = 0; i < sequences.size(); ++i) {
      batch[i].tokens = static_cast<int>(sequences[i].tokens.size());
      batch[i].past = sequences[i].past;
      batch[i].q = la.q.data() + static_cast<ptrdiff_t>(row0[i]) * qd;
      batch[i].out = la.attn.data() + static_cast<ptrdiff_t>(row0[i]) * qd;
      batch[i].block_table = sequences[i].block_table.data();
    }
    PagedAttentionForward(shape, PagedKv{k_layer, v_layer, pool->block_stride(), bs}, batch);
  };
  std::vector<float> h;
  model_internal::RunDecoderLayers(c, w, ids, pos, options, nullptr, attend, &h);
  // The head on each sequence's last row only.
  const int m = static_cast<int>(sequences.size());
  std::vector<float> last(static_cast<size_t>(m) * hidden), x_final(last.size());
  for (int i = 0; i < m; ++i) {
    const int row = row0[i] + static_cast<int>(sequences[i].tokens.size()) - 1;
    std::copy_n(h.data() + static_cast<ptrdiff_t>(row) * hidden, hidden, last.data() + static_cast<ptrdiff_t>(i) * hidden);
  }
  RmsNorm(last.data(), w.norm.data.data(), x_final.data(), m, hidden, c.rms_norm_eps);
  Tensor logits;
  logits.shape = {m, c.vocab_size};
  logits.data.resize(static_cast<size_t>(m) * c.vocab_size);
  model_internal::LinearForward(x_final.data(), c.tie_word_embeddings ? w.embed_tokens : w.lm_head,
                                logits.data.data(), m);
  return logits;
}

}  // namespace tide::engine
