#include "tide/engine/kernels/rope.h"

#include <cmath>
#include <cstddef>
#include <vector>

namespace tide::engine {

float RopeAngle(int32_t position, int i, int head_dim, float theta) {
  // transformers: inv_freq = 1 / theta ** (arange(0, d, 2).float() / d), all f32; the
  // angle is the f32 product inv_freq * float(position).
  const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
  const float inv_freq = 1.0f / std::pow(theta, exponent);
  return inv_freq * static_cast<float>(position);
}

namespace {

// sign = +1 rotates forward, -1 backward.
void Rotate(float* x, const int32_t* positions, int tokens, int heads, int head_dim, float theta,
            double sign) {
  if (tokens <= 0 || heads <= 0 || head_dim <= 0) return;
  const int half = head_dim / 2;
  std::vector<double> cs(half), sn(half);
  for (int t = 0; t < tokens; ++t) {
    for (int i = 0; i < half; ++i) {
      const double a = RopeAngle(positions[t], i, head_dim, theta);
      cs[i] = std::cos(a);
      sn[i] = sign * std::sin(a);
    }
    float* row = x + static_cast<std::ptrdiff_t>(t) * heads * head_dim;
    for (int h = 0; h < heads; ++h) {
      float* v = row + static_cast<std::ptrdiff_t>(h) * head_dim;
      for (int i = 0; i < half; ++i) {
        const double a = v[i], b = v[i + half];
        v[i] = static_cast<float>(a * cs[i] - b * sn[i]);
        v[i + half] = static_cast<float>(b * cs[i] + a * sn[i]);
      }
    }
  }
}

}  // namespace

void RopeForwardReference(float* x, const int32_t* positions, int tokens, int heads, int head_dim,
                          float theta) {
  Rotate(x, positions, tokens, heads, head_dim, theta, 1.0);
}

void RopeBackwardReference(float* dx, const int32_t* positions, int tokens, int heads, int head_dim,
                           float theta) {
  Rotate(dx, positions, tokens, heads, head_dim, theta, -1.0);
}

}  // namespace tide::engine
