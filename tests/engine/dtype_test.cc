#include "tide/engine/dtype.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace tide::engine {
namespace {

float Bits(uint32_t b) { return std::bit_cast<float>(b); }
uint32_t BitsOf(float f) { return std::bit_cast<uint32_t>(f); }

// The value of a half, computed independently with ldexp.
double HalfValue(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exponent = (h >> 10) & 0x1F;
  const int mantissa = h & 0x3FF;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 31) return mantissa ? std::nan("") : sign * INFINITY;
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

// Nearest-even choice between the two bf16 values that bracket a finite f32.
uint16_t ReferenceBf16(float f) {
  const uint32_t b = BitsOf(f);
  const uint16_t lo = static_cast<uint16_t>(b >> 16);
  const uint32_t rem = b & 0xFFFF;
  if (rem < 0x8000) return lo;
  if (rem > 0x8000) return lo + 1;
  return (lo & 1) ? lo + 1 : lo;
}

TEST(DtypeTest, Names) {
  for (Dtype d : {Dtype::kF32, Dtype::kBF16, Dtype::kF16}) {
    EXPECT_EQ(DtypeFromName(DtypeName(d)), d);
    EXPECT_EQ(DtypeFromTorchName(DtypeTorchName(d)), d);
  }
  EXPECT_EQ(DtypeSize(Dtype::kF32), 4u);
  EXPECT_EQ(DtypeSize(Dtype::kBF16), 2u);
  EXPECT_EQ(DtypeSize(Dtype::kF16), 2u);
  EXPECT_EQ(DtypeName(Dtype::kBF16), "BF16");
  EXPECT_FALSE(DtypeFromName("I64").has_value());
  EXPECT_FALSE(DtypeFromName("f32").has_value());
  EXPECT_FALSE(DtypeFromTorchName("float64").has_value());
}

TEST(DtypeTest, F16ExhaustiveRoundTripAndValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto half = static_cast<uint16_t>(h);
    const float f = F16ToF32(half);
    ASSERT_EQ(F32ToF16(f), half) << std::hex << h;
    const double want = HalfValue(half);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << h;
      ASSERT_EQ(std::signbit(f), (h >> 15) != 0) << std::hex << h;
    } else {
      ASSERT_EQ(static_cast<double>(f), want) << std::hex << h;
      ASSERT_EQ(std::signbit(f), (h >> 15) != 0) << std::hex << h;  // -0 stays -0
    }
  }
}

TEST(DtypeTest, Bf16ExhaustiveRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto b = static_cast<uint16_t>(h);
    const float f = Bf16ToF32(b);
    ASSERT_EQ(BitsOf(f), h << 16);
    ASSERT_EQ(F32ToBf16(f), b) << std::hex << h;
  }
}

TEST(DtypeTest, Bf16RoundsToNearestEven) {
  EXPECT_EQ(F32ToBf16(1.0f), 0x3F80);
  EXPECT_EQ(F32ToBf16(Bits(0x3F808000)), 0x3F80);  // tie, 0x3F80 is even
  EXPECT_EQ(F32ToBf16(Bits(0x3F818000)), 0x3F82);  // tie, 0x3F81 is odd
  EXPECT_EQ(F32ToBf16(Bits(0x3F808001)), 0x3F81);  // above the tie
  EXPECT_EQ(F32ToBf16(Bits(0x3F807FFF)), 0x3F80);  // below the tie
  EXPECT_EQ(F32ToBf16(Bits(0xBF818000)), 0xBF82);  // sign does not matter
  EXPECT_EQ(F32ToBf16(Bits(0x3F7FFFFF)), 0x3F80);  // carry into the exponent
  EXPECT_EQ(F32ToBf16(std::numeric_limits<float>::max()), 0x7F80);  // rounds to inf
  EXPECT_EQ(F32ToBf16(Bits(0x7F7F7FFF)), 0x7F7F);
  EXPECT_EQ(F32ToBf16(Bits(0x00008000)), 0x0000);  // subnormal tie to even (zero)
  EXPECT_EQ(F32ToBf16(Bits(0x00018000)), 0x0002);
  EXPECT_EQ(F32ToBf16(-0.0f), 0x8000);
  std::mt19937 rng(7);
  for (int i = 0; i < 1'000'000; ++i) {
    const float f = Bits(rng());
    if (std::isnan(f)) continue;
    ASSERT_EQ(F32ToBf16(f), ReferenceBf16(f)) << std::hex << BitsOf(f);
  }
}

TEST(DtypeTest, NanAndInf) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(F32ToBf16(inf), 0x7F80);
  EXPECT_EQ(F32ToBf16(-inf), 0xFF80);
  EXPECT_EQ(F32ToF16(inf), 0x7C00);
  EXPECT_EQ(F32ToF16(-inf), 0xFC00);
  EXPECT_TRUE(std::isinf(Bf16ToF32(0xFF80)) && Bf16ToF32(0xFF80) < 0);
  EXPECT_TRUE(std::isinf(F16ToF32(0x7C00)) && F16ToF32(0x7C00) > 0);
  // NaNs stay NaN with their sign, even when the payload sits only in dropped bits.
  for (uint32_t nan : {0x7FC00000u, 0x7F800001u, 0xFF800001u, 0x7FA00000u, 0xFFFFFFFFu, 0x7F801FFFu}) {
    SCOPED_TRACE(nan);
    const uint16_t b = F32ToBf16(Bits(nan));
    EXPECT_TRUE(std::isnan(Bf16ToF32(b)));
    EXPECT_EQ(b >> 15, nan >> 31);
    const uint16_t h = F32ToF16(Bits(nan));
    EXPECT_TRUE(std::isnan(F16ToF32(h)));
    EXPECT_EQ(h >> 15, nan >> 31);
  }
  EXPECT_EQ(F32ToBf16(Bits(0x7FC00000)), 0x7FC0);
  EXPECT_EQ(F32ToF16(Bits(0x7FC00000)), 0x7E00);
}

TEST(DtypeTest, F16RoundingEdges) {
  EXPECT_EQ(F32ToF16(65504.f), 0x7BFF);                 // largest half
  EXPECT_EQ(F32ToF16(65519.99f), 0x7BFF);               // below the tie
  EXPECT_EQ(F32ToF16(65520.f), 0x7C00);                 // tie rounds to even: inf
  EXPECT_EQ(F32ToF16(1e10f), 0x7C00);
  EXPECT_EQ(F32ToF16(-65520.f), 0xFC00);
  EXPECT_EQ(F32ToF16(std::ldexp(1.f, -14)), 0x0400);    // smallest normal
  EXPECT_EQ(F32ToF16(std::ldexp(1023.f, -24)), 0x03FF); // largest subnormal
  EXPECT_EQ(F32ToF16(std::ldexp(1.f, -24)), 0x0001);    // smallest subnormal
  EXPECT_EQ(F32ToF16(std::ldexp(1.f, -25)), 0x0000);    // tie to even: zero
  EXPECT_EQ(F32ToF16(std::nextafter(std::ldexp(1.f, -25), 1.f)), 0x0001);
  EXPECT_EQ(F32ToF16(std::ldexp(3.f, -25)), 0x0002);    // 1.5 units: tie to even 2
  EXPECT_EQ(F32ToF16(std::ldexp(5.f, -25)), 0x0002);    // 2.5 units: tie to even 2
  EXPECT_EQ(F32ToF16(std::ldexp(2047.f, -25)), 0x0400); // rounds up into the normals
  EXPECT_EQ(F32ToF16(-std::ldexp(1.f, -24)), 0x8001);
  EXPECT_EQ(F32ToF16(1e-30f), 0x0000);
  EXPECT_EQ(F32ToF16(-0.f), 0x8000);
  EXPECT_EQ(F32ToF16(1.f + std::ldexp(1.f, -11)), 0x3C00);                           // tie, even
  EXPECT_EQ(F32ToF16(1.f + std::ldexp(3.f, -11)), 0x3C02);                           // tie, odd
  EXPECT_EQ(F32ToF16(std::nextafter(1.f + std::ldexp(1.f, -11), 2.f)), 0x3C01);
}

// Every f32 against the nearest half chosen in double arithmetic, over a sweep of all
// bit patterns (stride 251) plus every pattern near the subnormal and overflow edges.
TEST(DtypeTest, F16MatchesNearestEvenReference) {
  auto check = [](uint32_t bits) {
    const float f = Bits(bits);
    if (std::isnan(f)) return;
    const uint16_t got = F32ToF16(f);
    const double v = f;
    const double err = std::fabs(HalfValue(got) - v);
    // Neighbours one unit away (on the magnitude) must not be closer, and on a tie the
    // chosen one must be even.
    for (int delta : {-1, 1}) {
      const int mag = (got & 0x7FFF) + delta;
      if (mag < 0 || mag > 0x7C00) continue;
      const uint16_t other = static_cast<uint16_t>((got & 0x8000) | mag);
      const double other_err = std::fabs(HalfValue(other) - v);
      if (std::isinf(HalfValue(got))) {
        ASSERT_GE(std::fabs(v), 65520.0) << std::hex << bits;
        continue;
      }
      ASSERT_LE(err, other_err) << std::hex << bits;
      if (err == other_err) {
        ASSERT_EQ(got & 1, 0) << std::hex << bits;
      }
    }
  };
  for (uint64_t b = 0; b <= 0xFFFFFFFFull; b += 251) check(static_cast<uint32_t>(b));
  for (uint32_t b = 0x32F00000u; b < 0x38900000u; b += 13) check(b);  // subnormal range
  for (uint32_t b = 0x477F0000u; b < 0x47810000u; ++b) check(b);      // around 65504..65536
}

TEST(DtypeTest, BulkConversionsMatchScalar) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.f, 10.f);
  std::vector<float> src(1001);
  for (float& f : src) f = normal(rng);
  src[0] = std::numeric_limits<float>::infinity();
  src[1] = std::nanf("");
  std::vector<uint16_t> bf(src.size()), hf(src.size());
  F32ToBf16(src.data(), bf.data(), src.size());
  F32ToF16(src.data(), hf.data(), src.size());
  std::vector<float> back_bf(src.size()), back_hf(src.size());
  Bf16ToF32(bf.data(), back_bf.data(), bf.size());
  F16ToF32(hf.data(), back_hf.data(), hf.size());
  for (size_t i = 0; i < src.size(); ++i) {
    ASSERT_EQ(bf[i], F32ToBf16(src[i]));
    ASSERT_EQ(hf[i], F32ToF16(src[i]));
    ASSERT_EQ(BitsOf(back_bf[i]), BitsOf(Bf16ToF32(bf[i])));
    ASSERT_EQ(BitsOf(back_hf[i]), BitsOf(F16ToF32(hf[i])));
  }
  // The byte-level converters work on unaligned buffers.
  for (Dtype d : {Dtype::kF32, Dtype::kBF16, Dtype::kF16}) {
    std::vector<unsigned char> raw(src.size() * DtypeSize(d) + 1);
    ConvertFromF32(src.data(), d, raw.data() + 1, src.size());
    std::vector<float> out(src.size());
    ConvertToF32(d, raw.data() + 1, out.data(), out.size());
    for (size_t i = 0; i < src.size(); ++i) {
      const float want = d == Dtype::kF32 ? src[i] : d == Dtype::kBF16 ? back_bf[i] : back_hf[i];
      ASSERT_EQ(BitsOf(out[i]), BitsOf(want)) << static_cast<int>(d) << " " << i;
    }
  }
}

}  // namespace
}  // namespace tide::engine
