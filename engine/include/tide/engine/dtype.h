// Element types of stored tensors and conversions between them and f32.
//
// Tide computes in f32; checkpoints and serving weights may be bf16 or f16. Guarantees:
//   - f32 -> bf16 and f32 -> f16 round to nearest, ties to even; values beyond the
//     largest finite half round to +-inf as IEEE prescribes; f16 subnormals are produced
//     and read exactly.
//   - inf keeps its sign; NaN stays NaN with its sign and the top payload bits (a payload
//     that would vanish becomes the quiet bit), so bf16 -> f32 -> bf16 and
//     f16 -> f32 -> f16 are bit-exact for all 65536 patterns.
//   - bf16 -> f32 and f16 -> f32 are exact.
// Data is little-endian (the safetensors layout); the bulk functions on `const void*`
// accept unaligned buffers. All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tide::engine {

enum class Dtype : uint8_t { kF32, kBF16, kF16 };

// Bytes per element: 4, 2, 2.
size_t DtypeSize(Dtype dtype);
// The safetensors spelling: "F32", "BF16", "F16".
std::string_view DtypeName(Dtype dtype);
// The inverse of DtypeName; nullopt for any other name.
std::optional<Dtype> DtypeFromName(std::string_view name);
// The PyTorch / config.json spelling: "float32", "bfloat16", "float16".
std::string_view DtypeTorchName(Dtype dtype);
std::optional<Dtype> DtypeFromTorchName(std::string_view name);

uint16_t F32ToBf16(float value);
float Bf16ToF32(uint16_t bits);
uint16_t F32ToF16(float value);
float F16ToF32(uint16_t bits);

void F32ToBf16(const float* src, uint16_t* dst, size_t n);
void Bf16ToF32(const uint16_t* src, float* dst, size_t n);
void F32ToF16(const float* src, uint16_t* dst, size_t n);
void F16ToF32(const uint16_t* src, float* dst, size_t n);

// n elements of `dtype` at `src` (any alignment) to f32 at `dst`.
void ConvertToF32(Dtype dtype, const void* src, float* dst, size_t n);
// n f32 values to `dtype` at `dst` (any alignment), n * DtypeSize(dtype) bytes.
void ConvertFromF32(const float* src, Dtype dtype, void* dst, size_t n);

}  // namespace tide::engine
