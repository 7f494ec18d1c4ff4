// Exact decoding of every narrow float format, checked exhaustively over all bit patterns against an
// independent formula (sign x mantissa x 2^exponent via ldexp, written from the format definitions), and F16
// also against the CPU's own half-precision conversion.
#include "fromscratch/core/dtype.hpp"

#include <immintrin.h>

#include <bit>
#include <cmath>
#include <cstring>

#include "fromscratch/core/errors.hpp"
#include "test_support.hpp"

using namespace fromscratch;

namespace {

// Generic reference: value of a binary float with `ebits` exponent bits, `mbits` mantissa bits and `bias`,
// IEEE-style (all-ones exponent = inf/nan) unless `ieee_specials` is false.
double reference(uint32_t bits, int ebits, int mbits, int bias, bool ieee_specials) {
  uint32_t sign = (bits >> (ebits + mbits)) & 1;
  uint32_t e = (bits >> mbits) & ((1u << ebits) - 1);
  uint32_t m = bits & ((1u << mbits) - 1);
  double s = sign ? -1.0 : 1.0;
  if (ieee_specials && e == (1u << ebits) - 1) return m == 0 ? s * INFINITY : NAN;
  if (e == 0) return s * std::ldexp(static_cast<double>(m), 1 - bias - mbits);
  return s * std::ldexp(1.0 + static_cast<double>(m) / (1u << mbits), static_cast<int>(e) - bias);
}

void expect_same(double want, float got, uint32_t bits, const char* what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what << " bits 0x" << std::hex << bits;
  } else {
    EXPECT_EQ(static_cast<double>(got), want) << what << " bits 0x" << std::hex << bits;
    EXPECT_EQ(std::signbit(got), std::signbit(want)) << what << " sign of zero, bits 0x" << std::hex << bits;
  }
}

TEST(DType, Bf16AllPatterns) {
  for (uint32_t b = 0; b < 65536; ++b) expect_same(reference(b, 8, 7, 127, true), bf16_to_float(b), b, "BF16");
}

TEST(DType, F16AllPatternsAgainstFormulaAndHardware) {
  const bool have_f16c = __builtin_cpu_supports("f16c");
  for (uint32_t b = 0; b < 65536; ++b) {
    expect_same(reference(b, 5, 10, 15, true), f16_to_float(b), b, "F16");
    if (!have_f16c) continue;
    float hw = _cvtsh_ss(static_cast<unsigned short>(b));  // F16C instruction
    if (!std::isnan(hw)) {
      EXPECT_EQ(std::bit_cast<uint32_t>(hw), std::bit_cast<uint32_t>(f16_to_float(b))) << b;
    }
  }
}

TEST(DType, F8E4M3FnAllPatterns) {
  int nans = 0;
  for (uint32_t b = 0; b < 256; ++b) {
    double want = reference(b, 4, 3, 7, false);
    if ((b & 0x7f) == 0x7f) want = NAN;  // E4M3FN: only S.1111.111 is NaN, no infinities
    expect_same(want, f8_e4m3fn_to_float(static_cast<uint8_t>(b)), b, "F8_E4M3");
    nans += std::isnan(f8_e4m3fn_to_float(static_cast<uint8_t>(b)));
  }
  EXPECT_EQ(nans, 2);
  EXPECT_EQ(f8_e4m3fn_to_float(0x7e), 448.0f);          // max normal
  EXPECT_EQ(f8_e4m3fn_to_float(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
}

TEST(DType, F8E5M2AllPatterns) {
  for (uint32_t b = 0; b < 256; ++b) expect_same(reference(b, 5, 2, 15, true), f8_e5m2_to_float(static_cast<uint8_t>(b)), b, "F8_E5M2");
  EXPECT_TRUE(std::isinf(f8_e5m2_to_float(0x7c)));
  EXPECT_EQ(f8_e5m2_to_float(0x7b), 57344.0f);
  EXPECT_EQ(f8_e5m2_to_float(0x01), std::ldexp(1.0f, -16));
}

TEST(DType, F8E8M0AllPatterns) {
  for (uint32_t b = 0; b < 256; ++b) {
    double want = b == 255 ? NAN : std::ldexp(1.0, static_cast<int>(b) - 127);
    expect_same(want, f8_e8m0_to_float(static_cast<uint8_t>(b)), b, "F8_E8M0");
  }
}

TEST(DType, SubByteFloatsAllPatterns) {
  for (uint32_t b = 0; b < 16; ++b) expect_same(reference(b, 2, 1, 1, false), f4_e2m1_to_float(static_cast<uint8_t>(b)), b, "F4");
  for (uint32_t b = 0; b < 64; ++b) {
    expect_same(reference(b, 2, 3, 1, false), f6_e2m3_to_float(static_cast<uint8_t>(b)), b, "F6_E2M3");
    expect_same(reference(b, 3, 2, 3, false), f6_e3m2_to_float(static_cast<uint8_t>(b)), b, "F6_E3M2");
  }
  EXPECT_EQ(f4_e2m1_to_float(0x7), 6.0f);
  EXPECT_EQ(f6_e2m3_to_float(0x1f), 7.5f);
  EXPECT_EQ(f6_e3m2_to_float(0x1f), 28.0f);
}

TEST(DType, Bf16RoundTripAndRounding) {
  for (uint32_t b = 0; b < 65536; ++b) {
    float f = bf16_to_float(static_cast<uint16_t>(b));
    if (std::isnan(f)) EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(f))));
    else EXPECT_EQ(float_to_bf16(f), b) << b;
  }
  // Ties go to even: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7.
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8)), float_to_bf16(1.0f));
  EXPECT_EQ(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), float_to_bf16(1.0f + std::ldexp(1.0f, -6)));
}

TEST(DType, BulkDecodeMatchesScalarDecoders) {
  uint8_t raw[16];
  for (int i = 0; i < 16; ++i) raw[i] = static_cast<uint8_t>(i * 37 + 5);
  double out[16];
  decode_to_double(DType::F8_E4M3, raw, 16, out);
  for (int i = 0; i < 16; ++i) expect_same(f8_e4m3fn_to_float(raw[i]), static_cast<float>(out[i]), raw[i], "bulk");
  decode_to_double(DType::BF16, raw, 8, out);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], bf16_to_float(static_cast<uint16_t>(raw[2 * i] | (raw[2 * i + 1] << 8))));
  int32_t ints[2] = {-7, 123456789};
  decode_to_double(DType::I32, reinterpret_cast<uint8_t*>(ints), 2, out);
  EXPECT_EQ(out[0], -7.0);
  EXPECT_EQ(out[1], 123456789.0);
  EXPECT_THROW(decode_to_double(DType::F4, raw, 2, out), UsageError);
}

TEST(DType, NamesRoundTrip) {
  for (int i = 0; i < kNumDTypes; ++i) {
    auto t = static_cast<DType>(i);
    auto parsed = parse_dtype(dtype_name(t));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_FALSE(parse_dtype("bf16"));  // names are case-sensitive in the format
  EXPECT_FALSE(parse_dtype(""));
}

}  // namespace
