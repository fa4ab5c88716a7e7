#include "tide/engine/dtype.h"

#include <bit>
#include <cstring>

namespace tide::engine {

static_assert(std::endian::native == std::endian::little,
              "stored tensors are little-endian; a big-endian host needs byte swaps");

size_t DtypeSize(Dtype dtype) {
  switch (dtype) {
    case Dtype::kF32:
      return 4;
    case Dtype::kBF16:
    case Dtype::kF16:
      return 2;
  }
  return 0;
}

std::string_view DtypeName(Dtype dtype) {
  switch (dtype) {
    case Dtype::kF32:
      return "F32";
    case Dtype::kBF16:
      return "BF16";
    case Dtype::kF16:
      return "F16";
  }
  return "?";
}

std::optional<Dtype> DtypeFromName(std::string_view name) {
  if (name == "F32") return Dtype::kF32;
  if (name == "BF16") return Dtype::kBF16;
  if (name == "F16") return Dtype::kF16;
  return std::nullopt;
}

std::string_view DtypeTorchName(Dtype dtype) {
  switch (dtype) {
    case Dtype::kF32:
      return "float32";
    case Dtype::kBF16:
      return "bfloat16";
    case Dtype::kF16:
      return "float16";
  }
  return "?";
}

std::optional<Dtype> DtypeFromTorchName(std::string_view name) {
  if (name == "float32") return Dtype::kF32;
  if (name == "bfloat16") return Dtype::kBF16;
  if (name == "float16") return Dtype::kF16;
  return std::nullopt;
}

uint16_t F32ToBf16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {  // NaN: keep sign and top payload, stay NaN
    uint16_t h = static_cast<uint16_t>(bits >> 16);
    if ((h & 0x7F) == 0) h |= 0x40;
    return h;
  }
  // Round to nearest even: add 0x7FFF plus the lowest kept bit, then truncate. A carry
  // out of the mantissa bumps the exponent, which is the right result (up to inf).
  const uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float Bf16ToF32(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

uint16_t F32ToF16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t x = bits & 0x7FFFFFFFu;
  if (x >= 0x7F800000u) {  // inf or NaN
    if (x == 0x7F800000u) return sign | 0x7C00u;
    uint16_t payload = static_cast<uint16_t>((x >> 13) & 0x3FFu);
    if (payload == 0) payload = 0x200;  // keep it a NaN
    return sign | 0x7C00u | payload;
  }
  // 65520 (halfway between 65504, the largest half, and 65536) and above round to inf.
  if (x >= 0x477FF000u) return sign | 0x7C00u;
  if (x >= 0x38800000u) {  // normal half: rebias the exponent (127 - 15), round 13 bits
    uint32_t h = (x - 0x38000000u) >> 13;
    const uint32_t rem = x & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  // Subnormal half (units of 2^-24). At or below 2^-25 the value rounds to zero (2^-25
  // itself is a tie, and zero is even).
  if (x <= 0x33000000u) return sign;
  const uint32_t exponent = x >> 23;                  // 102..112
  const uint32_t mantissa = (x & 0x7FFFFFu) | 0x800000u;
  const uint32_t shift = 126 - exponent;              // 14..24
  uint32_t h = mantissa >> shift;
  const uint32_t rem = mantissa & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (h & 1u))) ++h;  // may carry into the smallest normal
  return static_cast<uint16_t>(sign | h);
}

float F16ToF32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  const uint32_t mantissa = bits & 0x3FFu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24 is exact in f32.
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(magnitude));
  }
  if (exponent == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

void F32ToBf16(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = F32ToBf16(src[i]);
}

void Bf16ToF32(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = Bf16ToF32(src[i]);
}

void F32ToF16(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = F32ToF16(src[i]);
}

void F16ToF32(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = F16ToF32(src[i]);
}

void ConvertToF32(Dtype dtype, const void* src, float* dst, size_t n) {
  if (n == 0) return;
  const auto* bytes = static_cast<const unsigned char*>(src);
  switch (dtype) {
    case Dtype::kF32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case Dtype::kBF16:
    case Dtype::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, 2);
        dst[i] = dtype == Dtype::kBF16 ? Bf16ToF32(h) : F16ToF32(h);
      }
      return;
  }
}

void ConvertFromF32(const float* src, Dtype dtype, void* dst, size_t n) {
  if (n == 0) return;
  auto* bytes = static_cast<unsigned char*>(dst);
  switch (dtype) {
    case Dtype::kF32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case Dtype::kBF16:
    case Dtype::kF16:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t h = dtype == Dtype::kBF16 ? F32ToBf16(src[i]) : F32ToF16(src[i]);
        std::memcpy(bytes + 2 * i, &h, 2);
      }
      return;
  }
}

}  // namespace tide::engine
