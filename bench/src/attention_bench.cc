#include "attention_bench.h"

#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "tide/engine/kernels/paged_attention.h"

namespace tide::bench {

using nlohmann::json;

Status BenchPagedAttention(const BenchOptions& o, const std::function<void(const json&)>& emit) {
  // swarm-s's attention: 6 query heads over 2 kv heads of 32; 16-token blocks.
  const int sequences = o.quick ? 8 : 100, prefix = o.quick ? 256 : 1000, own = o.quick ? 16 : 128;
  const int heads = 6, kv_heads = 2, d = 32, bs = 16;
  const int shared_blocks = prefix / bs;
  const int own_blocks = (prefix + own + 1 + bs - 1) / bs - shared_blocks;
  const int64_t row = static_cast<int64_t>(kv_heads) * d, stride = bs * row;
  const int blocks = sequences * (shared_blocks + own_blocks);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> k(static_cast<size_t>(blocks * stride)), v(k.size());
  for (float& x : k) x = dist(rng);
  for (float& x : v) x = dist(rng);
  std::vector<float> q(static_cast<size_t>(sequences) * heads * d), out(q.size());
  for (float& x : q) x = dist(rng);

  // Unshared: sequence i owns blocks [i * per, (i + 1) * per). Shared: all read sequence
  // 0's prefix blocks (the same K/V values, so the outputs are the same).
  const int per = shared_blocks + own_blocks;
  std::vector<std::vector<int32_t>> unshared(sequences), shared(sequences);
  for (int i = 0; i < sequences; ++i) {
    unshared[i].resize(static_cast<size_t>(per));
    std::iota(unshared[i].begin(), unshared[i].end(), i * per);
    shared[i] = unshared[i];
    for (int b = 0; b < shared_blocks; ++b) shared[i][static_cast<size_t>(b)] = b;
  }
  for (int i = 1; i < sequences; ++i) {  // copy the prefix so the unshared layout holds the same values
    std::copy_n(k.begin(), shared_blocks * stride, k.begin() + static_cast<std::ptrdiff_t>(i) * per * stride);
    std::copy_n(v.begin(), shared_blocks * stride, v.begin() + static_cast<std::ptrdiff_t>(i) * per * stride);
  }
  engine::AttentionShape shape;
  shape.heads = heads;
  shape.kv_heads = kv_heads;
  shape.head_dim = d;
  shape.scale = 1.0f / std::sqrt(static_cast<float>(d));
  const engine::PagedKv kv{k.data(), v.data(), stride, bs};
  auto batch = [&](const std::vector<std::vector<int32_t>>& tables) {
    std::vector<engine::PagedSequence> seqs;
    for (int i = 0; i < sequences; ++i) {
      const size_t at = static_cast<size_t>(i) * heads * d;
      seqs.push_back({1, prefix + own, q.data() + at, out.data() + at, tables[static_cast<size_t>(i)].data()});
    }
    return seqs;
  };
  const auto shared_batch = batch(shared), unshared_batch = batch(unshared);
  const double t_unshared = MedianSeconds([&] { engine::PagedAttentionForward(shape, kv, unshared_batch); }, o.min_seconds);
  const double t_shared = MedianSeconds([&] { engine::PagedAttentionForward(shape, kv, shared_batch); }, o.min_seconds);
  engine::PagedAttentionStats stats;
  engine::PagedAttentionForwardAt(engine::DetectSimdLevel(), shape, kv, shared_batch, &stats);
  emit({{"bench", "paged_attention_decode"},
        {"sequences", sequences},
        {"context", prefix + own + 1},
        {"shared_prefix_tokens", prefix},
        {"ms_shared_blocks", t_shared * 1e3},
        {"ms_own_blocks", t_unshared * 1e3},
        {"speedup", t_unshared / t_shared},
        {"key_tiles_read", stats.key_tiles_read},
        {"shared_tile_uses", stats.shared_tile_uses},
        {"baseline", "the same step with every sequence's blocks its own (no shared prefix)"}});
  return Status::Ok();
}

}  // namespace tide::bench
