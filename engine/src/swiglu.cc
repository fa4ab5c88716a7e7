#include "tide/engine/kernels/swiglu.h"

#include <cmath>

namespace tide::engine {

namespace {

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

void SwiGluForwardReference(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = static_cast<float>(g * Sigmoid(g) * up[i]);
  }
}

void SwiGluBackwardReference(const float* gate, const float* up, const float* dout, float* dgate, float* dup,
                             int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    const double sg = Sigmoid(g);
    const double dh = dout[i];
    dgate[i] = static_cast<float>(dh * up[i] * sg * (1.0 + g * (1.0 - sg)));
    dup[i] = static_cast<float>(dh * g * sg);
  }
}

}  // namespace tide::engine
