#include "tide/engine/kernels/softmax_topk.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <vector>

namespace tide::engine {

void SoftmaxReference(const float* x, float* out, int rows, int n) {
  if (rows <= 0 || n <= 0) return;
  std::vector<double> e(n);
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<std::ptrdiff_t>(r) * n;
    float* yr = out + static_cast<std::ptrdiff_t>(r) * n;
    double m = xr[0];
    for (int i = 1; i < n; ++i) m = std::max(m, static_cast<double>(xr[i]));
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
      e[i] = std::exp(static_cast<double>(xr[i]) - m);
      sum += e[i];
    }
    for (int i = 0; i < n; ++i) yr[i] = static_cast<float>(e[i] / sum);
  }
}

void SoftmaxBackwardReference(const float* p, const float* dp, float* dx, int rows, int n) {
  if (rows <= 0 || n <= 0) return;
  for (int r = 0; r < rows; ++r) {
    const std::ptrdiff_t o = static_cast<std::ptrdiff_t>(r) * n;
    double dot = 0.0;
    for (int i = 0; i < n; ++i) dot += static_cast<double>(p[o + i]) * dp[o + i];
    for (int i = 0; i < n; ++i) dx[o + i] = static_cast<float>(p[o + i] * (dp[o + i] - dot));
  }
}

void SigmoidReference(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(x[i]))));
}

void SigmoidBackwardReference(const float* s, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = static_cast<float>(static_cast<double>(dy[i]) * s[i] * (1.0 - s[i]));
}

void TopKReference(const float* scores, int n, int k, int32_t* idx) {
  if (n <= 0 || k <= 0) return;
  k = std::min(k, n);
  // a ranks before b: larger score first, NaN last, lower index on ties.
  auto before = [scores](int32_t a, int32_t b) {
    const float sa = scores[a], sb = scores[b];
    const bool na = std::isnan(sa), nb = std::isnan(sb);
    if (na != nb) return nb;
    if (!na && sa != sb) return sa > sb;
    return a < b;
  };
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
  std::copy(order.begin(), order.begin() + k, idx);
}

}  // namespace tide::engine
