// Int8 weights for decode: y = x · Wᵀ with W [rows, cols] (HF layout [out, in]) held as
// 8-bit integers, for the memory-bound GEMV of token-by-token generation (m = 1 .. 16
// activation rows). A Q8 weight is 1.125 bytes (int8 plus an f32 scale per 32), against
// 4 for f32 and 2 for bf16, so the product streams 3.5x less memory than f32. Measured
// (2-core Zen 5, m = 1, W from memory, best of many runs on a busy machine): 2.4-3.2x the
// f32 GEMV's speed; the int8 arithmetic, not memory, is then the limit (25-35 GB/s).
//
// Format (llama.cpp Q8_0 style, symmetric): each row of W is cut into blocks of 32
// consecutive columns; a block stores scale = max|w| / 127 and q = round(w / scale) in
// [-127, 127] (an all-zero block has scale 0, q 0). cols need not be a multiple of 32:
// the last block of a row is padded with zero weights. dequant(w)[r, c] = scale * q.
//
// GemvQ8Reference: y[i, r] = Σ_c dequant(w)[r, c] · x[i, c], summed in double, x as given:
// the ground truth for the quantised W.
// GemvQ8 (the fast path) also quantises each activation row x[i] per 32-block, the same
// way (dynamic, per call), and sums exact int8 · int8 block dot products in i32, each
// scaled by the two blocks' scales into an f32 sum (llama.cpp's q8_0 x q8_0 dot):
//   - kAvx512 on CPUs with AVX-512 VNNI: vpdpbusd (u8 x s8), 64 bytes (two blocks) per
//     instruction. W's bytes are flipped to u8 = q + 128 (an XOR with 0x80), and the
//     excess 128 · Σ_block x_q is taken off by starting each block's i32 accumulator at
//     -128 · Σ_block x_q (computed once per activation row, not per weight row);
//   - kAvx2, and kAvx512 without VNNI: vpmaddubsw on |x_q| (u8) and sign(x_q) · q (s8),
//     pairs into i16 (at most 2 · 127 · 127, never saturating), vpmaddwd into i32;
//   - kScalar: plain i32 block dot products.
// Every level computes the same exact integer block sums; only the f32 summation of the
// scaled blocks differs (order), so the levels agree to f32 rounding.
// Accuracy: x is rounded to 8 bits, so against GemvQ8Reference on the same Q8Matrix the
// relative error ||y - ref|| / ||ref|| is about 4e-3 for random data (at most 7e-3 over
// the tests' shapes), within the 1e-2 contract. Against the f32 product x · Wᵀ add the
// quantisation error of W (per element at most scale / 2 = max|w of its block| / 254):
// about 6e-3 (at most 1.2e-2), within 2e-2. (A single output that cancels to near zero
// has a larger relative error: the error scales with the sizes of the products summed.)
// Outputs are written without being read (y may hold NaN); m == 0 or rows == 0 does nothing.
// Threads split the rows of W (each y element is summed by one thread, in the same order
// whatever the split: results do not depend on the thread count).
// Thread safety: QuantizeQ8 and the products are pure functions (scratch is thread_local);
// concurrent calls on different outputs are fine, and a Q8Matrix may be shared read-only.
#pragma once

#include <cstdint>
#include <vector>

#include "tide/engine/kernels/cpu_features.h"

namespace tide::engine {

class ThreadPool;

inline constexpr int kQ8Block = 32;

struct Q8Matrix {
  int rows = 0, cols = 0;
  // Row r's block b (b < BlocksPerRow()) is q[(r * BlocksPerRow() + b) * 32 ...] (32
  // values, zero past cols) with scale[r * BlocksPerRow() + b].
  std::vector<int8_t> q;
  std::vector<float> scale;

  int BlocksPerRow() const { return (cols + kQ8Block - 1) / kQ8Block; }
  // Bytes the products stream: the int8 values and the scales.
  int64_t Bytes() const {
    return static_cast<int64_t>(q.size()) + static_cast<int64_t>(scale.size()) * static_cast<int64_t>(sizeof(float));
  }
};

// W is row-major [rows, cols] (row stride cols). Non-finite weights are not supported.
Q8Matrix QuantizeQ8(const float* w, int rows, int cols);

// x is [m, w.cols], y is [m, w.rows] (both row-major, contiguous).
void GemvQ8Reference(const Q8Matrix& w, const float* x, int m, float* y);
void GemvQ8(const Q8Matrix& w, const float* x, int m, float* y);

// The fast path at a given SIMD level (one the machine lacks falls back to the best it
// has) on a given pool (nullptr: ThreadPool::Default()), for tests and benchmarks.
void GemvQ8At(SimdLevel level, ThreadPool* pool, const Q8Matrix& w, const float* x, int m, float* y);

// Whether GemvQ8At(level, ...) runs the AVX-512 VNNI kernel on this machine.
bool GemvQ8UsesVnni(SimdLevel level);

}  // namespace tide::engine
