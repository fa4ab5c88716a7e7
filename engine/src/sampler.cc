#include "tide/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace tide::engine {

SampledToken SampleToken(std::span<const float> logits, const SamplingOptions& options, std::mt19937_64& rng) {
  const int n = static_cast<int>(logits.size());
  SampledToken out;
  if (n == 0) return out;
  const double t = options.temperature > 0 ? options.temperature : 1.0;
  double mx = logits[0];
  for (float v : logits) mx = std::max(mx, static_cast<double>(v));
  double z = 0;
  for (float v : logits) z += std::exp((v - mx) / t);
  const double log_z = std::log(z);
  auto logprob = [&](int id) { return static_cast<float>((logits[id] - mx) / t - log_z); };

  if (options.temperature <= 0) {
    out.id = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.logprob = logprob(out.id);
    return out;
  }
  std::vector<int> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  // Highest first, ties to the lower id, so truncation is deterministic.
  auto higher = [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  int keep = n;
  if (options.top_k > 0 && options.top_k < n) {
    keep = options.top_k;
    std::partial_sort(ids.begin(), ids.begin() + keep, ids.end(), higher);
  } else if (options.top_p < 1.f) {
    std::sort(ids.begin(), ids.end(), higher);
  }
  if (options.top_p < 1.f) {
    if (keep == options.top_k) std::sort(ids.begin(), ids.begin() + keep, higher);
    double mass = 0;
    int cut = 0;
    while (cut < keep) {
      mass += std::exp(logprob(ids[cut]));
      ++cut;
      if (mass >= options.top_p) break;
    }
    keep = std::max(cut, 1);
  }
  std::vector<double> p(keep);
  double total = 0;
  for (int i = 0; i < keep; ++i) total += p[i] = std::exp(logprob(ids[i]));
  std::uniform_real_distribution<double> u(0.0, total);
  double r = u(rng), acc = 0;
  out.id = ids[keep - 1];
  for (int i = 0; i < keep; ++i) {
    acc += p[i];
    if (r < acc) {
      out.id = ids[i];
      break;
    }
  }
  out.logprob = logprob(out.id);
  return out;
}

}  // namespace tide::engine
