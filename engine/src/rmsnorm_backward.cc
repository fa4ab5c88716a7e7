#include "tide/engine/kernels/rmsnorm_backward.h"

#include <cmath>
#include <cstddef>
#include <vector>

namespace tide::engine {

void RmsNormBackwardReference(const float* x, const float* weight, const float* dy, float* dx, float* dweight,
                              int rows, int dim, float eps) {
  if (rows <= 0 || dim <= 0) return;
  std::vector<double> dw(dweight != nullptr ? dim : 0, 0.0);
  for (int r = 0; r < rows; ++r) {
    const std::ptrdiff_t o = static_cast<std::ptrdiff_t>(r) * dim;
    double sum_sq = 0.0, dot = 0.0;
    for (int i = 0; i < dim; ++i) {
      const double xi = x[o + i];
      sum_sq += xi * xi;
      dot += static_cast<double>(dy[o + i]) * weight[i] * xi;
    }
    const double rinv = 1.0 / std::sqrt(sum_sq / dim + static_cast<double>(eps));
    const double c = rinv * rinv * rinv / dim * dot;
    for (int i = 0; i < dim; ++i) {
      const double xi = x[o + i], dyi = dy[o + i];
      if (dweight != nullptr) dw[i] += dyi * xi * rinv;
      dx[o + i] = static_cast<float>(rinv * weight[i] * dyi - xi * c);
    }
  }
  if (dweight != nullptr) {
    for (int i = 0; i < dim; ++i) dweight[i] += static_cast<float>(dw[i]);
  }
}

}  // namespace tide::engine
