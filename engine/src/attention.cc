#include "tide/engine/kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace tide::engine {

namespace {

double Dot(const float* a, const float* b, int n) {
  double s = 0.0;
  for (int i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

}  // namespace

void AttentionForwardReference(const AttentionShape& s, const float* q, const float* k, const float* v,
                               float* out, float* lse) {
  if (s.tokens <= 0 || s.heads <= 0 || s.head_dim <= 0 || s.kv_heads <= 0) return;
  const int d = s.head_dim;
  const int group = s.heads / s.kv_heads;
  const std::ptrdiff_t q_stride = static_cast<std::ptrdiff_t>(s.heads) * d;
  const std::ptrdiff_t kv_stride = static_cast<std::ptrdiff_t>(s.kv_heads) * d;
  std::vector<double> scores(static_cast<size_t>(s.past + s.tokens));
  std::vector<double> acc(d);
  for (int t = 0; t < s.tokens; ++t) {
    const int n = s.past + t + 1;  // keys visible to this query
    for (int h = 0; h < s.heads; ++h) {
      const float* qh = q + t * q_stride + static_cast<std::ptrdiff_t>(h) * d;
      const int kh = h / group;
      double max_score = -std::numeric_limits<double>::infinity();
      for (int j = 0; j < n; ++j) {
        scores[j] = s.scale * Dot(qh, k + j * kv_stride + static_cast<std::ptrdiff_t>(kh) * d, d);
        max_score = std::max(max_score, scores[j]);
      }
      double sum = 0.0;
      for (int j = 0; j < n; ++j) {
        scores[j] = std::exp(scores[j] - max_score);
        sum += scores[j];
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int j = 0; j < n; ++j) {
        const float* vj = v + j * kv_stride + static_cast<std::ptrdiff_t>(kh) * d;
        const double p = scores[j] / sum;
        for (int i = 0; i < d; ++i) acc[i] += p * vj[i];
      }
      float* oh = out + t * q_stride + static_cast<std::ptrdiff_t>(h) * d;
      for (int i = 0; i < d; ++i) oh[i] = static_cast<float>(acc[i]);
      if (lse != nullptr) {
        lse[static_cast<std::ptrdiff_t>(t) * s.heads + h] = static_cast<float>(max_score + std::log(sum));
      }
    }
  }
}

void AttentionBackwardReference(const AttentionShape& s, const float* q, const float* k, const float* v,
                                const float* out, const float* lse, const float* dout, float* dq, float* dk,
                                float* dv) {
  if (s.tokens <= 0 || s.heads <= 0 || s.head_dim <= 0 || s.kv_heads <= 0) return;
  const int d = s.head_dim;
  const int group = s.heads / s.kv_heads;
  const int total = s.past + s.tokens;
  const std::ptrdiff_t q_stride = static_cast<std::ptrdiff_t>(s.heads) * d;
  const std::ptrdiff_t kv_stride = static_cast<std::ptrdiff_t>(s.kv_heads) * d;
  // dk and dv collect contributions from many queries: accumulate in double.
  std::vector<double> dk_acc(static_cast<size_t>(total) * kv_stride, 0.0);
  std::vector<double> dv_acc(static_cast<size_t>(total) * kv_stride, 0.0);
  std::vector<double> dq_acc(d);
  for (int t = 0; t < s.tokens; ++t) {
    const int n = s.past + t + 1;
    for (int h = 0; h < s.heads; ++h) {
      const std::ptrdiff_t qo = t * q_stride + static_cast<std::ptrdiff_t>(h) * d;
      const float* qh = q + qo;
      const float* doh = dout + qo;
      const int kh = h / group;
      const double l = lse[static_cast<std::ptrdiff_t>(t) * s.heads + h];
      const double big_d = Dot(doh, out + qo, d);  // Σ_j p_j dp_j = dout·out
      std::fill(dq_acc.begin(), dq_acc.end(), 0.0);
      for (int j = 0; j < n; ++j) {
        const std::ptrdiff_t ko = j * kv_stride + static_cast<std::ptrdiff_t>(kh) * d;
        const double p = std::exp(s.scale * Dot(qh, k + ko, d) - l);
        const double dp = Dot(doh, v + ko, d);
        const double ds = p * (dp - big_d) * s.scale;
        for (int i = 0; i < d; ++i) {
          dv_acc[ko + i] += p * doh[i];
          dk_acc[ko + i] += ds * qh[i];
          dq_acc[i] += ds * k[ko + i];
        }
      }
      for (int i = 0; i < d; ++i) dq[qo + i] = static_cast<float>(dq_acc[i]);
    }
  }
  for (size_t i = 0; i < dk_acc.size(); ++i) {
    dk[i] = static_cast<float>(dk_acc[i]);
    dv[i] = static_cast<float>(dv_acc[i]);
  }
}

}  // namespace tide::engine
