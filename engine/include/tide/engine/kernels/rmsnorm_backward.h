// Backward pass of RMSNorm (rmsnorm.h): y = x * r * w with r = 1 / sqrt(mean(x²) + eps)
// over each row of `dim` elements. Given dy = dL/dy:
//   dx_i  = r * w_i * dy_i - x_i * r³ / dim * Σ_j dy_j * w_j * x_j
//   dw_i += Σ_rows dy_i * x_i * r
// Layout: x, dy, dx row-major [rows, dim]; w and dw [dim]. dx is overwritten; dw is
// accumulated into (callers zero it once per step), and may be null when not wanted.
// Computed in double per row, rounded once. dx may alias dy; nothing else may alias.
// Thread safety: pure function; concurrent calls must not share dw.
#pragma once

namespace tide::engine {

void RmsNormBackwardReference(const float* x, const float* weight, const float* dy, float* dx, float* dweight,
                              int rows, int dim, float eps);

}  // namespace tide::engine
